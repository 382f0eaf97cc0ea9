/**
 * The only module that reads the environment. Every process parses its configuration once at start-up with
 * `loadConfig()` and passes the parts it needs down explicitly; a bad value stops the process with one line naming the
 * variable and what is wrong (see `loadConfigOrExit`). Each setting is one line of a zod schema below
 * (`serviceConfig`, `toolingConfig`): its field, variable, rule and default; the README's Configuration table lists them.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
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

/** The development JWT secret; production refuses to start with it. */
export const DEV_JWT_SECRET = 'orderflow-dev-secret-do-not-use-in-production';

/**
 * The development payload codec key list (`id:base64`, 32 random bytes, published in this repository); production
 * refuses to start with it. Generate a real key with `openssl rand -base64 32`.
 */
export const DEV_PAYLOAD_CODEC_KEYS = 'dev:3Qe1PzRgb0rjgiwqnPvua173JwrcMZTS4NzYfFKBqV8=';

/**
 * Where the embedded PostgreSQL of `npm start` listens (`EMBEDDED_PG_PORT`, default 5433), so standalone processes
 * (`npm run migrate`, `npm run seed`, a worker started by hand) find it when `DATABASE_URL` is unset.
 */
export const embeddedDatabaseUrl = (port = 5433): string => `postgres://postgres:postgres@127.0.0.1:${port}/orderflow`;

/**
 * One AES-256 key of the payload codec. The material is a `KeyObject`, so logging or serialising a config never
 * prints it (`JSON.stringify` gives `{}`).
 */
export interface PayloadCodecKey {
  /** Stored in every payload it encrypted (`encryption-key-id` metadata), so decoding picks the right key. */
  id: string;
  key: KeyObject;
}

type Env = Record<string, string | undefined>;

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses durations such as `500ms`, `30s`, `15m`, `24h`, `2d` or a bare number of milliseconds. */
export function parseDuration(raw: string): number | undefined {
  const match = DURATION.exec(raw.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (DURATION_UNITS[match[2] ?? 'ms'] ?? 1));
}

// The rules of one variable each. A rule sees the trimmed value (blank counts as unset); its message says what was
// expected and quotes what was given, except for URLs and keys, which may hold secrets.

/** Message options: `expected …, got "…"`; `abort` skips the rule's later checks. */
function got(expected: string) {
  return { error: (issue: { input?: unknown }) => `${expected}, got ${JSON.stringify(issue.input)}`, abort: true };
}

const NUMERALS = { 'an integer': /^-?\d+$/, 'a port number': /^\d+$/, 'a number': /^-?[\d.]+(e-?\d+)?$/i };

/** A number written as `kind`, from `min` to `max` inclusive. */
function numeral(kind: keyof typeof NUMERALS, min: number, max: number) {
  const range = got(`expected ${kind === 'a number' ? kind : 'an integer'} from ${min} to ${max}`);
  return z
    .string()
    .refine((raw) => NUMERALS[kind].test(raw) && Number.isFinite(Number(raw)), got(`expected ${kind}`))
    .transform(Number)
    .pipe(z.number().min(min, range).max(max, range));
}

const integer = (min: number, max: number) => numeral('an integer', min, max);
const decimal = (min: number, max: number) => numeral('a number', min, max);
const port = () => numeral('a port number', 0, 65535);

/** One of `values`, verbatim. */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, got(`expected one of ${values.join(', ')}`));

const bool = z.stringbool({
  truthy: ['1', 'true', 'yes', 'on'],
  falsy: ['0', 'false', 'no', 'off'],
  ...got('expected true or false'),
});

/** A duration (`parseDuration`) of at least `minMs`, in milliseconds. */
const duration = (minMs = 1) =>
  z
    .string()
    .regex(DURATION, got('expected a duration like 500ms, 30s, 15m or 24h'))
    .refine((raw) => (parseDuration(raw) ?? 0) >= minMs, got(`must be at least ${minMs}ms`))
    .transform((raw) => parseDuration(raw) ?? 0);

