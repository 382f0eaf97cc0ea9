/**
 * Prepares a Temporal namespace for OrderFlow on a server someone else runs (the compose cluster, a cluster of your
 * own, or a dev server someone else started): creates the namespace if it is missing, registers our search
 * attributes, and the `setup` command also creates (or updates) the reconciliation schedule
 * (temporal-config/reconcile-schedule.ts). The dev server gets the search attributes from `--search-attribute` flags
 * instead; both read `search-attributes.json`, the one definition. Run directly: `node --import tsx
 * temporal-config/setup.ts` (the image: `setup`), configured by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_TASK_QUEUE, RECONCILE_INTERVAL and the TLS / API key variables like every other process.
 */
import { Client, Connection as TemporalConnection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { loadConfigOrExit } from '../lib/config';
import { connectionOptions } from '../lib/temporal';
import { SEARCH_ATTRIBUTE_TYPES } from './dev-server';
import { ensureReconcileSchedule, RECONCILE_SCHEDULE_ID } from './reconcile-schedule';

/** Proto enum values of IndexedValueType for the types we use. */
const INDEXED_VALUE_TYPES: Record<string, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

/**
 * How long closed order workflows stay visible in Temporal (UI, queries, `temporal workflow show`) before the server
 * deletes them. Long enough for ops to investigate a month of orders; the order history itself lives on in our
 * `order_events` table.
 */
export const NAMESPACE_RETENTION_DAYS = 30;

/**
 * With SQL visibility a namespace's custom search attributes are part of the namespace record, which every Temporal
 * service caches for `system.namespaceCacheRefreshInterval` (10s by default). Until a service refreshes, it rejects
 * workflows that set a just-registered attribute (measured on 1.29.1: a start failed 1s after registering and passed
 * at 3s), so after registering we wait this long once, before any worker starts (first install only).
 */
export const SEARCH_ATTRIBUTE_PROPAGATION_MS = 15_000;

/** How long `ensureNamespace` retries while a just-created namespace propagates. */
const NAMESPACE_READY_TIMEOUT_MS = 60_000;

/** gRPC status codes the setup reacts to (stable values from the gRPC spec). */
const GrpcStatus = { DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, UNAVAILABLE: 14 } as const;

function grpcCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** Creates `namespace` with our retention if it does not exist; returns true when it created it. */
export async function ensureNamespace(
  connection: TemporalConnection,
  namespace: string,
  retentionDays = NAMESPACE_RETENTION_DAYS,
): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return false;
  } catch (error) {
    if (grpcCode(error) !== GrpcStatus.NOT_FOUND) throw error;
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      description: 'OrderFlow order sagas',
      workflowExecutionRetentionPeriod: msToTs(`${retentionDays}d`),
    });
  } catch (error) {
    // Another setup run created it between our describe and register: that is the outcome we wanted.
    if (grpcCode(error) !== GrpcStatus.ALREADY_EXISTS) throw error;
    return false;
  }
  return true;
}

/** Adds whichever of our search attributes the namespace lacks; returns the names it added. */
export async function ensureSearchAttributes(connection: TemporalConnection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set([
    ...Object.keys(existing.customAttributes ?? {}),
    ...Object.keys(existing.systemAttributes ?? {}),
  ]);
  const missing: Record<string, number> = {};
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTE_TYPES)) {
    const code = INDEXED_VALUE_TYPES[type];
    if (code === undefined) throw new Error(`search-attributes.json: unknown type ${type} for ${name}`);
    if (!known.has(name)) missing[name] = code;
  }
  if (Object.keys(missing).length > 0) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  }
  return Object.keys(missing);
}

/** What `setupNamespace` did. */
export interface SetupResult {
  namespaceCreated: boolean;
  searchAttributesAdded: string[];
}

/** Options of `setupNamespace`. */
export interface SetupOptions {
  /** Progress lines. */
  log?: (line: string) => void;
  /**
   * Wait after registering search attributes, so every server cache has them before workers start.
   * @default SEARCH_ATTRIBUTE_PROPAGATION_MS
   */
  cacheWaitMs?: number;
}

/**
 * Namespace, then search attributes, retrying while a just-created namespace is not yet visible to the operator
 * service; then the one-time cache wait if anything was added. Idempotent: a second run changes nothing and waits not.
 */
export async function setupNamespace(
  connection: TemporalConnection,
  namespace: string,
  { log = () => undefined, cacheWaitMs = SEARCH_ATTRIBUTE_PROPAGATION_MS }: SetupOptions = {},
): Promise<SetupResult> {
  const namespaceCreated = await ensureNamespace(connection, namespace);
  log(
    namespaceCreated
      ? `created namespace ${namespace} (retention ${NAMESPACE_RETENTION_DAYS}d)`
      : `namespace ${namespace} exists`,
  );
  const deadline = Date.now() + NAMESPACE_READY_TIMEOUT_MS;
  let added: string[];
  for (;;) {
    try {
      added = await ensureSearchAttributes(connection, namespace);
      break;
    } catch (error) {
      if (grpcCode(error) !== GrpcStatus.NOT_FOUND || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  if (added.length === 0) {
    log(`search attributes already registered on ${namespace}`);
  } else {
    log(`registered ${added.join(', ')} on ${namespace}; waiting ${Math.round(cacheWaitMs / 1000)}s for server caches`);
    await new Promise((resolve) => setTimeout(resolve, cacheWaitMs));
  }
  return { namespaceCreated, searchAttributesAdded: added };
}

/** How long the `setup` command keeps retrying while a just-started server is not ready yet. */
const SERVER_READY_TIMEOUT_MS = 120_000;

/** Connection failures and the server's "not ready yet" answers, worth a retry right after it started. */
function notReadyYet(error: unknown): boolean {
  // Node system errors (e.g. ENOENT reading a TLS file) carry string codes: those will not heal by waiting.
  if (typeof (error as { code?: unknown } | null)?.code === 'string') return false;
  const code = grpcCode(error);
  return code === undefined || code === GrpcStatus.UNAVAILABLE || code === GrpcStatus.DEADLINE_EXCEEDED;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const log = (line: string): void => {
    process.stdout.write(`temporal-config/setup: ${line}\n`);
  };
  const deadline = Date.now() + SERVER_READY_TIMEOUT_MS;
  for (;;) {
    let connection: TemporalConnection | undefined;
    try {
      connection = await TemporalConnection.connect(connectionOptions(config.temporal));
      await setupNamespace(connection, config.temporal.namespace, { log });
      const client = new Client({ connection, namespace: config.temporal.namespace });
      const schedule = await ensureReconcileSchedule(client, {
        taskQueue: config.temporal.taskQueue,
        intervalMs: config.reconcileIntervalMs,
      });
      log(`${schedule} schedule ${RECONCILE_SCHEDULE_ID} (every ${config.reconcileIntervalMs / 1000}s)`);
      return;
    } catch (error) {
      if (!notReadyYet(error) || Date.now() > deadline) throw error;
      log(
        `server at ${config.temporal.address} not ready (${error instanceof Error ? error.message : String(error)}); retrying`,
      );
      await new Promise((resolve) => setTimeout(resolve, 2000));
    } finally {
      await connection?.close();
    }
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`temporal-config/setup: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
