/**
 * `npm run gateway -- outage on|off|status`: flips or shows the simulated payment gateway's outage switch. Every
 * worker reads the switch from the database on each charge, so it takes effect at once, cluster-wide.
 */
import { parseArgs } from 'node:util';
import { gatewaySwitchEnabled, OUTAGE_SWITCH, setGatewaySwitch } from '../activities/payments';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';

const USAGE = 'usage: npm run gateway -- outage on|off|status';

async function main(): Promise<number> {
  const positionals = (() => {
    try {
      return parseArgs({ args: process.argv.slice(2), options: {}, allowPositionals: true }).positionals;
    } catch {
      return []; // an option: none is known
    }
  })();
  const [target, action, ...rest] = positionals;
  if (target !== OUTAGE_SWITCH || (action !== 'on' && action !== 'off' && action !== 'status') || rest.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrExit();
  const db = createDb({ url: config.databaseUrl, poolMax: 1 });
  try {
    if (action !== 'status') await setGatewaySwitch(db, OUTAGE_SWITCH, action === 'on');
    const enabled = await gatewaySwitchEnabled(db, OUTAGE_SWITCH);
    process.stdout.write(`payment gateway outage: ${enabled ? 'on (every charge fails transiently)' : 'off'}\n`);
    return 0;
  } finally {
    await db.destroy();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`gateway: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
