#!/usr/bin/env node
// `npm test`: checks Node, installs dependencies when stale, provisions the test tools (scripts/test-tools.ts), then
// runs jest with the given arguments and exits with its code. `--help` is answered first; the rest is jest's.
'use strict';

const path = require('node:path');
const { answerHelp, checkNode, ensureDependencies, run } = require('./bootstrap.cjs');

const HELP = `usage: npm test [-- <jest args>]

Runs the whole suite against real PostgreSQL, Redis and Temporal: installs dependencies when they
are missing or stale (npm ci), provisions the test tools (the Temporal CLI, a headless Chromium, the
Compose loader), then runs jest with the given arguments and exits with jest's code.

arguments:
  <jest args>  passed to jest, e.g. test paths or -t NAME (jest's own options: npx jest --help)
  -h, --help   print this help and exit

environment:
  TEST_DATABASE_URL      use this database (unset: a fresh one on 127.0.0.1:5432 or an embedded
                         server)
  TEST_REDIS_URL         use this Redis instead of 127.0.0.1:6379 db 15 or a redis-server of its own
  TEST_TEMPORAL_ADDRESS  use this Temporal instead of a dev server (npm run test:cluster sets it)
  TEMPORAL_CLI_PATH      the Temporal CLI (unset: temporal on PATH, else the cached build, else
                         built with Go)
  CHROMIUM_PATH          the Chromium of the browser test (unset: one unpacked into the cache)
  ORDERFLOW_CACHE_DIR    where tool builds are cached, shared by every clone (default
                         ~/.cache/orderflow)

example:
  npm test -- test/unit

more: README.md, Tests
`;

async function main() {
  checkNode();
  answerHelp(process.argv.slice(2), HELP);
  ensureDependencies();
  const provisioned = await run(path.join('scripts', 'test-tools.ts'), []);
  if (provisioned !== 0) return provisioned;
  return run(path.join('node_modules', 'jest', 'bin', 'jest.js'), process.argv.slice(2));
}

main().then((code) => process.exit(code));
