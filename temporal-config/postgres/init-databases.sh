#!/bin/sh
# PostgreSQL first-start script (mounted into /docker-entrypoint-initdb.d; runs once, on an empty data volume).
# Creates one role and database per tenant of the server, each owning only its own data:
#   orderflow                          OrderFlow's tables (knex migrations)
#   temporal, temporal_visibility      Temporal's persistence and visibility (schema by temporal-config/scripts/setup-schema.sh)
# The temporal role may create databases so setup-schema.sh's idempotent `create` also works on a server without this
# script (e.g. a managed PostgreSQL where an admin created the role).
set -eu

: "${ORDERFLOW_DB_PASSWORD:?ORDERFLOW_DB_PASSWORD is required}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v orderflow_password="$ORDERFLOW_DB_PASSWORD" -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE orderflow LOGIN PASSWORD :'orderflow_password';
CREATE DATABASE orderflow OWNER orderflow;
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
