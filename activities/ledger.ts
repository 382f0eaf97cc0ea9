/**
 * The ledger as the inventory activities use it: `recordMovements(trx, movements)` inside the transaction that
 * changes `products.stock` (one INSERT statement, no locks of its own), and `createStockPublisher` for the
 * `product.stock` / `product.low_stock` events once that transaction has committed.
 *
 * Or, to add no round trip while product locks are held, `movementsFrom(cte, kind)`: an INSERT for a CTE of the
 * statement that already changes stock (WRITE_RESERVATION's `res`, a release's or commit's `UPDATE ... RETURNING`).
 *
 * Reserve: one `reserve` movement per line, quantity `-line.quantity`, with the order id. Release: `release`,
 * `+quantity`. Commit: `commit`, quantity 0 (nothing leaves the shelf; the order's story is complete). Reservations
 * must also refuse products whose status is not `ORDERABLE_STATUS`.
 */
export {
  movementsFrom,
  ORDERABLE_STATUS,
  recordMovements,
  type MovementInput,
  type MovementKind,
  type RecordedMovement,
} from '../lib/ledger';
export {
  createStockPublisher,
  type StockChange,
  type StockPublisher,
  type StockPublisherDeps,
} from '../lib/stock-events';
