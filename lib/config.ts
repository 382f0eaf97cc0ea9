/**
 * The only module that reads the environment. Every process parses its configuration once at start-up with
 * `loadConfig()` and passes the parts it needs down explicitly; a bad value stops the process with one line naming the
 * variable and what is wrong (see `loadConfigOrExit`).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { TASK_QUEUE } from '../workflows/definitions';

/** Raised when an environment variable holds a value we cannot use. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** A payment latency range in milliseconds, inclusive. */
export interface LatencyRange {
  minMs: number;
  maxMs: number;
}

/** Retry budget for the payment activity before an order goes NEEDS_ATTENTION. */
export interface PaymentRetryConfig {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  maximumAttempts: number;
}

/** How to reach Temporal: a dev server, a self-hosted cluster or Temporal Cloud (`@temporalio/envconfig` names). */
export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  apiKey: string | undefined;
  tls: boolean;
  tlsClientCertPath: string | undefined;
  tlsClientKeyPath: string | undefined;
  tlsServerCaCertPath: string | undefined;
  tlsServerName: string | undefined;
}

/**
 * One AES-256 key of the payload codec. The material is a `KeyObject`, so logging or serialising a config never
 * prints it (`JSON.stringify` gives `{}`).
 */
export interface PayloadCodecKey {
  /** Stored in every payload it encrypted (`encryption-key-id` metadata), so decoding picks the right key. */
  id: string;
  key: KeyObject;
}

/** The whole typed configuration of every OrderFlow process. */
export interface Config {
  nodeEnv: 'development' | 'test' | 'production';
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  apiPort: number;
  realtimePort: number;
  metricsPort: number;
  host: string;
  databaseUrl: string;
  dbPoolMax: number;
  redisUrl: string;
  redisKeyPrefix: string;
  temporal: TemporalConfig;
  jwtSecret: string;
  corsOrigins: string[];
  rateLimitPerMinute: number;
  paymentSuccessRate: number;
  paymentLatencyMs: LatencyRange;
  paymentSlowMs: number;
  paymentRetry: PaymentRetryConfig;
  attentionTimeoutMs: number;
  /**
   * How often the reconciliation schedule (`orderflow-reconcile`, workflows/reconcile.ts) looks for orders whose
   * workflow closed without a terminal status (`RECONCILE_INTERVAL`). At least 1s (a schedule's finest interval).
   * @default 60000 (1m)
   */
  reconcileIntervalMs: number;
  workerMaxConcurrentActivities: number;
  workerMaxConcurrentWorkflowTasks: number;
  workerMaxCachedWorkflows: number;
  shutdownGraceMs: number;
  /** Prebuilt workflow bundle the worker loads instead of bundling at start (the image sets it). */
  workflowBundlePath: string | undefined;
  dataDir: string;
  /** Where export CSV pages are written (`EXPORTS_DIR`); workers write, the API streams. @default .data/exports */
  exportsDir: string;
  /** Orders per export page (`EXPORT_PAGE_SIZE`): one activity and one file each. @default 1000 */
  exportPageSize: number;
  /**
   * Deadline of one export page (`EXPORT_PAGE_TIMEOUT`); a worker that dies mid-page is detected after this long and
   * the page is written again elsewhere. @default 60s
   */
  exportPageTimeoutMs: number;
  /**
   * Payload encryption keys (`PAYLOAD_CODEC_KEYS`): the first encrypts, every one decrypts (key rotation).
   * @default the dev key in development and test; production refuses to start without real keys
   */
  payloadCodecKeys: PayloadCodecKey[];
  /** Port of the codec server the Temporal Web UI and CLI decode payloads through (`CODEC_PORT`). @default 8888 */
  codecPort: number;
  /** Browser origins allowed to call the codec server (`CODEC_CORS_ORIGINS`). @default the dev server's Web UI */
  codecCorsOrigins: string[];
}

/** The development JWT secret; production refuses to start with it. */
export const DEV_JWT_SECRET = 'orderflow-dev-secret-do-not-use-in-production';

/**
 * The development payload codec key list (`id:base64`, 32 random bytes, published in this repository); production
 * refuses to start with it. Generate a real key with `openssl rand -base64 32`.
 */
export const DEV_PAYLOAD_CODEC_KEYS = 'dev:3Qe1PzRgb0rjgiwqnPvua173JwrcMZTS4NzYfFKBqV8=';

/** Where the embedded PostgreSQL of `npm start` listens, so standalone processes find it by default. */
export const EMBEDDED_DATABASE_URL = 'postgres://postgres:postgres@127.0.0.1:5433/orderflow';

