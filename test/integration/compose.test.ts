/**
 * The production stack as Compose reads it: docker-compose.yml is loaded, interpolated, validated against the Compose
 * Specification and normalised by compose-go, the loader Docker Compose is built on, through the small
 * `compose-config` program (stack/compose-config: the same steps as `docker compose config`), offline and
 * without a Docker engine; `npm test` builds it with Go into ~/.cache/orderflow (stack/tools.ts). The checks
 * keep the stack honest as the code changes: every setting lib/config.ts reads reaches every OrderFlow process (the
 * list comes from lib/config.ts's schema, never copied), images are pinned, host ports do not clash, the start order
 * holds, and no secret has a default. Plus the Dockerfile and temporal-config/ facts the stack relies on.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig, serviceVariables } from '../../lib/config';
import { CLUSTER_FILES, CLUSTER_NAMESPACE, TEMPORAL_SERVER_VERSION } from '../../temporal-config/cluster';
import { DYNAMIC_CONFIG, SEARCH_ATTRIBUTE_TYPES } from '../../temporal-config/dev-server';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';
import { composeConfigPath } from '../support/services';

const root = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

/** Our processes: they run lib/config.ts's loadConfig, so each must get every setting. */
const ORDERFLOW_SERVICES = ['api', 'worker', 'realtime', 'codec-server', 'migrate', 'temporal-setup'] as const;

/** Settings of lib/config.ts deliberately not passed into the containers, and why. */
const LEFT_TO_DEFAULTS: Record<string, string> = {
  DATA_DIR: 'only `npm start` keeps local state; the containers write nothing (read-only root filesystem)',
  WORKFLOW_BUNDLE_PATH:
    'baked into the image by the Dockerfile (ENV), pointing at the bundle built at image build time',
};

/** Secrets the stack must never default: `docker compose` has to refuse to start without each of them. */
const REQUIRED_SECRETS = [
  'POSTGRES_PASSWORD',
  'ORDERFLOW_DB_PASSWORD',
  'TEMPORAL_DB_PASSWORD',
  'JWT_SECRET',
  'PAYLOAD_CODEC_KEYS',
];

const SECRET_VALUES: Record<string, string> = {
  POSTGRES_PASSWORD: 'pg-super-secret',
  ORDERFLOW_DB_PASSWORD: 'orderflowdbsecret',
  TEMPORAL_DB_PASSWORD: 'temporaldbsecret',
  JWT_SECRET: 'compose-test-secret-0123456789abcdef0123',
  PAYLOAD_CODEC_KEYS: `compose-test:${Buffer.alloc(32, 7).toString('base64')}`,
};

/** Every variable `loadConfig` reads, from its schema. */
const configVariables = (): string[] => serviceVariables().sort();

