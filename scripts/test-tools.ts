/**
 * Run by the `npm test` launcher before jest: provisions the Temporal CLI, a headless Chromium and the Compose loader
 * (stack/tools.ts) with progress lines, and on failure prints one line saying what to do and exits 1.
 */
import { ConfigError, loadToolingConfig } from '../lib/config';
import { provisionTestTools, SetupError } from '../stack';

Promise.resolve()
  .then(() => provisionTestTools(loadToolingConfig(), (line) => process.stderr.write(`[test tools] ${line}\n`)))
  .catch((error: unknown) => {
    const known = error instanceof SetupError || error instanceof ConfigError;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`orderflow: cannot prepare the test tools: ${known ? message : `${message} (unexpected)`}\n`);
    process.exit(1);
  });
