/**
 * A bounded reset sweep (issue 15; the whole sweep is `npm run reset-sweep`): orders that ended COMPLETED, FAILED and
 * CANCELLED (cancelled in PENDING, RESERVED, CHARGING and NEEDS_ATTENTION) are reset to every completed workflow task,
 * with and without their signals re-applied, and after every reset run the books must agree (chaos/reset-sweep.ts
 * says what is checked).
 */
import { formatStep, runResetSweep, sweepPath } from '../../chaos/reset-sweep';
import { createSagaHarness, sweepWorld, type SagaHarness } from '../support/saga-helpers';

/** Paths of the bounded sweep: one per kind of end, and a cancel in every status a cancel can meet. */
const SUBSET = [
  'tok_ok',
  'tok_decline',
  'cancel_in_PENDING',
  'cancel_in_RESERVED',
  'cancel_in_CHARGING',
  'cancel_in_NEEDS_ATTENTION',
] as const;

let h: SagaHarness;

beforeAll(async () => {
  h = await createSagaHarness({ env: { PAYMENT_RETRY_MAX_ATTEMPTS: '3', PAYMENT_SLOW_MS: '700' } });
});

afterAll(async () => {
  await h.close();
});

describe('reset sweep', () => {
  test.each(SUBSET)(
    'when a %s order is reset to every completed workflow task, with and without signals, then the books agree after every run',
    async (name) => {
      const steps = await runResetSweep(sweepWorld(h), { paths: [sweepPath(name)] });

      expect(steps.length).toBeGreaterThan(2); // the base run and at least one reset per mode
      expect(steps.filter((step) => step.problems.length > 0).map(formatStep)).toEqual([]);
    },
    120_000,
  );
});
