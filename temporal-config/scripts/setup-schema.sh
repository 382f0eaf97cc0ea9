#!/bin/sh
# Creates Temporal's two databases if missing and brings their schemas to the version of this temporal-sql-tool.
# Idempotent: safe on every `docker compose up` and after a server upgrade (only pending versioned scripts run).
# Used by docker-compose.yml (temporalio/admin-tools) and by `npm run test:cluster` (a locally built tool).
set -eu

: "${TEMPORAL_SQL_TOOL:=temporal-sql-tool}"
: "${TEMPORAL_SCHEMA_DIR:=/etc/temporal/schema}"
: "${POSTGRES_SEEDS:=127.0.0.1}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:=temporal}"
: "${POSTGRES_PWD:=}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"

sql_tool() {
  # The password goes through the environment (SQL_PASSWORD), never the command line.
  SQL_PASSWORD="$POSTGRES_PWD" "$TEMPORAL_SQL_TOOL" --plugin postgres12 --endpoint "$POSTGRES_SEEDS" --port "$DB_PORT" \
    --user "$POSTGRES_USER" "$@"
}

for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
  db=${pair%%:*}
  kind=${pair#*:}
  versioned="$TEMPORAL_SCHEMA_DIR/postgresql/v12/$kind/versioned"
  [ -d "$versioned" ] || { echo "setup-schema: no schema directory $versioned" >&2; exit 1; }
  echo "setup-schema: $db ($kind)"
  sql_tool --db "$db" create
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$versioned"
done
echo "setup-schema: done"
