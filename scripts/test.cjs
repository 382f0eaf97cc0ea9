#!/usr/bin/env node
// `npm test`: the second README command. Checks Node, installs dependencies when they are missing or stale
// (scripts/bootstrap.cjs), provisions the tools the suites need with progress lines (scripts/test-tools.ts: the
// Temporal CLI, a headless Chromium, the Compose loader; one line saying what to do when it cannot), then runs jest
// with the given arguments (`npm test -- test/unit` runs a subset). Exits with jest's code.
'use strict';

const path = require('node:path');
const { checkNode, ensureDependencies, run } = require('./bootstrap.cjs');

async function main() {
  checkNode();
  ensureDependencies();
  const provisioned = await run(path.join('scripts', 'test-tools.ts'), []);
  if (provisioned !== 0) return provisioned;
  return run(path.join('node_modules', 'jest', 'bin', 'jest.js'), process.argv.slice(2));
}

main().then((code) => process.exit(code));
