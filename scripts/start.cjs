#!/usr/bin/env node
// `npm start`: the first README command. Plain CommonJS so it runs on a fresh clone before any dependency is
// installed: it checks Node, installs dependencies when they are missing or stale, then hands over to the TypeScript
// dev stack launcher (scripts/dev-stack.ts), which provisions and starts everything else.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`orderflow: Node ${process.versions.node} is too old; install Node 20.19 or newer.\n`);
  process.exit(1);
}

function dependenciesStale() {
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  if (!fs.existsSync(installed)) return true;
  return fs.statSync(path.join(root, 'package-lock.json')).mtimeMs > fs.statSync(installed).mtimeMs;
}

if (dependenciesStale()) {
  process.stderr.write('orderflow: installing dependencies (npm ci)...\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write('orderflow: npm ci failed; see the output above.\n');
    process.exit(result.status ?? 1);
  }
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', path.join('scripts', 'dev-stack.ts'), ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
// Ctrl-C reaches the whole foreground process group, so the launcher already has it; we only wait. A SIGTERM sent to
// this process alone is passed on.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
