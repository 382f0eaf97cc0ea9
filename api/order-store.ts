/**
 * Read side of the API: orders, their lines, payment and events from PostgreSQL (written by the saga's activities).
 * The API never writes these tables; the workflow is the only writer.
 */
import type { Knex } from 'knex';
import { TABLES } from '../lib/db';
import { decodeCursorText, encodeCursorText } from '../lib/http/query';
import { exactCents } from '../lib/money';
import { isTimestamptz } from '../lib/pg-values';
import type { EventRow, OrderRow, PaymentRow } from '../lib/rows';
import { ORDER_STATUSES, type OrderStatus } from '../workflows/definitions';
import type { OrderItem, OrderPage, OrderSummary, OrderView, Product } from './schemas';

/** The `order_events` columns of an order view. */
type EventView = Pick<EventRow, 'seq' | 'status' | 'detail' | 'created_at'>;

/** The `payments` columns of an order view. */
type PaymentView = Pick<PaymentRow, 'status' | 'amount_cents' | 'attempts' | 'updated_at'>;

/** Narrows a stored status; an unknown value (a newer writer) reads as PENDING rather than failing the request. */
export function asStatus(value: string): OrderStatus {
  return (ORDER_STATUSES as readonly string[]).includes(value) ? (value as OrderStatus) : 'PENDING';
}

/** The catalog, by SKU. */
export async function listProducts(db: Knex): Promise<Product[]> {
  const rows = await db(TABLES.products)
    .select<{ sku: string; name: string; price_cents: number; stock: number }[]>('sku', 'name', 'price_cents', 'stock')
    .orderBy('sku');
  return rows.map((row) => ({
    sku: row.sku,
    name: row.name,
    priceCents: exactCents(row.price_cents, 'products.price_cents'),
    stock: row.stock,
  }));
}

/** The `orders` row of an order, or undefined. */
export async function findOrderRow(db: Knex, orderId: string): Promise<OrderRow | undefined> {
  return db(TABLES.orders).where({ id: orderId }).first<OrderRow | undefined>();
}

function linesFromDetail(detail: Record<string, unknown> | null | undefined): OrderItem[] {
  const lines = detail?.lines;
  if (!Array.isArray(lines)) return [];
  const items: OrderItem[] = [];
  for (const line of lines as unknown[]) {
    if (typeof line !== 'object' || line === null) continue;
    const { sku, quantity } = line as { sku?: unknown; quantity?: unknown };
    if (typeof sku === 'string' && typeof quantity === 'number') items.push({ sku, quantity, unitPriceCents: null });
  }
  return items;
}

/** The detail of an order's first event with `status`, or undefined. */
export async function findEventDetail(db: Knex, orderId: string, status: OrderStatus): Promise<unknown> {
  const row = await db(TABLES.orderEvents)
    .where({ order_id: orderId, status })
    .orderBy('seq')
    .first<{ detail: unknown } | undefined>('detail');
  return row?.detail;
}

type ItemRow = { sku: string; quantity: number; unit_price_cents: number };

/** An order's reserved lines (`order_items`), by sku; none before or without a reservation. */
function itemRows(db: Knex, orderId: string): Promise<ItemRow[]> {
  return db(TABLES.orderItems)
    .where({ order_id: orderId })
    .orderBy('sku')
    .select<ItemRow[]>('sku', 'quantity', 'unit_price_cents');
}

/** Reserved lines with prices, else the lines as requested in the first event's detail. */
function itemsFrom(rows: ItemRow[], firstEvent: EventView | undefined): OrderItem[] {
  if (rows.length === 0) return linesFromDetail(firstEvent?.detail);
  return rows.map((row) => ({
    sku: row.sku,
    quantity: row.quantity,
    unitPriceCents: exactCents(row.unit_price_cents, 'order_items.unit_price_cents'),
  }));
}

/** The lines of an order: as reserved (with prices) or, before/without a reservation, as requested. */
export async function loadItems(db: Knex, orderId: string): Promise<OrderItem[]> {
  const rows = await itemRows(db, orderId);
  if (rows.length > 0) return itemsFrom(rows, undefined);
  return itemsFrom(rows, await db(TABLES.orderEvents).where({ order_id: orderId }).orderBy('seq').first<EventView>());
}

