/**
 * `npm run reset-sweep`: the whole reset sweep (chaos/reset-sweep.ts) on the throwaway services and in-process worker
 * of the saga suites. Exit code: 0 no violation, 1 violations, 2 the sweep itself could not be carried out.
 */
import { parseCommandLine, runMain, usageError, type Command } from '../lib/cli';
import globalSetup from '../test/support/global-setup';
import globalTeardown from '../test/support/global-teardown';
import { createSagaHarness, installQuietRuntime, sweepWorld, type SagaHarness } from '../test/support/saga-helpers';
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

const RESET_SWEEP: Command = {
  name: 'reset-sweep',
  usage: 'usage: npm run reset-sweep [-- --path NAME ...] [--mode with-signals|without-signals]',
  summary:
    'The whole reset sweep: every order path reset to every completed workflow task, in both reapply modes unless narrowed, with the books checked after every reset run. It brings up the same throwaway services as npm test (a fresh database, Redis, a Temporal dev server) and the same in-process worker as the saga suites, prints one line per reset run and a summary, and stops everything it started. Exit code: 0 no violation, 1 violations, 2 the sweep itself could not be carried out.',
  arguments: [
    ['--path NAME', `only this path (repeatable): ${SWEEP_PATHS.map((p) => p.name).join(', ')}`],
    ['--mode MODE', `only this reapply mode: ${REAPPLY_MODES.join(' or ')}`],
  ],
  environment: [
    ['TEST_DATABASE_URL', 'use this database instead of a fresh one on the local or an embedded PostgreSQL'],
    ['TEST_REDIS_URL', 'use this Redis instead of 127.0.0.1:6379 db 15 or a redis-server of its own'],
    ['TEMPORAL_CLI_PATH', 'the Temporal CLI of the dev server (unset: found or built as npm start does)'],
  ],
  example: 'npm run reset-sweep -- --path tok_ok --path cancel_in_RESERVED --mode with-signals',
  more: 'docs/saga.md',
};

/** What the command line asks for; `--help` and a wrong command line end the process (lib/cli.ts). */
function parseSweepCommandLine(): { paths: readonly SweepPath[]; modes: readonly ReapplyMode[] } {
  const { values } = parseCommandLine(RESET_SWEEP, {
    options: { path: { type: 'string', multiple: true }, mode: { type: 'string' } },
  });
  const known = new Set(SWEEP_PATHS.map((p) => p.name));
  const unknown = (values.path ?? []).filter((name) => !known.has(name));
  if (unknown.length > 0) usageError(RESET_SWEEP, `--path: unknown path ${unknown.join(', ')}`);
  const mode = REAPPLY_MODES.find((m) => m === values.mode);
  if (values.mode !== undefined && mode === undefined) usageError(RESET_SWEEP, `--mode: unknown mode ${values.mode}`);
  return { paths: values.path?.map(sweepPath) ?? SWEEP_PATHS, modes: mode === undefined ? REAPPLY_MODES : [mode] };
}

async function main(): Promise<number> {
  const { paths, modes } = parseSweepCommandLine();

  const started = Date.now();
  // The runtime first: the dev server's test environment would otherwise install a default (chatty) one.
  installQuietRuntime();
  await globalSetup();
  let h: SagaHarness | undefined;
  try {
    // Three attempts: tok_flaky completes (two transient errors first), NEEDS_ATTENTION is reached quickly.
    h = await createSagaHarness({ env: { PAYMENT_RETRY_MAX_ATTEMPTS: '3', PAYMENT_SLOW_MS: '1000' } });
    process.stdout.write(`reset sweep: ${paths.length} path(s), modes ${modes.join(', ')}\n`);
    const steps = await runResetSweep(sweepWorld(h), {
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

runMain('reset-sweep', main, { exitCode: 2, stack: true });
