/** `npm run token -- <customerId> [--admin] [--ttl 12h]`: prints a dev JWT signed with JWT_SECRET. */
import { customerIdSchema, signToken } from '../lib/auth';
import { parseCommandLine, usageError, type Command } from '../lib/cli';
import { loadConfigOrExit, parseDuration } from '../lib/config';

const TOKEN: Command = {
  name: 'token',
  usage: 'usage: npm run token -- <customerId> [--admin] [--ttl 12h]',
  summary:
    'Prints a JWT for the API and the realtime relay, signed with JWT_SECRET. For development and demos; production tokens come from your identity provider.',
  arguments: [
    ['<customerId>', 'whom the token is for (at most 128 characters)'],
    ['--admin', 'an admin token instead of a customer token'],
    ['--ttl D', 'lifetime, like 30m, 12h or 7d (default 12h, at least 1s)'],
  ],
  environment: [
    ['JWT_SECRET', 'the signing secret (default: the dev secret, which NODE_ENV=production refuses)'],
    ['NODE_ENV', 'development, test or production'],
  ],
  example: 'TOKEN=$(npm run -s token -- demo-customer)',
};

function main(): void {
  const parsed = parseCommandLine(TOKEN, {
    options: { admin: { type: 'boolean' }, ttl: { type: 'string' } },
    allowPositionals: true,
  });
  const [customerId, ...extra] = parsed.positionals;
  if (customerId === undefined || customerId.trim() === '') usageError(TOKEN, 'a customer id is required');
  if (extra.length > 0) usageError(TOKEN, `unexpected argument '${extra[0]}'`);
  // The API and the relay refuse a token whose `sub` is not a storable customer id (lib/auth.ts): never mint one.
  const checked = customerIdSchema.safeParse(customerId);
  if (!checked.success) usageError(TOKEN, `the customer id ${checked.error.issues[0]?.message ?? 'is not valid'}`);
  const ttl = parsed.values.ttl ?? '12h';
  const ttlMs = parseDuration(ttl);
  if (ttlMs === undefined || ttlMs < 1000)
    usageError(TOKEN, `--ttl: expected a duration like 30m, 12h or 7d, got "${ttl}"`);
  const config = loadConfigOrExit();
  const token = signToken(customerId, config.jwtSecret, {
    role: parsed.values.admin === true ? 'admin' : 'customer',
    expiresIn: Math.floor(ttlMs / 1000),
  });
  process.stdout.write(`${token}\n`);
}

main();
