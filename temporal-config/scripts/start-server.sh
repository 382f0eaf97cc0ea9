#!/bin/sh
# Starts temporal-server with OrderFlow's config (temporal-config/config/orderflow.yaml) and dynamic config.
# Used by docker-compose.yml (inside temporalio/server, replacing its entrypoint) and by `npm run test:cluster`
# (a locally built binary), so both run the same configuration. Settings come from the environment; see the config.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
: "${TEMPORAL_SERVER_BIN:=temporal-server}"
: "${BIND_ON_IP:=127.0.0.1}"
: "${DYNAMIC_CONFIG_FILE_PATH:=$here/dynamicconfig/orderflow.yaml}"
export BIND_ON_IP DYNAMIC_CONFIG_FILE_PATH

# Membership gossip needs a concrete address to advertise when the services listen on every interface.
if [ "$BIND_ON_IP" = "0.0.0.0" ] && [ -z "${TEMPORAL_BROADCAST_ADDRESS:-}" ]; then
  TEMPORAL_BROADCAST_ADDRESS=$(getent hosts "$(hostname)" | awk '{ print $1; exit }')
  export TEMPORAL_BROADCAST_ADDRESS
fi

# --allow-no-auth: the frontend has no authorizer; it must only be reachable by our services (see docs/production.md).
exec "$TEMPORAL_SERVER_BIN" --root "$here" --config config --env orderflow --allow-no-auth start