/** A scratch dir with an empty env file, so a developer's .env never leaks into the checks. */
const scratch = mkdtempSync(path.join(os.tmpdir(), 'orderflow-compose-test-'));
const emptyEnvFile = path.join(scratch, 'empty.env');
writeFileSync(emptyEnvFile, '');
let composeConfigBinary = '';
beforeAll(async () => {
  composeConfigBinary = await composeConfigPath();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `config` with exactly `env` (plus PATH/HOME); returns exit status and output. */
function composeConfig(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(
    composeConfigBinary,
    ['--env-file', emptyEnvFile, '-f', path.join(root, 'docker-compose.yml')],
    { cwd: scratch, env: { PATH: process.env.PATH ?? '', HOME: scratch, ...env }, encoding: 'utf8', timeout: 30_000 },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface PortMapping {
  published?: number | string;
  target?: number | string;
  host_ip?: string;
}
interface Service {
  image?: string;
  build?: unknown;
  container_name?: string;
  environment?: Record<string, string | null>;
  ports?: (PortMapping | string)[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: unknown; disable?: boolean };
  restart?: string;
  entrypoint?: string[] | string;
  volumes?: (string | { type?: string; source?: string; target?: string })[];
}

function publishedPort(mapping: PortMapping | string): number | undefined {
  if (typeof mapping === 'string') {
    const parts = mapping.split(':');
    return parts.length >= 2 ? Number(parts[parts.length - 2]) : undefined;
  }
  return mapping.published === undefined ? undefined : Number(mapping.published);
}

describe('docker-compose.yml, as Compose reads it', () => {
  let services: Record<string, Service>;

  beforeAll(() => {
    const result = composeConfig(SECRET_VALUES);
    if (result.status !== 0) throw new Error(`compose-config failed:\n${result.stderr}`);
    services = (YAML.parse(result.stdout) as { services: Record<string, Service> }).services;
  });

  test('when parsed, then it has the whole stack: databases, Temporal cluster and UI, jobs and our processes', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'api',
        'codec-server',
        'migrate',
        'postgres',
        'realtime',
        'redis',
        'temporal',
        'temporal-schema',
        'temporal-setup',
        'temporal-ui',
        'worker',
      ].sort(),
    );
  });

  test.each(ORDERFLOW_SERVICES)(
    'when %s starts, then every setting lib/config.ts reads is set or passed through from .env',
    (name) => {
      const environment = services[name]?.environment ?? {};
      const expected = configVariables().filter((variable) => !(variable in LEFT_TO_DEFAULTS));
      expect(expected.filter((variable) => !(variable in environment))).toEqual([]);
      // Nothing we pass is unknown to lib/config.ts (a typo would be silently ignored by the process).
      const known = new Set(configVariables());
      expect(Object.keys(environment).filter((variable) => !known.has(variable))).toEqual([]);
    },
  );

  test.each(ORDERFLOW_SERVICES)('when %s starts, then its environment is a valid production configuration', (name) => {
    const environment = Object.fromEntries(
      Object.entries(services[name]?.environment ?? {}).map(([key, value]) => [key, value ?? '']),
    );
    const config = loadConfig(environment);
    expect(config.nodeEnv).toBe('production');
    expect(config.host).toBe('0.0.0.0');
    expect(new URL(config.databaseUrl).host).toBe('postgres:5432');
    expect(new URL(config.redisUrl).host).toBe('redis:6379');
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.temporal.namespace).toBe(CLUSTER_NAMESPACE);
    expect(config.jwtSecret).toBe(SECRET_VALUES.JWT_SECRET);
    expect(config.payloadCodecKeys.map((key) => key.id)).toEqual(['compose-test']);
  });

  test('when an operator opens the Temporal UI, then it decodes payloads through the codec server it may call', () => {
    const ui = services['temporal-ui']?.environment ?? {};
    const codec = services['codec-server'];
    const published = (codec?.ports ?? []).map(publishedPort);
    expect(ui.TEMPORAL_CODEC_ENDPOINT).toBe(`http://localhost:${published[0]}`);
    expect(ui.TEMPORAL_CODEC_INCLUDE_CREDENTIALS).toBe('true');
    // The codec server lets the UI's browser origin in (lib/config.ts's default when CODEC_CORS_ORIGINS is unset).
    const uiPort = (services['temporal-ui']?.ports ?? []).map(publishedPort)[0];
    const config = loadConfig(
      Object.fromEntries(Object.entries(codec?.environment ?? {}).map(([k, v]) => [k, v ?? ''])),
    );
    expect(config.codecCorsOrigins).toContain(`http://localhost:${uiPort}`);
  });

  test('when a setting is left to its default, then it is a real lib/config.ts variable with a reason', () => {
    const variables = new Set(configVariables());
    for (const variable of Object.keys(LEFT_TO_DEFAULTS)) expect(variables.has(variable)).toBe(true);
  });

  test('when images are pulled, then each is pinned to a version tag (never latest), and ours is built here', () => {
    const built = Object.entries(services).filter(([, service]) => service.build !== undefined);
    expect(built.map(([name]) => name).sort()).toEqual([...ORDERFLOW_SERVICES].sort());
    expect(new Set(built.map(([, service]) => service.image))).toEqual(new Set(['orderflow:local']));
    for (const [name, service] of Object.entries(services)) {
      if (service.build !== undefined) continue;
      expect({ name, image: service.image }).toEqual({
        name,
        image: expect.stringMatching(/^[\w./-]+:\d+\.\d+[\w.-]*$/),
      });
    }
  });

  test('when the Temporal cluster runs, then server and admin-tools are the release test:cluster builds', () => {
    expect(services.temporal?.image).toBe(`temporalio/server:${TEMPORAL_SERVER_VERSION}`);
    expect(services['temporal-schema']?.image).toMatch(
      new RegExp(`^temporalio/admin-tools:${TEMPORAL_SERVER_VERSION.replace(/\./g, '\\.')}-`),
    );
    expect(services.temporal?.image).not.toMatch(/auto-setup/);
  });

  test('when ports are published, then no host port is used twice and the worker publishes none (it scales)', () => {
    const published = Object.entries(services).flatMap(([name, service]) =>
      (service.ports ?? []).map((mapping) => ({ name, port: publishedPort(mapping) })),
    );
    expect(published.every(({ port }) => Number.isInteger(port))).toBe(true);
    const ports = published.map(({ port }) => port);
    expect(new Set(ports).size).toBe(ports.length);
    expect(services.worker?.ports ?? []).toEqual([]);
    for (const [name, service] of Object.entries(services))
      expect({ name, containerName: service.container_name }).toEqual({ name, containerName: undefined });
  });

  test('when the stack comes up, then depends_on conditions start it in order', () => {
    const dependsOn = (name: string): Record<string, string> =>
      Object.fromEntries(
        Object.entries(services[name]?.depends_on ?? {}).map(([dep, { condition }]) => [dep, condition]),
      );
    expect(dependsOn('temporal-schema')).toEqual({ postgres: 'service_healthy' });
    expect(dependsOn('temporal')).toEqual({ 'temporal-schema': 'service_completed_successfully' });
    expect(dependsOn('temporal-setup')).toEqual({ temporal: 'service_healthy' });
    expect(dependsOn('migrate')).toEqual({ postgres: 'service_healthy' });
    for (const name of ['api', 'worker']) {
      expect(dependsOn(name)).toEqual({
        migrate: 'service_completed_successfully',
        'temporal-setup': 'service_completed_successfully',
        redis: 'service_healthy',
      });
    }
    expect(dependsOn('realtime')).toEqual({ migrate: 'service_completed_successfully', redis: 'service_healthy' });
    // Every service waited on as healthy has a healthcheck, and every long-running service has one and restarts.
    for (const [name, service] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(service.depends_on ?? {})) {
        if (condition === 'service_healthy')
          expect({ name, dep, healthcheck: services[dep]?.healthcheck?.test !== undefined }).toEqual({
            name,
            dep,
            healthcheck: true,
          });
      }
    }
    for (const name of ['postgres', 'redis', 'temporal', 'api', 'worker', 'realtime', 'codec-server']) {
      expect({ name, healthcheck: services[name]?.healthcheck?.test !== undefined }).toEqual({
        name,
        healthcheck: true,
      });
      expect({ name, restart: services[name]?.restart }).toEqual({ name, restart: 'unless-stopped' });
    }
  });

  test('when a required secret is missing, then Compose refuses to start and names it', () => {
    for (const secret of REQUIRED_SECRETS) {
      const { [secret]: _missing, ...others } = SECRET_VALUES;
      const result = composeConfig(others);
      expect({ secret, refused: result.status !== 0, named: result.stderr.includes(secret) }).toEqual({
        secret,
        refused: true,
        named: true,
      });
    }
  });

  test('when the Temporal containers start, then the temporal-config/ files they mount and run exist', () => {
    for (const name of ['postgres', 'temporal-schema', 'temporal']) {
      for (const volume of services[name]?.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
        if (source !== undefined && source.startsWith('/'))
          expect({ name, source, exists: existsSync(source) }).toEqual({ name, source, exists: true });
      }
    }
    const inContainer = (file: string): string =>
      `/orderflow/temporal-config/${path.relative(path.join(root, 'temporal-config'), file)}`;
    expect(services.temporal?.entrypoint).toEqual(['/bin/sh', inContainer(CLUSTER_FILES.startServer)]);
    expect(services['temporal-schema']?.entrypoint).toEqual(['/bin/sh', inContainer(CLUSTER_FILES.setupSchema)]);
  });
});

