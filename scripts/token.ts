/**
 * `npm run token -- <customerId> [--admin] [--ttl 12h]`: prints a JWT for the API and the realtime relay, signed with
 * JWT_SECRET (the dev secret unless set). For development and demos; production tokens come from your identity
 * provider.
 */
import { parseArgs } from 'node:util';
import { signToken } from '../lib/auth';
import { loadConfigOrExit, parseDuration } from '../lib/config';

const USAGE = 'usage: npm run token -- <customerId> [--admin] [--ttl 12h]';

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const OPTIONS = {
  admin: { type: 'boolean' },
  ttl: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}

function main(): void {
  const parsed = parse(process.argv.slice(2));
  if (parsed.values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const [customerId, ...extra] = parsed.positionals;
  if (customerId === undefined || customerId.trim() === '') fail('a customer id is required');
  if (extra.length > 0) fail(`unexpected argument "${extra[0]}"`);
  if (customerId.length > 128) fail('the customer id must be at most 128 characters');
  const ttl = parsed.values.ttl ?? '12h';
  const ttlMs = parseDuration(ttl);
  if (ttlMs === undefined || ttlMs < 1000) fail(`--ttl: expected a duration like 30m, 12h or 7d, got "${ttl}"`);
  const config = loadConfigOrExit();
  const token = signToken(customerId, config.jwtSecret, {
    role: parsed.values.admin === true ? 'admin' : 'customer',
    expiresIn: Math.floor(ttlMs / 1000),
  });
  process.stdout.write(`${token}\n`);
}

main();
