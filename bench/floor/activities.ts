/**
 * No-op activities with the saga's names and types, each returning at once what the real one would on the happy path.
 * `floorWorkflow` calls `placeOrder` and `chargeOrder`; the rest complete the `Activities` type.
 */
import type { Activities } from '../../activities';
import type { OrderStatus, StatusEvent } from '../../workflows/definitions';
import type { ExportActivities } from '../../activities/exports';

/** The saga's activities (the floor workflow runs no exports). */
export type FloorActivities = Omit<Activities, keyof ExportActivities>;

/** No catalog is read. */
const FLOOR_PRICE_CENTS = 1000;

/** Builds the no-op activities. */
export function createFloorActivities(): FloorActivities {
  let seq = 0;
  const event = (status: OrderStatus): StatusEvent => ({
    seq: ++seq,
    status,
    at: new Date().toISOString(),
    detail: {},
  });
  return {
    placeOrder: ({ lines }) => {
      const priced = lines.map((line, index) => ({ ...line, productId: index + 1, unitPriceCents: FLOOR_PRICE_CENTS }));
      const totalCents = priced.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0);
      return Promise.resolve({
        reservation: { status: 'RESERVED', totalCents, lines: priced },
        status: 'RESERVED',
        events: [event('PENDING'), event('RESERVED')],
      });
    },
    chargeOrder: ({ orderId, amountCents, complete }) =>
      Promise.resolve({
        status: 'approved',
        idempotencyKey: `payment-${orderId}`,
        amountCents,
        completed: complete === true,
        events: [event('CHARGING'), event('PAID'), ...(complete === true ? [event('COMPLETED')] : [])],
      }),
    completeOrder: () => Promise.resolve({ event: event('COMPLETED') }),
    compensateOrder: ({ status }) => Promise.resolve({ status, released: 0, refunded: 0, event: event(status) }),
    confirmTerminal: ({ status }) => Promise.resolve({ status }),
    markCancelRequested: () => Promise.resolve(),
    recordTransition: ({ status }) => Promise.resolve(event(status)),
    // The shape before the lean saga (orders that replay it), never called by the floor.
    recordOrder: () => Promise.resolve({ seq: 1, at: new Date().toISOString() }),
    reserveStock: () => Promise.resolve({ status: 'REJECTED', reason: 'unknown_sku' }),
    releaseStock: () => Promise.resolve({ released: 0 }),
    commitStock: () => Promise.resolve({ committed: 0 }),
    chargePayment: ({ amountCents }) => Promise.resolve({ status: 'approved', amountCents, attempts: 1 }),
    refundPayment: () => Promise.resolve({ refunded: false }),
    recordStatus: ({ seq: recorded }) => Promise.resolve({ seq: recorded, at: new Date().toISOString() }),
    // The reconciliation schedule's (workflows/reconcile.ts), never called by the floor.
    findOrdersToReconcile: () => Promise.resolve([]),
    reportReconciliation: () => Promise.resolve(),
    wakeStaleAttentionRuns: () => Promise.resolve([]),
  };
}
