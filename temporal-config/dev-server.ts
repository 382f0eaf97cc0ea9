/**
 * The one place the Temporal dev server's flags are defined: used by `npm start` (scripts/dev-stack.ts) and by the
 * jest global setup, so development and tests run the same server configuration.
 */
import searchAttributes from './search-attributes.json';

/** Temporal CLI release we build or expect (newest tag whose go.mod `go install` accepts). */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

/** Go package that `go install` builds the CLI from. */
export const TEMPORAL_CLI_GO_PACKAGE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;

/** Namespace our workflows run in on the dev server. */
export const DEV_NAMESPACE = 'default';

/** Search attributes registered at server start, name -> Temporal type. */
export const SEARCH_ATTRIBUTE_TYPES: Record<string, string> = searchAttributes;

/**
 * SQLite pragmas for the file-backed dev server: WAL lets readers (visibility queries, the UI) run beside the writer,
 * and synchronous=NORMAL is durable across process crashes in WAL mode while cutting an fsync per commit.
 */
export const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=normal'] as const;

/**
 * Dynamic config for the dev server. Each value says why it is set.
 * - frontend.enableUpdateWorkflowExecution / frontend.enableExecuteMultiOperation: POST /orders uses
 *   update-with-start; both are on by default in server 1.29 and pinned here so a CLI upgrade cannot turn them off.
 * - system.forceSearchAttributesCacheRefreshOnRead: search attributes registered at start are visible at once.
 * - system.enableActivityEagerExecution: an activity the workflow schedules on its own task queue goes back to the
 *   worker with the workflow task's answer instead of through matching (off by default in server 1.29). Every saga
 *   step is one such activity: one order took 850 ms -> 460 ms end to end, -25% Temporal CPU (docs/benchmarks.md).
 */
export const DYNAMIC_CONFIG: Record<string, unknown> = {
  'frontend.enableUpdateWorkflowExecution': true,
  'frontend.enableExecuteMultiOperation': true,
  'system.forceSearchAttributesCacheRefreshOnRead': true,
  'system.enableActivityEagerExecution': true,
};

/** `--search-attribute` flags for every attribute above. */
export function searchAttributeArgs(): string[] {
  return Object.entries(SEARCH_ATTRIBUTE_TYPES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}

/** Flags other than ports, database and namespace: shared by the launcher and `createLocal` (as `extraArgs`). */
export function commonDevServerArgs(): string[] {
  return [
    ...SQLITE_PRAGMAS.flatMap((pragma) => ['--sqlite-pragma', pragma]),
    ...Object.entries(DYNAMIC_CONFIG).flatMap(([key, value]) => [
      '--dynamic-config-value',
      `${key}=${JSON.stringify(value)}`,
    ]),
  ];
}

/** Options of a launcher-run dev server. */
export interface DevServerOptions {
  dbFilename: string;
  ip: string;
  port: number;
  uiPort: number;
  codecEndpoint?: string;
}

/** Full argument list for `temporal server start-dev` as `npm start` runs it. */
export function devServerArgs(options: DevServerOptions): string[] {
  return [
    'server',
    'start-dev',
    '--db-filename',
    options.dbFilename,
    '--ip',
    options.ip,
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    DEV_NAMESPACE,
    '--log-level',
    'warn',
    ...searchAttributeArgs(),
    ...commonDevServerArgs(),
    ...(options.codecEndpoint !== undefined ? ['--ui-codec-endpoint', options.codecEndpoint] : []),
  ];
}