/** A URL with one of `protocols` and a host; kept as written. Messages never echo it (it may hold a password). */
const url = (protocols: readonly string[]) =>
  z
    .string()
    .refine((raw) => URL.canParse(raw), {
      error: `not a valid URL (expected ${protocols[0]}//host:port/...)`,
      abort: true,
    })
    .refine((raw) => protocols.includes(new URL(raw).protocol), {
      error: (issue) => `expected a ${protocols.join(' or ')} URL, got "${new URL(String(issue.input)).protocol}"`,
      abort: true,
    })
    .refine((raw) => new URL(raw).hostname !== '', 'the URL has no host');

const hostPort = z.string().regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, got('expected host:port'));

/** A comma-separated list; blank items are dropped. */
const list = z.string().transform((raw) => raw.split(/\s*,\s*/).filter((item) => item !== ''));

/** A browser origin (`scheme://host[:port]`, no path), compared verbatim with the `Origin` header. */
const isOrigin = (value: string): boolean => URL.canParse(value) && new URL(value).origin === value;

const origins = list.pipe(z.array(z.string().refine(isOrigin, got('expected origins like http://localhost:8233'))));

/** A payment latency range in milliseconds, inclusive: `100` or `50-200`. */
function latencyBounds(raw: string): { minMs: number; maxMs: number } {
  const [minMs = 0, maxMs = minMs] = raw.split('-').map(Number);
  return { minMs, maxMs };
}

const latencyRange = z
  .string()
  .regex(/^\d+(\s*-\s*\d+)?$/, got('expected milliseconds like 100 or a range like 50-200'))
  .refine(
    (raw) => latencyBounds(raw).maxMs >= latencyBounds(raw).minMs,
    got("the range's upper bound is below its lower bound"),
  )
  .transform(latencyBounds);

const CODEC_KEY_ENTRY = /^([A-Za-z0-9._-]{1,64})\s*:\s*(.*)$/;
/** Base64 (standard or URL-safe) of exactly 32 bytes: 43 characters and an optional `=`. */
const AES_256_KEY_BASE64 = /^[A-Za-z0-9+/_-]{43}=?$/;

/** `id:base64,id:base64` AES-256 keys; messages name the entry or its id, never the key material. */
const codecKeys = list.transform((entries, ctx): PayloadCodecKey[] => {
  const fail = (message: string): never => {
    ctx.issues.push({ code: 'custom', message, input: entries });
    return z.NEVER;
  };
  if (entries.length === 0) return fail('expected at least one key as id:base64');
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const [, id, material = ''] = CODEC_KEY_ENTRY.exec(entry) ?? [];
    if (id === undefined) {
      return fail(`entry ${index + 1} is not id:base64 (the id: 1-64 letters, digits, dots, dashes or underscores)`);
    }
    const bytes = Buffer.from(material, 'base64');
    if (!AES_256_KEY_BASE64.test(material) || bytes.length !== 32) {
      return fail(`key "${id}" must be the base64 of exactly 32 bytes (openssl rand -base64 32)`);
    }
    if (seen.has(id)) return fail(`key id "${id}" is listed twice`);
    seen.add(id);
    return { id, key: createSecretKey(bytes) };
  });
});

const devCodecKeys = (): PayloadCodecKey[] => codecKeys.parse(DEV_PAYLOAD_CODEC_KEYS);

/** A field read from the environment variable `name` (trimmed; blank counts as unset). */
function variable<T extends z.ZodType>(name: string, schema: T): T {
  return schema.meta({ variable: name });
}

/**
 * The configuration of every OrderFlow service process (api, worker, realtime, codec server): each field with its
 * variable, rule and default; then the rules between variables and the defaults that depend on another variable.
 */
