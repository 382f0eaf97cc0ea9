/** Builds the workflow bundle ahead of time (`npm run build`, the Docker image) for the worker's WORKFLOW_BUNDLE_PATH. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseCommandLine, usageError, type Command } from '../lib/cli';
import { bundleOrderWorkflows } from '../worker/create-worker';
import { runMain } from './command';

/** Where the bundle goes when no path is given. */
export const DEFAULT_BUNDLE_PATH = path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js');

const BUILD_WORKFLOW_BUNDLE: Command = {
  name: 'build-workflow-bundle',
  usage: 'usage: node --import tsx scripts/build-workflow-bundle.ts [output path]',
  summary:
    'Builds the workflow bundle ahead of time (npm run build and the Docker image run it): the worker loads the file named by WORKFLOW_BUNDLE_PATH instead of bundling the workflows on every start.',
  arguments: [['<output path>', 'where to write the bundle (default dist/workflow-bundle.js)']],
  environment: [['WORKFLOW_BUNDLE_PATH', 'read by the worker, not here: point it at the file this writes']],
  example: 'node --import tsx scripts/build-workflow-bundle.ts /tmp/workflow-bundle.js',
};

/** Bundles the order workflows and writes the bundle to `output`, printing its path, size and build time. */
export async function writeWorkflowBundle(output: string): Promise<void> {
  const started = Date.now();
  const bundle = await bundleOrderWorkflows();
  mkdirSync(path.dirname(output), { recursive: true });
  writeFileSync(output, bundle.code);
  const kib = Math.round(Buffer.byteLength(bundle.code) / 1024);
  process.stdout.write(`workflow bundle: ${output} (${kib} KiB, ${Date.now() - started}ms)\n`);
}

if (require.main === module) {
  runMain('build-workflow-bundle', async () => {
    const { positionals } = parseCommandLine(BUILD_WORKFLOW_BUNDLE, { allowPositionals: true });
    const [target, extra] = positionals;
    if (extra !== undefined) usageError(BUILD_WORKFLOW_BUNDLE, `unexpected argument '${extra}'`);
    await writeWorkflowBundle(path.resolve(target ?? DEFAULT_BUNDLE_PATH));
  });
}