/** The full view of GET /orders/:id, from one order row. */
export async function loadOrderView(db: Knex, row: OrderRow): Promise<OrderView> {
  const [events, payment, rows] = await Promise.all([
    db(TABLES.orderEvents)
      .where({ order_id: row.id })
      .orderBy('seq')
      .select<EventView[]>('seq', 'status', 'detail', 'created_at'),
    db(TABLES.payments)
      .where({ order_id: row.id })
      .orderBy([
        { column: 'updated_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .first<PaymentView | undefined>('status', 'amount_cents', 'attempts', 'updated_at'),
    itemRows(db, row.id),
  ]);
  const items = itemsFrom(rows, events[0]);
  return {
    orderId: row.id,
    customerId: row.customer_id,
    status: asStatus(row.status),
    items,
    totalCents: exactCents(row.total_cents, 'orders.total_cents'),
    currency: row.currency,
    payment:
      payment === undefined
        ? null
        : {
            status: payment.status,
            amountCents: exactCents(payment.amount_cents, 'payments.amount_cents'),
            attempts: payment.attempts,
            updatedAt: payment.updated_at.toISOString(),
          },
    failureReason: row.failure_reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    events: events.map((event) => ({
      seq: event.seq,
      status: asStatus(event.status),
      at: event.created_at.toISOString(),
      detail: event.detail ?? {},
    })),
  };
}

/** A position in the newest-first order list: the exact commit time (microseconds, as text) and id. */
interface Cursor {
  createdAt: string;
  id: string;
}

/** Encodes a cursor as opaque base64url. */
export function encodeCursor(cursor: Cursor): string {
  return encodeCursorText(JSON.stringify([cursor.createdAt, cursor.id]));
}

/**
 * Decodes a cursor; undefined when it is not one we issued, including a forged one whose time PostgreSQL's
 * `timestamptz` would refuse (e.g. 2026-02-30, month 13, year 0000).
 */
export function decodeCursor(raw: string): Cursor | undefined {
  try {
    const text = decodeCursorText(raw);
    if (text === undefined) return undefined;
    const value = JSON.parse(text) as unknown;
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [createdAt, id] = value as unknown[];
    if (typeof createdAt !== 'string' || typeof id !== 'string') return undefined;
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(createdAt) || !isTimestamptz(createdAt)) return undefined;
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
    return { createdAt, id };
  } catch {
    return undefined;
  }
}

/** Filters of a list request. */
export interface ListOrdersFilter {
  /** Undefined lists every customer's orders (admins only). */
  customerId: string | undefined;
  status: OrderStatus | undefined;
  limit: number;
  cursor: Cursor | undefined;
}

/** The `orders` columns of a list entry. */
type OrderSummaryRow = Pick<
  OrderRow,
  'id' | 'customer_id' | 'status' | 'total_cents' | 'currency' | 'created_at' | 'updated_at'
>;

/** One page of orders, newest first, with the cursor of the next page. */
export async function listOrders(db: Knex, filter: ListOrdersFilter): Promise<OrderPage> {
  const query = db(TABLES.orders)
    .select<(OrderSummaryRow & { created_key: string })[]>(
      'id',
      'customer_id',
      'status',
      'total_cents',
      'currency',
      'created_at',
      'updated_at',
      db.raw(`to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_key`),
    )
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(filter.limit + 1);
  if (filter.customerId !== undefined) query.where({ customer_id: filter.customerId });
  if (filter.status !== undefined) query.where({ status: filter.status });
  if (filter.cursor !== undefined) {
    query.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [filter.cursor.createdAt, filter.cursor.id]);
  }
  const rows = await query;
  const page = rows.slice(0, filter.limit);
  const last = page[page.length - 1];
  const orders: OrderSummary[] = page.map((row) => ({
    orderId: row.id,
    customerId: row.customer_id,
    status: asStatus(row.status),
    totalCents: exactCents(row.total_cents, 'orders.total_cents'),
    currency: row.currency,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  }));
  return {
    orders,
    nextCursor:
      rows.length > filter.limit && last !== undefined
        ? encodeCursor({ createdAt: last.created_key, id: last.id })
        : null,
  };
}