type Env = Record<string, string | undefined>;

function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `expected an integer from ${min} to ${max}, got ${raw}`);
  return value;
}

function port(env: Env, name: string, fallback: number): number {
  const raw = read(env, name);
  if (raw !== undefined && !/^\d+$/.test(raw)) throw new ConfigError(name, `expected a port number, got "${raw}"`);
  return integer(env, name, fallback, 0, 65535);
}

function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || !/^-?[\d.]+(e-?\d+)?$/i.test(raw)) {
    throw new ConfigError(name, `expected a number, got "${raw}"`);
  }
  if (value < min || value > max) throw new ConfigError(name, `expected a number from ${min} to ${max}, got ${raw}`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses durations such as `500ms`, `30s`, `15m`, `24h`, `2d` or a bare number of milliseconds. */
export function parseDuration(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = DURATION_UNITS[match[2] ?? 'ms'] ?? 1;
  return Math.round(amount * unit);
}

function duration(env: Env, name: string, fallback: string, minMs: number): number {
  const raw = read(env, name) ?? fallback;
  const ms = parseDuration(raw);
  if (ms === undefined) throw new ConfigError(name, `expected a duration like 500ms, 30s, 15m or 24h, got "${raw}"`);
  if (ms < minMs) throw new ConfigError(name, `must be at least ${minMs}ms, got "${raw}"`);
  return ms;
}

function url(env: Env, name: string, fallback: string, protocols: readonly string[]): string {
  const raw = read(env, name) ?? fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `not a valid URL (expected ${protocols[0]}//host:port/...)`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL, got "${parsed.protocol}"`);
  }
  if (!parsed.hostname) throw new ConfigError(name, 'the URL has no host');
  return raw;
}

function latencyRange(env: Env, name: string, fallback: string): LatencyRange {
  const raw = read(env, name) ?? fallback;
  const match = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(raw);
  if (!match) throw new ConfigError(name, `expected milliseconds like 100 or a range like 50-200, got "${raw}"`);
  const minMs = Number(match[1]);
  const maxMs = match[2] === undefined ? minMs : Number(match[2]);
  if (maxMs < minMs) throw new ConfigError(name, `the range's upper bound is below its lower bound in "${raw}"`);
  return { minMs, maxMs };
}

function hostPort(env: Env, name: string, fallback: string): string {
  const raw = read(env, name) ?? fallback;
  if (!/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(raw)) {
    throw new ConfigError(name, `expected host:port, got "${raw}"`);
  }
  return raw;
}

function list(env: Env, name: string, fallback: string[]): string[] {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** A list of browser origins (`scheme://host[:port]`, no path), compared verbatim with the `Origin` header. */
function origins(env: Env, name: string, fallback: string[]): string[] {
  const values = list(env, name, fallback);
  for (const value of values) {
    let origin: string | undefined;
    try {
      origin = new URL(value).origin;
    } catch {
      origin = undefined;
    }
    if (origin !== value) throw new ConfigError(name, `expected origins like http://localhost:8233, got "${value}"`);
  }
  return values;
}

const CODEC_KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Base64 (standard or URL-safe) of exactly 32 bytes: 43 characters and an optional `=`. */
const AES_256_KEY_BASE64 = /^[A-Za-z0-9+/_-]{43}=?$/;
const AES_256_KEY_BYTES = 32;

/** Parses `id:base64,id:base64`; error messages name the entry or its id, never the key material. */
function codecKeyList(name: string, raw: string): PayloadCodecKey[] {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0) throw new ConfigError(name, 'expected at least one key as id:base64');
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const separator = entry.indexOf(':');
    const id = separator < 0 ? '' : entry.slice(0, separator).trim();
    const material = entry.slice(separator + 1).trim();
    if (!CODEC_KEY_ID.test(id)) {
      throw new ConfigError(
        name,
        `entry ${index + 1} is not id:base64 (the id: 1-64 letters, digits, dots, dashes or underscores)`,
      );
    }
    const bytes = Buffer.from(material, 'base64');
    if (!AES_256_KEY_BASE64.test(material) || bytes.length !== AES_256_KEY_BYTES) {
      throw new ConfigError(name, `key "${id}" must be the base64 of exactly 32 bytes (openssl rand -base64 32)`);
    }
    if (seen.has(id)) throw new ConfigError(name, `key id "${id}" is listed twice`);
    seen.add(id);
    return { id, key: createSecretKey(bytes) };
  });
}

