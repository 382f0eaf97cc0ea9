/**
 * The README commands when something is wrong: each failure ends in one line starting `orderflow:` that says what to
 * do, with exit code 1 and no stack trace.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { freePort } from '../../stack';

const root = path.resolve(__dirname, '..', '..');

/** Runs a launcher to its end; returns its exit code and output. */
function run(script: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { cwd: root, env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

/** The lines of `output` that report the failure, and whether any stack frame leaked. */
function failureLines(output: string): { lines: string[]; stackTrace: boolean } {
  const lines = output.split('\n');
  return {
    lines: lines.filter((line) => line.startsWith('orderflow:')),
    stackTrace: lines.some((l) => /^\s+at /.test(l)),
  };
}

describe('launcher failures', () => {
  test('when a setting is invalid, then npm start stops with one line naming the variable', async () => {
    const { code, output } = await run('scripts/start.cjs', { PORT: 'abc' });
    expect(code).toBe(1);
    expect(failureLines(output)).toEqual({
      lines: [expect.stringMatching(/^orderflow: invalid configuration: PORT: /)],
      stackTrace: false,
    });
  });

  test('when the API port is taken, then npm start stops with one line saying how to free or move it', async () => {
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const { code, output } = await run('scripts/start.cjs', { PORT: String(port) });
      expect(code).toBe(1);
      expect(failureLines(output)).toEqual({
        lines: [
          `orderflow: port ${port} (API) is already in use: stop whatever holds it (another OrderFlow? \`lsof -i :${port}\`) or set PORT`,
        ],
        stackTrace: false,
      });
    } finally {
      blocker.close();
    }
  });

  test('when a test tool cannot be provisioned, then npm test stops before jest with one line saying what to do', async () => {
    const missing = path.join(root, 'no-such-chromium');
    const { code, output } = await run('scripts/test.cjs', { CHROMIUM_PATH: missing });
    expect(code).toBe(1);
    expect(failureLines(output)).toEqual({
      lines: [`orderflow: cannot prepare the test tools: CHROMIUM_PATH=${missing} is not an executable file`],
      stackTrace: false,
    });
    expect(output).not.toMatch(/^tests: /m);
  });
});