const serviceConfig = z
  .object({
    nodeEnv: variable('NODE_ENV', oneOf(['development', 'test', 'production']).default('development')),
    /** @default info, warn in test */
    logLevel: variable('LOG_LEVEL', oneOf(['debug', 'info', 'warn', 'error', 'silent']).optional()),
    apiPort: variable('PORT', port().default(3000)),
    realtimePort: variable('REALTIME_PORT', port().default(3001)),
    metricsPort: variable('METRICS_PORT', port().default(9464)),
    host: variable('HOST', z.string().default('127.0.0.1')),
    /** @default the embedded PostgreSQL of `npm start` on EMBEDDED_PG_PORT (`embeddedDatabaseUrl`) */
    databaseUrl: variable('DATABASE_URL', url(['postgres:', 'postgresql:'])),
    dbPoolMax: variable('DB_POOL_MAX', integer(1, 500).default(10)),
    redisUrl: variable('REDIS_URL', url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379')),
    redisKeyPrefix: variable('REDIS_KEY_PREFIX', z.string().default('orderflow:')),
    temporal: z.object({
      address: variable('TEMPORAL_ADDRESS', hostPort.default('127.0.0.1:7233')),
      namespace: variable('TEMPORAL_NAMESPACE', z.string().default('default')),
      taskQueue: variable('TEMPORAL_TASK_QUEUE', z.string().default(TASK_QUEUE)),
      apiKey: variable('TEMPORAL_API_KEY', z.string().optional()),
      /** @default on with an API key or a client certificate */
      tls: variable('TEMPORAL_TLS', bool.optional()),
      tlsClientCertPath: variable('TEMPORAL_TLS_CLIENT_CERT_PATH', z.string().optional()),
      tlsClientKeyPath: variable('TEMPORAL_TLS_CLIENT_KEY_PATH', z.string().optional()),
      tlsServerCaCertPath: variable('TEMPORAL_TLS_SERVER_CA_CERT_PATH', z.string().optional()),
      tlsServerName: variable('TEMPORAL_TLS_SERVER_NAME', z.string().optional()),
    }),
    jwtSecret: variable('JWT_SECRET', z.string().default(DEV_JWT_SECRET)),
    corsOrigins: variable(
      'CORS_ORIGINS',
      list.prefault('http://localhost:3000,http://127.0.0.1:3000,http://localhost:3001,http://127.0.0.1:3001'),
    ),
    rateLimitPerMinute: variable('RATE_LIMIT_PER_MINUTE', integer(1, 1_000_000).default(600)),
    paymentSuccessRate: variable('PAYMENT_SUCCESS_RATE', decimal(0, 1).default(0.8)),
    paymentLatencyMs: variable('PAYMENT_LATENCY_MS', latencyRange.prefault('50-200')),
    paymentSlowMs: variable('PAYMENT_SLOW_MS', integer(0, 600_000).default(3000)),
    /** Retry budget for the payment activity before an order goes NEEDS_ATTENTION. */
    paymentRetry: z.object({
      initialIntervalMs: variable('PAYMENT_RETRY_INITIAL_INTERVAL', duration().prefault('1s')),
      backoffCoefficient: variable('PAYMENT_RETRY_BACKOFF', decimal(1, 100).default(2)),
      maximumIntervalMs: variable('PAYMENT_RETRY_MAX_INTERVAL', duration().prefault('30s')),
      maximumAttempts: variable('PAYMENT_RETRY_MAX_ATTEMPTS', integer(1, 1000).default(5)),
    }),
    attentionTimeoutMs: variable('ATTENTION_TIMEOUT', duration().prefault('24h')),
    /** How often the reconciliation schedule (workflows/reconcile.ts) repairs orders; a schedule's finest is 1s. */
    reconcileIntervalMs: variable('RECONCILE_INTERVAL', duration(1000).prefault('1m')),
    workerMaxConcurrentActivities: variable('WORKER_MAX_CONCURRENT_ACTIVITIES', integer(1, 10_000).default(100)),
    workerMaxConcurrentWorkflowTasks: variable('WORKER_MAX_CONCURRENT_WORKFLOW_TASKS', integer(2, 10_000).default(100)),
    workerMaxCachedWorkflows: variable('WORKER_MAX_CACHED_WORKFLOWS', integer(0, 1_000_000).default(1000)),
    shutdownGraceMs: variable('SHUTDOWN_GRACE', duration(0).prefault('10s')),
    /** Prebuilt workflow bundle the worker loads instead of bundling at start (the image sets it). */
    workflowBundlePath: variable('WORKFLOW_BUNDLE_PATH', z.string().optional()),
    dataDir: variable('DATA_DIR', z.string().default('.data')),
    /** Where export CSV pages are written (workers) and read (API). @default $DATA_DIR/exports */
    exportsDir: variable('EXPORTS_DIR', z.string().optional()),
    /** Orders per export page: one activity and one file each. */
    exportPageSize: variable('EXPORT_PAGE_SIZE', integer(1, 100_000).default(1000)),
    /** Deadline of one export page; a page lost with its worker is written again elsewhere after it. */
    exportPageTimeoutMs: variable('EXPORT_PAGE_TIMEOUT', duration(100).prefault('60s')),
    /** Payload encryption keys: the first encrypts, every one decrypts. @default the dev key, refused in production */
    payloadCodecKeys: variable('PAYLOAD_CODEC_KEYS', codecKeys.optional()),
    /** Port of the codec server the Temporal Web UI and CLI decode payloads through. */
    codecPort: variable('CODEC_PORT', port().default(8888)),
    /** Browser origins allowed to call the codec server. */
    codecCorsOrigins: variable('CODEC_CORS_ORIGINS', origins.prefault('http://localhost:8233,http://127.0.0.1:8233')),
  })
  .superRefine((config, ctx) => {
    const fail = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const production = config.nodeEnv === 'production';
    if (production && (config.jwtSecret === DEV_JWT_SECRET || config.jwtSecret.length < 32)) {
      fail(['jwtSecret'], 'production needs a real secret of at least 32 characters');
    }
    const retry = config.paymentRetry;
    if (retry.maximumIntervalMs < retry.initialIntervalMs) {
      // Temporal refuses such a retry policy: every charge would fail to be scheduled.
      fail(['paymentRetry', 'maximumIntervalMs'], 'must be at least PAYMENT_RETRY_INITIAL_INTERVAL');
    }
    const { tlsClientCertPath, tlsClientKeyPath } = config.temporal;
    if ((tlsClientCertPath === undefined) !== (tlsClientKeyPath === undefined)) {
      fail(
        ['temporal', tlsClientCertPath === undefined ? 'tlsClientCertPath' : 'tlsClientKeyPath'],
        'mTLS needs both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH',
      );
    }
    if (production && config.payloadCodecKeys === undefined) {
      fail(
        ['payloadCodecKeys'],
        'production needs its own keys: id:base64 of 32 random bytes (openssl rand -base64 32)',
      );
    }
    const devKeys = production ? devCodecKeys() : [];
    const published = config.payloadCodecKeys?.find((entry) => devKeys.some((dev) => dev.key.equals(entry.key)));
    if (published !== undefined) {
      fail(['payloadCodecKeys'], `key "${published.id}" is the published dev key; production needs its own keys`);
    }
  })
  .transform((config) => ({
    ...config,
    logLevel: config.logLevel ?? (config.nodeEnv === 'test' ? 'warn' : 'info'),
    temporal: {
      ...config.temporal,
      tls:
        config.temporal.tls ??
        (config.temporal.apiKey !== undefined || config.temporal.tlsClientCertPath !== undefined),
    },
    exportsDir: config.exportsDir ?? `${config.dataDir}/exports`,
    payloadCodecKeys: config.payloadCodecKeys ?? devCodecKeys(),
  }));

/** The whole typed configuration of every OrderFlow service process. */
export type Config = z.output<typeof serviceConfig>;
/** How to reach Temporal: a dev server, a self-hosted cluster or Temporal Cloud (`@temporalio/envconfig` names). */
export type TemporalConfig = Config['temporal'];
/** A payment latency range in milliseconds, inclusive. */
export type LatencyRange = Config['paymentLatencyMs'];

/** The fields of a config object: each a leaf read from its `variable`, or a nested object of fields. */
type Fields = Record<string, z.ZodType>;

const variableOf = (field: z.ZodType): string => String(z.globalRegistry.get(field)?.variable);

/** The input of a config object: each leaf's variable from `env`, trimmed; blank counts as unset. */
function read(fields: Fields, env: Env): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([key, field]) => [
      key,
      field instanceof z.ZodObject ? read(field.shape, env) : env[variableOf(field)]?.trim() || undefined,
    ]),
  );
}

