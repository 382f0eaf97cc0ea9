/** `npm run build`: what the Docker image runs. The command line is read first, so `--help` leaves dist/ as it was. */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parseCommandLine, type Command } from '../lib/cli';
import { DEFAULT_BUNDLE_PATH, writeWorkflowBundle } from './build-workflow-bundle';
import { runMain } from './command';

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');

const BUILD: Command = {
  name: 'build',
  usage: 'usage: npm run build',
  example: 'npm run build && WORKFLOW_BUNDLE_PATH=dist/workflow-bundle.js node dist/worker/main.js',
  environment: [['WORKFLOW_BUNDLE_PATH', 'read by the worker, not here: point it at dist/workflow-bundle.js']],
  summary:
    'Builds the production files into dist/ (what the Docker image runs): removes dist/, compiles TypeScript (tsconfig.build.json), copies realtime/public and writes the workflow bundle dist/workflow-bundle.js, which the worker loads when WORKFLOW_BUNDLE_PATH names it.',
};

/** Runs one step, printing its name first so a failure says which step it was (tsc prints its own diagnostics). */
async function step(name: string, run: () => unknown): Promise<void> {
  process.stdout.write(`build: ${name}\n`);
  await run();
}

runMain('build', async () => {
  parseCommandLine(BUILD, {});
  await step('removing dist/', () => rmSync(DIST, { recursive: true, force: true }));
  await step('compiling TypeScript (tsconfig.build.json)', () =>
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'inherit',
    }),
  );
  await step('copying realtime/public', () =>
    cpSync(path.join(ROOT, 'realtime', 'public'), path.join(DIST, 'realtime', 'public'), { recursive: true }),
  );
  await step('bundling the workflows', () => writeWorkflowBundle(DEFAULT_BUNDLE_PATH));
});
