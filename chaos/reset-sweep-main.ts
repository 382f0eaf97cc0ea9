/**
 * `npm run reset-sweep [-- --path NAME ...] [--mode with-signals|without-signals]`: the whole reset sweep of issue 15
 * (chaos/reset-sweep.ts), every path × every completed workflow task × both reapply modes unless narrowed. It brings
 * up the same throwaway services as `npm test` (test/support/global-setup.ts: a fresh database, Redis, a Temporal dev
 * server) and the same in-process worker as the saga suites, prints one line per reset run and a summary, and stops
 * everything it started. Exit code: 0 no violation, 1 violations, 2 the sweep itself could not be carried out.
 */
import { parseArgs } from 'node:util';
import type { Activities } from '../activities';
import globalSetup from '../test/support/global-setup';
import globalTeardown from '../test/support/global-teardown';
import { createSagaHarness, installQuietRuntime, type SagaHarness } from '../test/support/saga-helpers';
import {
  formatStep,
  formatSummary,
  REAPPLY_MODES,
  runResetSweep,
  sweepPath,
  SWEEP_PATHS,
  type ReapplyMode,
  type SweepPath,
} from './reset-sweep';
import { UsageError } from './options';

const USAGE = `usage: npm run reset-sweep [-- --path NAME ...] [--mode with-signals|without-signals]
paths: ${SWEEP_PATHS.map((p) => p.name).join(', ')}`;

function isMode(value: string): value is ReapplyMode {
  return (REAPPLY_MODES as readonly string[]).includes(value);
}

/** What the command line asks for; undefined for `--help`. Throws `UsageError` (printed without a stack, exit 2). */
function parseCommandLine(argv: string[]): { paths: readonly SweepPath[]; modes: readonly ReapplyMode[] } | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { path: { type: 'string', multiple: true }, mode: { type: 'string' }, help: { type: 'boolean' } },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return undefined;
  const known = new Set(SWEEP_PATHS.map((p) => p.name));
  const unknown = (values.path ?? []).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new UsageError(`--path: unknown path ${unknown.join(', ')}`);
  if (values.mode !== undefined && !isMode(values.mode)) throw new UsageError(`--mode: unknown mode ${values.mode}`);
  return {
    paths: values.path?.map(sweepPath) ?? SWEEP_PATHS,
    modes: values.mode !== undefined && isMode(values.mode) ? [values.mode] : REAPPLY_MODES,
  };
}

async function main(): Promise<number> {
  const asked = parseCommandLine(process.argv.slice(2));
  if (asked === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { paths, modes } = asked;

  const started = Date.now();
  // The runtime first: the dev server's test environment would otherwise install a default (chatty) one.
  installQuietRuntime();
  await globalSetup();
  let h: SagaHarness | undefined;
  try {
    // Three attempts: tok_flaky completes (two transient errors first), NEEDS_ATTENTION is reached quickly.
    h = await createSagaHarness({ env: { PAYMENT_RETRY_MAX_ATTEMPTS: '3', PAYMENT_SLOW_MS: '1000' } });
    const harness = h;
    const world = {
      ...harness,
      hold: (orderId: string, activity: string) => harness.hold(orderId, activity as keyof Activities),
    };
    process.stdout.write(`reset sweep: ${paths.length} path(s), modes ${modes.join(', ')}\n`);
    const steps = await runResetSweep(world, {
      paths,
      modes,
      onStep: (step, done) => process.stdout.write(`[${String(done).padStart(4)}] ${formatStep(step)}\n`),
    });
    process.stdout.write(`${formatSummary(steps)}\n  took ${Math.round((Date.now() - started) / 1000)}s\n`);
    return steps.some((s) => s.problems.length > 0) ? 1 : 0;
  } finally {
    await h?.close();
    await globalTeardown();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) process.stderr.write(`reset-sweep: ${error.message}\n${USAGE}\n`);
    else
      process.stderr.write(`reset-sweep: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
