/**
 * Our entry points (`api/main.ts`, `worker/main.ts`, `realtime/main.ts`) as real child processes, started the way a
 * deployment starts them (`node --import tsx <entry>`, configured by environment only) against the test services,
 * through the stack toolkit (stack/process.ts).
 */
import type { ChildProcess } from 'node:child_process';
import type { Config } from '../../lib/config';
import { appEnv, nodeEntry, startProcess } from '../../stack';
import { waitFor } from './wait';

/** One of our entry points running as its own OS process. */
export interface EntryProcess {
  name: string;
  child: ChildProcess;
  /** Everything it wrote so far on stdout and stderr (our logs are JSON lines on stderr). */
  output(): string;
  /** Its JSON log lines so far, each parsed once as it arrived; anything else it wrote is not here. */
  logs: LogLine[];
  /** Exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** One parsed JSON log line (`time`, `level`, `name`, `msg` and the logged fields). */
export type LogLine = Record<string, unknown>;

/** Every process this test file started (jest loads this module once per test file), for `killEntryPoints`. */
const started: EntryProcess[] = [];

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** The environment a deployment gives a process, on the test services and the suite's queue and prefix; `extra` wins. */
export function entryPointEnv(config: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { databaseUrl, redisUrl, redisKeyPrefix } = config;
  const { address: temporalAddress, namespace, taskQueue } = config.temporal;
  return appEnv(
    { databaseUrl, redisUrl, redisKeyPrefix, temporalAddress, namespace, taskQueue },
    {
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      JWT_SECRET: config.jwtSecret,
      PAYMENT_LATENCY_MS: '0',
      ...extra,
    },
  );
}

/** Starts `entry` (a path from the repository root) with exactly `env` and collects what it writes. */
export function spawnEntryPoint(name: string, entry: string, env: NodeJS.ProcessEnv): EntryProcess {
  const logs: LogLine[] = [];
  const onLine = (line: string): void => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      // not a log line (e.g. a warning from Node itself)
    }
  };
  const proc = startProcess(name, { args: nodeEntry(entry), env, keepLines: Infinity, onLine });
  const exited = proc.exited.then(() => proc.child.exitCode);
  const entryProcess: EntryProcess = { name, child: proc.child, output: () => proc.output(), logs, exited };
  started.push(entryProcess);
  return entryProcess;
}

/** The JSON log lines `proc` wrote so far; anything else it wrote is skipped. */
export function logLines(proc: EntryProcess): LogLine[] {
  return proc.logs;
}

/** Resolves with the first line `proc` logs with `msg` equal to `message`; fails with its output if it exits first. */
export async function waitForLog(proc: EntryProcess, message: string, timeoutMs?: number): Promise<LogLine> {
  const found = await waitFor(
    `${proc.name} to log "${message}"`,
    () => {
      const line = logLines(proc).find((logged) => logged.msg === message);
      if (line !== undefined || !running(proc.child)) return { line };
      return undefined;
    },
    timeoutMs,
  );
  if (found.line === undefined) {
    const how = proc.child.exitCode ?? proc.child.signalCode;
    throw new Error(`${proc.name} exited (${String(how)}) before logging "${message}":\n${proc.output()}`);
  }
  return found.line;
}

/** The URL the process logged it listens on (its first log line with a `url`). */
export function urlOf(proc: EntryProcess): string {
  const url = logLines(proc).find((line) => typeof line.url === 'string')?.url;
  if (typeof url !== 'string') throw new Error(`${proc.name} logged no url`);
  return url;
}

/** SIGKILLs every process this test file started that is still running: for `afterAll`, after a failed test. */
export function killEntryPoints(): void {
  for (const proc of started) if (running(proc.child)) proc.child.kill('SIGKILL');
}
