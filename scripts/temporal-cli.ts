/**
 * `npm run temporal:cli`: finds or builds the Temporal CLI (stack/temporal.ts gives the order) and prints its path on
 * stdout, where it came from on stderr.
 */
import { loadToolingConfig } from '../lib/config';
import { resolveTemporalCli } from '../stack';

async function main(): Promise<void> {
  const tooling = loadToolingConfig();
  const resolved = await resolveTemporalCli({ tooling, progress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${resolved.source === 'sdk-download' ? '(sdk download)' : resolved.path}\n`);
  process.stderr.write(`source: ${resolved.source}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`orderflow: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