/** The payload codec keys; production needs its own, and never the published dev key (under any id). */
function payloadCodecKeys(env: Env, name: string, nodeEnv: Config['nodeEnv']): PayloadCodecKey[] {
  const raw = read(env, name);
  if (raw === undefined && nodeEnv === 'production') {
    throw new ConfigError(
      name,
      'production needs its own keys: id:base64 of 32 random bytes (openssl rand -base64 32)',
    );
  }
  const keys = codecKeyList(name, raw ?? DEV_PAYLOAD_CODEC_KEYS);
  if (nodeEnv === 'production') {
    const devKeys = codecKeyList(name, DEV_PAYLOAD_CODEC_KEYS);
    const published = keys.find((entry) => devKeys.some((dev) => dev.key.equals(entry.key)));
    if (published !== undefined) {
      throw new ConfigError(name, `key "${published.id}" is the published dev key; production needs its own keys`);
    }
  }
  return keys;
}

/** Parses and validates the whole configuration; throws `ConfigError` on the first bad value. */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = oneOf(env, 'NODE_ENV', 'development', ['development', 'test', 'production'] as const);
  const jwtSecret = read(env, 'JWT_SECRET') ?? DEV_JWT_SECRET;
  if (nodeEnv === 'production' && (jwtSecret === DEV_JWT_SECRET || jwtSecret.length < 32)) {
    throw new ConfigError('JWT_SECRET', 'production needs a real secret of at least 32 characters');
  }
  const tlsClientCertPath = read(env, 'TEMPORAL_TLS_CLIENT_CERT_PATH');
  const tlsClientKeyPath = read(env, 'TEMPORAL_TLS_CLIENT_KEY_PATH');
  if ((tlsClientCertPath === undefined) !== (tlsClientKeyPath === undefined)) {
    throw new ConfigError(
      tlsClientCertPath === undefined ? 'TEMPORAL_TLS_CLIENT_CERT_PATH' : 'TEMPORAL_TLS_CLIENT_KEY_PATH',
      'mTLS needs both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH',
    );
  }
  const apiKey = read(env, 'TEMPORAL_API_KEY');
  return {
    nodeEnv,
    logLevel: oneOf(env, 'LOG_LEVEL', nodeEnv === 'test' ? 'warn' : 'info', [
      'debug',
      'info',
      'warn',
      'error',
      'silent',
    ] as const),
    apiPort: port(env, 'PORT', 3000),
    realtimePort: port(env, 'REALTIME_PORT', 3001),
    metricsPort: port(env, 'METRICS_PORT', 9464),
    host: read(env, 'HOST') ?? '127.0.0.1',
    databaseUrl: url(env, 'DATABASE_URL', EMBEDDED_DATABASE_URL, ['postgres:', 'postgresql:']),
    dbPoolMax: integer(env, 'DB_POOL_MAX', 10, 1, 500),
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379', ['redis:', 'rediss:']),
    redisKeyPrefix: read(env, 'REDIS_KEY_PREFIX') ?? 'orderflow:',
    temporal: {
      address: hostPort(env, 'TEMPORAL_ADDRESS', '127.0.0.1:7233'),
      namespace: read(env, 'TEMPORAL_NAMESPACE') ?? 'default',
      taskQueue: read(env, 'TEMPORAL_TASK_QUEUE') ?? TASK_QUEUE,
      apiKey,
      tls: bool(env, 'TEMPORAL_TLS', apiKey !== undefined || tlsClientCertPath !== undefined),
      tlsClientCertPath,
      tlsClientKeyPath,
      tlsServerCaCertPath: read(env, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH'),
      tlsServerName: read(env, 'TEMPORAL_TLS_SERVER_NAME'),
    },
    jwtSecret,
    corsOrigins: list(env, 'CORS_ORIGINS', [
      'http://localhost:3000',
      'http://127.0.0.1:3000',
      'http://localhost:3001',
      'http://127.0.0.1:3001',
    ]),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 600, 1, 1_000_000),
    paymentSuccessRate: decimal(env, 'PAYMENT_SUCCESS_RATE', 0.8, 0, 1),
    paymentLatencyMs: latencyRange(env, 'PAYMENT_LATENCY_MS', '50-200'),
    paymentSlowMs: integer(env, 'PAYMENT_SLOW_MS', 3000, 0, 600_000),
    paymentRetry: {
      initialIntervalMs: duration(env, 'PAYMENT_RETRY_INITIAL_INTERVAL', '1s', 1),
      backoffCoefficient: decimal(env, 'PAYMENT_RETRY_BACKOFF', 2, 1, 100),
      maximumIntervalMs: duration(env, 'PAYMENT_RETRY_MAX_INTERVAL', '30s', 1),
      maximumAttempts: integer(env, 'PAYMENT_RETRY_MAX_ATTEMPTS', 5, 1, 1000),
    },
    attentionTimeoutMs: duration(env, 'ATTENTION_TIMEOUT', '24h', 1),
    reconcileIntervalMs: duration(env, 'RECONCILE_INTERVAL', '1m', 1000),
    workerMaxConcurrentActivities: integer(env, 'WORKER_MAX_CONCURRENT_ACTIVITIES', 100, 1, 10_000),
    workerMaxConcurrentWorkflowTasks: integer(env, 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', 100, 2, 10_000),
    workerMaxCachedWorkflows: integer(env, 'WORKER_MAX_CACHED_WORKFLOWS', 1000, 0, 1_000_000),
    shutdownGraceMs: duration(env, 'SHUTDOWN_GRACE', '10s', 0),
    workflowBundlePath: read(env, 'WORKFLOW_BUNDLE_PATH'),
    dataDir: read(env, 'DATA_DIR') ?? '.data',
    exportsDir: read(env, 'EXPORTS_DIR') ?? `${read(env, 'DATA_DIR') ?? '.data'}/exports`,
    exportPageSize: integer(env, 'EXPORT_PAGE_SIZE', 1000, 1, 100_000),
    exportPageTimeoutMs: duration(env, 'EXPORT_PAGE_TIMEOUT', '60s', 100),
    payloadCodecKeys: payloadCodecKeys(env, 'PAYLOAD_CODEC_KEYS', nodeEnv),
    codecPort: port(env, 'CODEC_PORT', 8888),
    codecCorsOrigins: origins(env, 'CODEC_CORS_ORIGINS', ['http://localhost:8233', 'http://127.0.0.1:8233']),
  };
}

