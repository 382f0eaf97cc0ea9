/**
 * No-op activities with the saga's names and types: each returns at once what the real one would return on the happy
 * path, touching no database, Redis or gateway. Registered by the floor worker for `floorWorkflow`.
 */
import type { Activities } from '../../activities';
import type { ExportActivities } from '../../activities/exports';

/** The saga's activities (the floor workflow runs no exports). */
export type FloorActivities = Omit<Activities, keyof ExportActivities>;

/** Price of every line in the floor (no catalog is read). */
const FLOOR_PRICE_CENTS = 1000;

/** Builds the no-op activities. */
export function createFloorActivities(): FloorActivities {
  const now = (): string => new Date().toISOString();
  return {
    recordOrder: () => Promise.resolve({ seq: 1, at: now() }),
    reserveStock: ({ lines }) => {
      const priced = lines.map((line, index) => ({ ...line, productId: index + 1, unitPriceCents: FLOOR_PRICE_CENTS }));
      const totalCents = priced.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0);
      return Promise.resolve({ status: 'RESERVED', totalCents, lines: priced });
    },
    releaseStock: () => Promise.resolve({ released: 0 }),
    commitStock: () => Promise.resolve({ committed: 1 }),
    chargePayment: ({ amountCents }) => Promise.resolve({ status: 'approved', amountCents, attempts: 1 }),
    refundPayment: () => Promise.resolve({ refunded: false }),
    recordStatus: ({ seq }) => Promise.resolve({ seq, at: now() }),
  };
}
