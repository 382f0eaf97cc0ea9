// What `npm start` and `npm test` run first, in plain CommonJS so it works on a fresh clone before `npm ci`.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** Prints `orderflow: <message>` on stderr and exits with `code`. */
function fail(message, code = 1) {
  process.stderr.write(`orderflow: ${message}\n`);
  process.exit(code);
}

/** Prints `help` and exits 0 on `--help` / `-h` before any `--` (lib/cli.ts's rule; it needs the dependencies). */
function answerHelp(argv, help) {
  const end = argv.indexOf('--');
  if ((end === -1 ? argv : argv.slice(0, end)).some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(help);
    process.exit(0);
  }
}

/** Stops with one line when Node is older than 20.19. */
function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    fail(`Node ${process.versions.node} is too old; install Node 20.19 or newer.`);
  }
}

/** Hash of the package-lock.json node_modules was installed from. */
const INSTALLED_LOCK = path.join(root, 'node_modules', '.orderflow-lock-sha256');

/** SHA-256 of package-lock.json's content, not its mtime: a checkout or a new worktree touches every file. */
function lockHash() {
  const lock = fs.readFileSync(path.join(root, 'package-lock.json'));
  return require('node:crypto').createHash('sha256').update(lock).digest('hex');
}

/** True when node_modules is missing or was installed from another package-lock.json. */
function dependenciesStale() {
  if (!fs.existsSync(path.join(root, 'node_modules', '.package-lock.json'))) return true;
  try {
    return fs.readFileSync(INSTALLED_LOCK, 'utf8').trim() !== lockHash();
  } catch {
    return true;
  }
}

/** Runs `npm ci` when the dependencies are stale. */
function ensureDependencies() {
  if (!dependenciesStale()) return;
  process.stderr.write('orderflow: installing dependencies (npm ci, about a minute)...\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.error) fail(`could not run npm (${result.error.message}): install Node.js with npm.`);
  if (result.status !== 0) fail('npm ci failed (see the output above): check the network to the npm registry.');
  fs.writeFileSync(INSTALLED_LOCK, `${lockHash()}\n`);
}

/**
 * Runs a .ts entry (through tsx) or a .js file with this Node on the terminal; resolves with its exit code. Ctrl-C
 * already reaches the child (same process group); a SIGTERM sent to this process alone is passed on.
 */
function run(entry, args) {
  const nodeArgs = entry.endsWith('.ts') ? ['--import', 'tsx', entry, ...args] : [entry, ...args];
  const child = spawn(process.execPath, nodeArgs, { cwd: root, stdio: 'inherit' });
  const onInt = () => undefined;
  const onTerm = () => child.kill('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((resolve) => {
    child.on('error', (error) => fail(`could not start ${entry}: ${error.message}`));
    child.on('exit', (code, signal) => {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

module.exports = { root, fail, answerHelp, checkNode, ensureDependencies, run };