/** Loads the configuration or stops the process with one line naming the bad variable. */
export function loadConfigOrExit(env: Env = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`orderflow: invalid configuration: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/** Settings of the developer tooling (CLI provisioning, dev stack launcher, test setup), not of the services. */
export interface ToolingConfig {
  /** Explicit Temporal CLI binary (`TEMPORAL_CLI_PATH`). */
  temporalCliPath: string | undefined;
  /** Explicit Chromium for the browser test (`CHROMIUM_PATH`); unset → the packaged one (scripts/test-tools.ts). */
  chromiumPath: string | undefined;
  /** Directory for cached builds shared by every clone (`ORDERFLOW_CACHE_DIR`, default `~/.cache/orderflow`). */
  cacheDir: string;
  /** The process PATH, searched for `temporal`, `go` and `redis-server`. */
  path: string;
  /** Pre-provisioned test services; when unset the test setup finds or starts them. */
  testDatabaseUrl: string | undefined;
  testRedisUrl: string | undefined;
  /** Whether `DATABASE_URL`, `REDIS_URL` and `TEMPORAL_ADDRESS` were given (the launcher then starts nothing). */
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  temporalAddress: string | undefined;
  /** Port of the embedded PostgreSQL the launcher starts (`EMBEDDED_PG_PORT`). */
  embeddedPgPort: number;
  /** Temporal dev server ports (`TEMPORAL_DEV_PORT`, `TEMPORAL_UI_PORT`). */
  temporalDevPort: number;
  temporalUiPort: number;
  ci: boolean;
}

/** Parses the tooling settings; throws `ConfigError` on a bad value. */
export function loadToolingConfig(env: Env = process.env): ToolingConfig {
  const home = read(env, 'HOME') ?? '/tmp';
  return {
    temporalCliPath: read(env, 'TEMPORAL_CLI_PATH'),
    chromiumPath: read(env, 'CHROMIUM_PATH'),
    cacheDir: read(env, 'ORDERFLOW_CACHE_DIR') ?? `${read(env, 'XDG_CACHE_HOME') ?? `${home}/.cache`}/orderflow`,
    path: read(env, 'PATH') ?? '/usr/local/bin:/usr/bin:/bin',
    testDatabaseUrl: read(env, 'TEST_DATABASE_URL'),
    testRedisUrl: read(env, 'TEST_REDIS_URL'),
    databaseUrl: read(env, 'DATABASE_URL'),
    redisUrl: read(env, 'REDIS_URL'),
    temporalAddress: read(env, 'TEMPORAL_ADDRESS'),
    embeddedPgPort: port(env, 'EMBEDDED_PG_PORT', 5433),
    temporalDevPort: port(env, 'TEMPORAL_DEV_PORT', 7233),
    temporalUiPort: port(env, 'TEMPORAL_UI_PORT', 8233),
    ci: bool(env, 'CI', false),
  };
}
