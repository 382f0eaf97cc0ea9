#!/bin/sh
# Entry point of the OrderFlow image: the command picks the process (migrate, setup and seed are one-shot). `exec`
# replaces this shell with node, so the SIGTERM of `docker stop` reaches it and the graceful drains run.
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
