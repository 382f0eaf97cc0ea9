#!/bin/sh
# Entry point of the OrderFlow image: one image, the command picks the process.
#   api | worker | realtime      the long-running services (dist/*/main.js)
#   codec-server                 payload decryption for operators (Temporal UI / CLI)
#   migrate [up|down|status]     knex migrations on DATABASE_URL (one-shot)
#   setup                        Temporal namespace + search attributes (temporal-config/setup.ts; one-shot)
#   seed                         demo catalog (one-shot, idempotent)
# Every process reads its configuration from the environment (lib/config.ts). `exec` replaces this shell with node, so
# the SIGTERM of `docker stop` reaches node and the graceful drains run. Works in a checkout too, after `npm run build`.
set -eu
cd "$(dirname "$0")/.."

command=${1:-}
[ "$#" -gt 0 ] && shift

case "$command" in
  api) exec node dist/api/main.js "$@" ;;
  worker) exec node dist/worker/main.js "$@" ;;
  realtime) exec node dist/realtime/main.js "$@" ;;
  codec-server) exec node dist/codec-server/main.js "$@" ;;
  migrate) exec node dist/scripts/migrate.js "$@" ;;
  setup) exec node dist/temporal-config/setup.js "$@" ;;
  seed) exec node dist/scripts/seed.js "$@" ;;
  *)
    echo "usage: <image> api | worker | realtime | codec-server | migrate [up|down|status] | setup | seed" >&2
    exit 64
    ;;
esac
