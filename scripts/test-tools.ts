/** Run by `npm test` before jest: provisions the test tools (stack/tools.ts), or says in one line what to do. */
import { ConfigError, loadToolingConfig } from '../lib/config';
import { provisionTestTools, SetupError } from '../stack';
import { messageOf } from '../lib/error-text';

Promise.resolve()
  .then(() => provisionTestTools(loadToolingConfig(), (line) => process.stderr.write(`[test tools] ${line}\n`)))
  .catch((error: unknown) => {
    const known = error instanceof SetupError || error instanceof ConfigError;
    const message = messageOf(error);
    process.stderr.write(`orderflow: cannot prepare the test tools: ${known ? message : `${message} (unexpected)`}\n`);
    process.exit(1);
  });
