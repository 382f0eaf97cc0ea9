import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, DEV_JWT_SECRET, DEV_PAYLOAD_CODEC_KEYS, loadConfig, parseDuration } from '../../lib/config';

const root = path.resolve(__dirname, '..', '..');

describe('lib/config', () => {
  it('when nothing is set, then every value has its documented local default', () => {
    const config = loadConfig({});
    expect(config.apiPort).toBe(3000);
    expect(config.realtimePort).toBe(3001);
    expect(config.temporal).toMatchObject({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'orders',
      tls: false,
    });
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.paymentSuccessRate).toBe(0.8);
    expect(config.paymentLatencyMs).toEqual({ minMs: 50, maxMs: 200 });
    expect(config.paymentSlowMs).toBe(3000);
    expect(config.attentionTimeoutMs).toBe(24 * 3_600_000);
    expect(config.reconcileIntervalMs).toBe(60_000);
    expect(config.jwtSecret).toBe(DEV_JWT_SECRET);
    expect(config.databaseUrl).toBe('postgres://postgres:postgres@127.0.0.1:5433/orderflow');
  });

  it('when the payment retry interval is longer than its maximum, then loading fails naming the maximum', () => {
    expect(() => loadConfig({ PAYMENT_RETRY_INITIAL_INTERVAL: '60s' })).toThrow(
      /PAYMENT_RETRY_MAX_INTERVAL: must be at least PAYMENT_RETRY_INITIAL_INTERVAL/,
    );
  });

  it('when EMBEDDED_PG_PORT moves the embedded PostgreSQL, then DATABASE_URL follows it unless it is set', () => {
    expect(loadConfig({ EMBEDDED_PG_PORT: '5440' }).databaseUrl).toBe(
      'postgres://postgres:postgres@127.0.0.1:5440/orderflow',
    );
    const given = 'postgres://app@db.internal:5432/shop';
    expect(loadConfig({ EMBEDDED_PG_PORT: '5440', DATABASE_URL: given }).databaseUrl).toBe(given);
    expect(() => loadConfig({ EMBEDDED_PG_PORT: 'x' })).toThrow(/EMBEDDED_PG_PORT: expected a port number/);
  });

  it.each([
    ['PORT', 'abc', /PORT: expected a port number/],
    ['PORT', '70000', /PORT: expected an integer from 0 to 65535/],
    ['DATABASE_URL', 'not a url', /DATABASE_URL: not a valid URL/],
    ['DATABASE_URL', 'mysql://localhost/x', /DATABASE_URL: expected a postgres: or postgresql: URL/],
    ['REDIS_URL', 'http://localhost', /REDIS_URL: expected a redis: or rediss: URL/],
    ['PAYMENT_SUCCESS_RATE', '1.5', /PAYMENT_SUCCESS_RATE: expected a number from 0 to 1/],
    ['PAYMENT_LATENCY_MS', '200-50', /PAYMENT_LATENCY_MS: the range's upper bound/],
    ['ATTENTION_TIMEOUT', 'soon', /ATTENTION_TIMEOUT: expected a duration/],
    ['RECONCILE_INTERVAL', 'often', /RECONCILE_INTERVAL: expected a duration/],
    ['RECONCILE_INTERVAL', '500ms', /RECONCILE_INTERVAL: must be at least 1000ms/],
    ['TEMPORAL_ADDRESS', 'localhost', /TEMPORAL_ADDRESS: expected host:port/],
    ['NODE_ENV', 'staging', /NODE_ENV: expected one of development, test, production/],
    ['TEMPORAL_TLS', 'maybe', /TEMPORAL_TLS: expected true or false/],
    ['CODEC_PORT', 'abc', /CODEC_PORT: expected a port number/],
    ['CODEC_CORS_ORIGINS', 'http://localhost:8233/', /CODEC_CORS_ORIGINS: expected origins like/],
    ['PAYLOAD_CODEC_KEYS', ',', /PAYLOAD_CODEC_KEYS: expected at least one key/],
  ])('when %s=%s, then loading fails naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('when production runs with the dev JWT secret, then it refuses to start', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET: production needs a real secret/);
    const codecKeys = `prod:${randomBytes(32).toString('base64')}`;
    expect(
      loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), PAYLOAD_CODEC_KEYS: codecKeys }).jwtSecret,
    ).toBe('x'.repeat(40));
  });

  describe('payload codec keys', () => {
    const key = (): string => randomBytes(32).toString('base64');
    const devKey = DEV_PAYLOAD_CODEC_KEYS.slice(DEV_PAYLOAD_CODEC_KEYS.indexOf(':') + 1);

    it('when nothing is set, then development uses the dev key, the codec server port 8888 and the UI origins', () => {
      const config = loadConfig({});
      expect(config.payloadCodecKeys.map((k) => k.id)).toEqual(['dev']);
      expect(config.payloadCodecKeys[0]?.key.export().toString('base64')).toBe(devKey);
      expect(config.codecPort).toBe(8888);
      expect(config.codecCorsOrigins).toEqual(['http://localhost:8233', 'http://127.0.0.1:8233']);
    });

    it('when several keys are listed, then all are kept in order (the first encrypts) as 32-byte secret keys', () => {
      const [a, b] = [key(), key()];
      const config = loadConfig({ PAYLOAD_CODEC_KEYS: ` 2025-06:${a} , 2024-01:${b.replace(/=$/, '')} ` });
      expect(config.payloadCodecKeys.map((k) => [k.id, k.key.type, k.key.symmetricKeySize])).toEqual([
        ['2025-06', 'secret', 32],
        ['2024-01', 'secret', 32],
      ]);
      expect(config.payloadCodecKeys[1]?.key.export().toString('base64')).toBe(b);
      expect(JSON.stringify(config)).not.toContain(a);
    });

    it.each([
      ['an entry without an id', () => key(), /entry 1 is not id:base64/],
      [
        'a key of 16 bytes',
        () => `k1:${randomBytes(16).toString('base64')}`,
        /key "k1" must be the base64 of exactly 32 bytes/,
      ],
      [
        'a key of 33 bytes',
        () => `k1:${randomBytes(33).toString('base64')}`,
        /key "k1" must be the base64 of exactly 32/,
      ],
      ['an id used twice', () => `k1:${key()},k1:${key()}`, /key id "k1" is listed twice/],
      ['an id with a space', () => `my key:${key()}`, /entry 1 is not id:base64/],
    ])('when PAYLOAD_CODEC_KEYS has %s, then loading fails without echoing key material', (_what, make, message) => {
      const raw = make();
      let error: unknown;
      try {
        loadConfig({ PAYLOAD_CODEC_KEYS: raw });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      for (const part of raw.split(/[,:]/).filter((p) => p.length > 20))
        expect((error as Error).message).not.toContain(part);
    });

    it('when production has no keys or lists the published dev key (under any id), then it refuses to start', () => {
      const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40) };
      expect(() => loadConfig(production)).toThrow(/PAYLOAD_CODEC_KEYS: production needs its own keys/);
      expect(() => loadConfig({ ...production, PAYLOAD_CODEC_KEYS: DEV_PAYLOAD_CODEC_KEYS })).toThrow(
        /key "dev" is the published dev key/,
      );
      expect(() => loadConfig({ ...production, PAYLOAD_CODEC_KEYS: `new:${key()},old:${devKey}` })).toThrow(
        /key "old" is the published dev key/,
      );
      expect(loadConfig({ ...production, PAYLOAD_CODEC_KEYS: `prod-1:${key()}` }).payloadCodecKeys).toHaveLength(1);
    });
  });

  it('when only one half of an mTLS pair is given, then loading fails', () => {
    expect(() => loadConfig({ TEMPORAL_TLS_CLIENT_CERT_PATH: '/tmp/c.pem' })).toThrow(/TEMPORAL_TLS_CLIENT_KEY_PATH/);
  });

  it('when an API key is given, then TLS is on by default', () => {
    expect(loadConfig({ TEMPORAL_API_KEY: 'k' }).temporal.tls).toBe(true);
  });

  it('parses durations in every unit', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('1h30m')).toBeUndefined();
  });

  it('when an entry point starts with PORT=abc, then it exits non-zero with one line naming PORT', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      cwd: root,
      env: { ...process.env, PORT: 'abc' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'orderflow: invalid configuration: PORT: expected a port number, got "abc"',
    ]);
  });
});
