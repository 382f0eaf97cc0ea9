/** `npm run temporal:cli`: finds or builds the Temporal CLI (stack/temporal.ts) and prints its path. */
import { parseCommandLine, type Command } from '../lib/cli';
import { loadToolingConfig } from '../lib/config';
import { resolveTemporalCli } from '../stack';
import { runMain } from './command';

const TEMPORAL_CLI: Command = {
  name: 'temporal:cli',
  usage: 'usage: npm run temporal:cli (no arguments)',
  summary:
    'Finds or builds the Temporal CLI and prints its path on stdout (or "(sdk download)"), where it came from on stderr. The order: TEMPORAL_CLI_PATH, temporal on PATH, the cached build, go install into the cache (minutes, once), and last the SDK\'s own download.',
  environment: [
    ['TEMPORAL_CLI_PATH', 'use this temporal binary'],
    ['ORDERFLOW_CACHE_DIR', 'where the CLI build is cached, shared by every clone (default ~/.cache/orderflow)'],
    ['PATH', 'where temporal, and go for a build, are looked up'],
  ],
  example: 'npm run -s temporal:cli',
};

runMain('orderflow', async () => {
  parseCommandLine(TEMPORAL_CLI, {});
  const tooling = loadToolingConfig();
  const resolved = await resolveTemporalCli({ tooling, progress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${resolved.source === 'sdk-download' ? '(sdk download)' : resolved.path}\n`);
  process.stderr.write(`source: ${resolved.source}\n`);
});