/** Every variable the fields read, nested objects included. */
const variablesOf = (fields: Fields): string[] =>
  Object.values(fields).flatMap((field) =>
    field instanceof z.ZodObject ? variablesOf(field.shape) : [variableOf(field)],
  );

/** The variable of the field at an issue's `path` (for a list item, the list's variable). */
function variableAt(fields: Fields, [key, ...rest]: readonly PropertyKey[]): string {
  const field = fields[String(key)];
  if (field instanceof z.ZodObject) return variableAt(field.shape, rest);
  return field === undefined ? 'environment' : variableOf(field);
}

/** Parses `env` with a config schema; the first problem becomes a `ConfigError` naming its variable. */
function parseEnv<T>(schema: z.ZodPipe<z.ZodObject, z.ZodType<T>>, env: Env): T {
  const result = schema.safeParse(read(schema.in.shape, env));
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  throw new ConfigError(variableAt(schema.in.shape, issue?.path ?? []), issue?.message ?? 'invalid');
}

/**
 * Parses and validates the whole configuration; throws `ConfigError` on the first bad value. Without DATABASE_URL
 * the database is the embedded one of `npm start`, on EMBEDDED_PG_PORT (checked like every variable).
 */
export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = env.DATABASE_URL?.trim() || embeddedDatabaseUrl(parseEnv(embeddedPort, env).embeddedPgPort);
  return parseEnv(serviceConfig, { ...env, DATABASE_URL: databaseUrl });
}