describe('.env.example', () => {
  const example = read('.env.example');
  const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] as string));

  test('when an operator copies it, then it names every variable docker-compose.yml takes from .env', () => {
    const referenced = [...read('docker-compose.yml').matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] as string);
    expect([...new Set(referenced)].filter((variable) => !documented.has(variable))).toEqual([]);
  });

  test('when copied as is, then no secret has a value', () => {
    for (const secret of REQUIRED_SECRETS) expect(example).toMatch(new RegExp(`^${secret}=$`, 'm'));
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  test('when built, then base images are pinned tags, the runtime is non-root and runs the prebuilt bundle', () => {
    const defaults: Record<string, string> = Object.fromEntries(
      [...dockerfile.matchAll(/^ARG (\w+)=(\S+)/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
    const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) =>
      (m[1] as string).replace(/^\$\{(\w+)\}$/, (_, arg: string) => defaults[arg] ?? arg),
    );
    expect(bases.length).toBeGreaterThanOrEqual(2);
    for (const base of bases) expect(base).toMatch(/^node:20\.\d+[\w.-]*-slim(@sha256:[0-9a-f]{64})?$/);
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/WORKFLOW_BUNDLE_PATH=\/app\/dist\/workflow-bundle\.js/);
    expect(runtime).not.toMatch(/npm (ci|install)/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.build).toBe('node --import tsx scripts/build.ts');
    const build = read('scripts/build.ts');
    expect(build).toContain("'tsconfig.build.json'");
    expect(build).toContain('writeWorkflowBundle(DEFAULT_BUNDLE_PATH)');
  });

  test('when the image starts, then the entrypoint knows every process the stack runs', () => {
    const entrypoint = read('scripts/docker-entrypoint.sh');
    for (const command of ['api', 'worker', 'realtime', 'codec-server', 'migrate', 'setup'])
      expect(entrypoint).toMatch(new RegExp(`^\\s+${command}\\) exec node dist/`, 'm'));
  });

  test('when the build stage runs tsc, then what it copies (through .dockerignore) is all tsconfig.build.json needs', () => {
    const buildStage = dockerfile.slice(0, dockerfile.lastIndexOf('\nFROM '));
    const copied = [...buildStage.matchAll(/^COPY (?!--)(.+) \S+$/gm)].flatMap((m) => (m[1] as string).split(' '));
    const ignore = read('.dockerignore').split('\n');
    const context = mkdtempSync(path.join(os.tmpdir(), 'orderflow-image-'));
    try {
      for (const source of copied) {
        const folder = statSync(path.join(root, source)).isDirectory();
        expect(ignore).toContain(`!${source}${folder ? '/' : ''}`);
        const excluded = (file: string): boolean => file.endsWith('.test.ts') || path.basename(file).startsWith('.env');
        cpSync(path.join(root, source), path.join(context, source), { recursive: true, filter: (f) => !excluded(f) });
      }
      symlinkSync(path.join(root, 'node_modules'), path.join(context, 'node_modules'));
      const tsc = [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--noEmit'];
      const compiled = spawnSync(process.execPath, tsc, { cwd: context, encoding: 'utf8' });
      expect(compiled.stdout + compiled.stderr).toBe('');
      expect(compiled.status).toBe(0);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });

  test('when the context is sent, then local state and secrets stay out', () => {
    const ignore = read('.dockerignore').split('\n');
    expect(ignore[ignore.findIndex((line) => !line.startsWith('#'))]).toBe('**');
    expect(ignore).toEqual(expect.arrayContaining(['**/.env']));
  });
});

describe('temporal-config', () => {
  test('when the cluster and the dev server run, then they share the dynamic config (except dev-only cache refresh)', () => {
    const cluster = YAML.parse(readFileSync(CLUSTER_FILES.dynamicConfig, 'utf8')) as Record<
      string,
      { value: unknown }[]
    >;
    const devOnly = new Set(['system.forceSearchAttributesCacheRefreshOnRead']);
    const dev = Object.fromEntries(Object.entries(DYNAMIC_CONFIG).filter(([key]) => !devOnly.has(key)));
    expect(Object.fromEntries(Object.entries(cluster).map(([key, entries]) => [key, entries[0]?.value]))).toEqual(dev);
  });

  test('when search attributes are registered, then search-attributes.json matches what workflows upsert', () => {
    const typeNames: Record<string, string> = {
      KEYWORD: 'Keyword',
      INT: 'Int',
      TEXT: 'Text',
      DOUBLE: 'Double',
      BOOL: 'Bool',
      DATETIME: 'Datetime',
      KEYWORD_LIST: 'KeywordList',
    };
    const fromWorkflows = Object.fromEntries(
      Object.values(SEARCH_ATTRIBUTES).map((key) => [key.name, typeNames[key.type] ?? key.type]),
    );
    expect(fromWorkflows).toEqual(SEARCH_ATTRIBUTE_TYPES);
  });
});
