/** `npm run gateway -- outage on|off|status`: flips or shows the simulated payment gateway's outage switch. */
import { gatewaySwitchEnabled, OUTAGE_SWITCH, setGatewaySwitch } from '../activities/payments';
import { parseCommandLine, usageError, type Command } from '../lib/cli';
import { runMain, withDb } from './command';

const GATEWAY: Command = {
  name: 'gateway',
  usage: 'usage: npm run gateway -- outage on|off|status',
  summary:
    "Flips or shows the simulated payment gateway's outage switch. Every worker reads the switch from the database on each charge, so it takes effect at once, cluster-wide.",
  arguments: [
    ['outage on', 'every charge fails transiently (the payment step retries)'],
    ['outage off', 'charges go through again'],
    ['outage status', 'print whether the outage is on'],
  ],
  environment: [
    [
      'DATABASE_URL',
      'the database the workers read (unset: the embedded PostgreSQL of npm start, postgres://postgres:postgres@127.0.0.1:5433/orderflow)',
    ],
  ],
  example: 'npm run gateway -- outage on',
};

runMain('gateway', async () => {
  const { positionals } = parseCommandLine(GATEWAY, { allowPositionals: true });
  const [target, action, extra] = positionals;
  if (target === undefined) usageError(GATEWAY, 'missing the switch name (outage)');
  if (target !== OUTAGE_SWITCH) usageError(GATEWAY, `unknown switch '${target}'`);
  if (action !== 'on' && action !== 'off' && action !== 'status') {
    usageError(GATEWAY, action === undefined ? 'missing the action (on, off or status)' : `unknown action '${action}'`);
  }
  if (extra !== undefined) usageError(GATEWAY, `unexpected argument '${extra}'`);
  const enabled = await withDb(1, async (db) => {
    if (action !== 'status') await setGatewaySwitch(db, OUTAGE_SWITCH, action === 'on');
    return gatewaySwitchEnabled(db, OUTAGE_SWITCH);
  });
  process.stdout.write(`payment gateway outage: ${enabled ? 'on (every charge fails transiently)' : 'off'}\n`);
});