/** Every environment variable `loadConfig` reads (the Compose test checks each reaches every container). */
export function serviceVariables(): string[] {
  return variablesOf(serviceConfig.in.shape);
}

/** Port of the embedded PostgreSQL the launcher starts, which the services' DATABASE_URL defaults to. */
const embeddedPort = z
  .object({ embeddedPgPort: variable('EMBEDDED_PG_PORT', port().default(5433)) })
  .transform((x) => x);

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
const toolingConfig = z
  .object({
    /** Explicit Temporal CLI binary. */
    temporalCliPath: variable('TEMPORAL_CLI_PATH', z.string().optional()),
    /** Explicit Chromium for the browser test; unset → the packaged one (scripts/test-tools.ts). */
    chromiumPath: variable('CHROMIUM_PATH', z.string().optional()),
    /** Directory for cached builds shared by every clone. @default $XDG_CACHE_HOME/orderflow, ~/.cache/orderflow */
    cacheDir: variable('ORDERFLOW_CACHE_DIR', z.string().optional()),
    xdgCacheHome: variable('XDG_CACHE_HOME', z.string().optional()),
    home: variable('HOME', z.string().default('/tmp')),
    /** The process PATH, searched for `temporal`, `go` and `redis-server`. */
    path: variable('PATH', z.string().default('/usr/local/bin:/usr/bin:/bin')),
    /** Pre-provisioned test services; when unset the test setup finds or starts them. */
    testDatabaseUrl: variable('TEST_DATABASE_URL', z.string().optional()),
    testRedisUrl: variable('TEST_REDIS_URL', z.string().optional()),
    /** Whether `DATABASE_URL`, `REDIS_URL` and `TEMPORAL_ADDRESS` were given (the launcher then starts nothing). */
    databaseUrl: variable('DATABASE_URL', z.string().optional()),
    redisUrl: variable('REDIS_URL', z.string().optional()),
    temporalAddress: variable('TEMPORAL_ADDRESS', z.string().optional()),
    ...embeddedPort.in.shape,
    /** Temporal dev server ports. */
    temporalDevPort: variable('TEMPORAL_DEV_PORT', port().default(7233)),
    temporalUiPort: variable('TEMPORAL_UI_PORT', port().default(8233)),
    ci: variable('CI', bool.default(false)),
  })
  .transform(({ xdgCacheHome, home, ...tooling }) => ({
    ...tooling,
    cacheDir: tooling.cacheDir ?? `${xdgCacheHome ?? `${home}/.cache`}/orderflow`,
  }));

/** Settings of the developer tooling (CLI provisioning, dev stack launcher, test setup), not of the services. */
export type ToolingConfig = z.output<typeof toolingConfig>;

/** Parses the tooling settings; throws `ConfigError` on a bad value. */
export function loadToolingConfig(env: Env = process.env): ToolingConfig {
  return parseEnv(toolingConfig, env);
}
