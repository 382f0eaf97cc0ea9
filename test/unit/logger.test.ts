/**
 * The logger never writes payment tokens, fingerprints, credentials or key material: not as fields, not inside
 * messages or errors, not as the payload bytes the Temporal SDK hands its logger, not hidden deep in an object.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { signToken } from '../../lib/auth';
import { DEV_JWT_SECRET, DEV_PAYLOAD_CODEC_KEYS, loadConfig } from '../../lib/config';
import { createLogger, redact } from '../../lib/logger';
import { temporalLogger } from '../../worker/temporal-logger';

const TOKEN = 'tok_secret_3f1c9e2a-logger';
const FINGERPRINT = '9b2f6c0e8d4a1b7c3e5f9a0d2c4b6e8f';

/** A logger at debug level whose lines land in an array. */
function capture() {
  const lines: string[] = [];
  const logger = createLogger('test', 'debug', {}, (line) => lines.push(line));
  return { logger, lines, text: () => lines.join('') };
}

/**
 * Everything a log line reveals once bytes are decoded: the line itself plus the text of every byte dump in it, as
 * JSON prints a Buffer walked key by key (`{"0":123,"1":34,...}`) or by `toJSON` (`{"type":"Buffer","data":[...]}`).
 */
function revealed(line: string): string {
  const dumps = [
    ...[...line.matchAll(/\{(?:"\d+":\d+,?)+\}/g)].map((m) => Object.values(JSON.parse(m[0]) as number[])),
    ...[...line.matchAll(/"data":\[([\d,]+)\]/g)].map((m) => m[1]!.split(',').map(Number)),
  ];
  return [line, ...dumps.map((bytes) => Buffer.from(bytes).toString('latin1'))].join('\n');
}

describe('lib/logger', () => {
  test('when fields carry tokens, fingerprints, credentials or headers, then only [redacted] is written', () => {
    const { logger, lines } = capture();
    logger.info('charging', {
      orderId: 'o-1',
      paymentToken: TOKEN,
      payment: { token: TOKEN, card_fingerprint: FINGERPRINT },
      headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', 'x-api-key': 'k-123456789', 'set-cookie': 'a' },
      config: { jwtSecret: 'sekrit-value', TEMPORAL_API_KEY: 'api-key-value', privateKey: 'pem-value' },
      items: [{ token: TOKEN }],
    });

    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({ msg: 'charging', orderId: 'o-1', paymentToken: '[redacted]' });
    expect(entry.payment).toEqual({ token: '[redacted]', card_fingerprint: '[redacted]' });
    expect(Object.values(entry.headers)).toEqual(['[redacted]', '[redacted]', '[redacted]', '[redacted]']);
    expect(Object.values(entry.config)).toEqual(['[redacted]', '[redacted]', '[redacted]']);
    for (const secret of [TOKEN, FINGERPRINT, 'sekrit-value', 'api-key-value', 'pem-value', 'k-123456789']) {
      expect(lines[0]).not.toContain(secret);
    }
  });

  test('when a message, a value or an error carries a JWT or a bearer credential, then it is scrubbed', () => {
    const { logger, text } = capture();
    const jwt = signToken('ops', DEV_JWT_SECRET, { role: 'admin' });
    logger.warn(`rejected ${jwt}`, {
      url: `/socket.io/?EIO=4&auth=${jwt}`,
      header: 'Bearer opaque-credential-123',
      err: new Error(`upstream said: Authorization: Bearer ${jwt}`),
    });

    expect(text()).not.toContain(jwt);
    expect(text()).not.toContain(jwt.split('.')[1]);
    expect(text()).not.toContain('opaque-credential-123');
    expect(text()).toContain('[redacted-jwt]');
    expect(JSON.parse(text()).err).toMatchObject({ message: 'upstream said: Authorization: Bearer [redacted-jwt]' });
  });

  test("when the Temporal SDK logs an activity task with its payloads (trace level), then only the bytes' length is written", () => {
    const { logger, text } = capture();
    const payload = defaultPayloadConverter.toPayload({ orderId: 'o-1', paymentToken: TOKEN });
    // The shape of the worker's `Got activity task` trace log: the decoded task, payloads as protobuf bytes.
    temporalLogger(logger).trace('Got activity task', {
      taskToken: 'CiQ0YjQ2...',
      activityId: '5',
      start: { activityType: 'chargePayment', input: [payload], headerFields: {} },
    });

    const line = text();
    expect(revealed(line)).not.toContain(TOKEN);
    expect(line).toContain('"activityId":"5"');
    expect(line).toMatch(/\[binary \d+ bytes\]/);
    expect(line).not.toContain(Buffer.from(TOKEN).toString('base64'));
  });

  test('when a secret sits deeper than the nesting limit, then the subtree is cut off, not written', () => {
    const { logger, text } = capture();
    let deep: Record<string, unknown> = { innocent: TOKEN };
    for (let i = 0; i < 12; i += 1) deep = { level: deep };
    logger.info('deep', { deep });

    expect(text()).not.toContain(TOKEN);
    expect(text()).toContain('[truncated]');
  });

  test('when fields hold cycles, bigints, dates or the same object twice, then the line is still written', () => {
    const { logger, lines } = capture();
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const shared = { id: 1 };
    logger.info('odd values', { cyclic, big: 2n ** 64n, at: new Date('2025-01-02T03:04:05Z'), a: shared, b: shared });

    expect(JSON.parse(lines[0]!)).toMatchObject({
      cyclic: { name: 'loop', self: '[circular]' },
      big: '18446744073709551616',
      at: '2025-01-02T03:04:05.000Z',
      a: { id: 1 },
      b: { id: 1 },
    });
  });

  test('when a whole configuration is logged, then no secret or key material is written', () => {
    const { logger, text } = capture();
    const config = loadConfig({ JWT_SECRET: 'jwt-secret-value-0123456789abcdef', TEMPORAL_API_KEY: 'temporal-key-1' });
    logger.child({ config }).info('started', { payloadCodecKeys: config.payloadCodecKeys });

    const devKey = DEV_PAYLOAD_CODEC_KEYS.split(':')[1]!;
    for (const secret of ['jwt-secret-value-0123456789abcdef', 'temporal-key-1', devKey]) {
      expect(text()).not.toContain(secret);
    }
    expect(JSON.stringify(redact(config.payloadCodecKeys[0]))).not.toContain(devKey);
  });
});
