#!/usr/bin/env node
// `npm start`: checks Node, installs dependencies when stale, then runs the dev stack launcher (scripts/dev-stack.ts).
// Its help is answered here first, in CommonJS: lib/cli.ts needs the dependencies this may still have to install.
'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');
const { answerHelp, checkNode, ensureDependencies, fail, run } = require('./bootstrap.cjs');

const USAGE = 'usage: npm start (no arguments: settings come from the environment)';
const HELP = `${USAGE}

Brings the whole system up on embedded defaults: installs dependencies when they are missing or
stale (npm ci), provisions Temporal (a dev server from the Temporal CLI, built once with Go),
PostgreSQL and Redis unless TEMPORAL_ADDRESS, DATABASE_URL or REDIS_URL name them, migrates and
seeds, starts the worker, API, relay and codec server, then prints the URLs and a dev token. Ctrl-C
stops everything it started.

arguments:
  -h, --help  print this help and exit

environment:
  PORT                 API port (default 3000); REALTIME_PORT (3001), METRICS_PORT (9464) and
                       CODEC_PORT (8888) move the relay, the worker metrics and the codec server
  DATABASE_URL         use this PostgreSQL instead of the embedded one (port EMBEDDED_PG_PORT,
                       default 5433)
  REDIS_URL            use this Redis (unset: 127.0.0.1:6379 if it answers, else a redis-server on
                       :6380)
  TEMPORAL_ADDRESS     use this Temporal instead of a dev server (ports TEMPORAL_DEV_PORT, default
                       7233, and TEMPORAL_UI_PORT, default 8233)
  DATA_DIR             where local state is kept (default .data)
  TEMPORAL_CLI_PATH    the Temporal CLI (unset: temporal on PATH, else the cached build, else built
                       with Go)
  ORDERFLOW_CACHE_DIR  where tool builds are cached, shared by every clone (default
                       ~/.cache/orderflow)

example:
  PORT=3100 REALTIME_PORT=3101 npm start

more: every variable with its default and meaning: README.md, Configuration
`;

/** Answers `--help` / `-h` (exit 0) and refuses any other argument (exit 2), as lib/cli.ts does. */
function checkArguments(argv) {
  answerHelp(argv, HELP);
  try {
    parseArgs({ args: argv, options: {}, strict: true });
  } catch (error) {
    const sentence = error.message
      .split('\n')[0]
      .replace(/\. (To specify a positional argument|This command does not take) .*$/, '')
      .replace(/\.$/, '');
    fail(`${sentence.charAt(0).toLowerCase()}${sentence.slice(1)}; ${USAGE}; try --help`, 2);
  }
}

checkNode();
checkArguments(process.argv.slice(2));
ensureDependencies();
run(path.join('scripts', 'dev-stack.ts'), process.argv.slice(2)).then((code) => process.exit(code));
