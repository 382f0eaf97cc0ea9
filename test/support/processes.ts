/** Our entry points as real child processes on the test services, started as a deployment does (stack/process.ts). */
import type { ChildProcess } from 'node:child_process';
import type { Config } from '../../lib/config';
import { appEnv, nodeEntry, startProcess } from '../../stack';
import { waitFor } from './wait';

/** One of our entry points running as its own OS process. */
export interface EntryProcess {
  name: string;
  child: ChildProcess;
  /** Everything it wrote so far on stdout and stderr. */
  output(): string;
  /** Its JSON log lines so far. */
  logs: LogLine[];
  /** Exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** The first line it logs with `msg` equal to `message`; fails with its output if it exits first. */
  waitForLog(message: string, timeoutMs?: number): Promise<LogLine>;
  /** The URL of its first log line with a `url`. */
  url(): string;
}

/** One parsed JSON log line (`time`, `level`, `name`, `msg` and the logged fields). */
export type LogLine = Record<string, unknown>;

/** Every process this test file started (jest loads this module once per file), for `killEntryPoints`. */
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
  const { child } = proc;
  const waitForLog = async (message: string, timeoutMs?: number): Promise<LogLine> => {
    const found = await waitFor(
      `${name} to log "${message}"`,
      () => {
        const line = logs.find((logged) => logged.msg === message);
        return line !== undefined || !running(child) ? { line } : undefined;
      },
      timeoutMs,
    );
    if (found.line === undefined) {
      const how = child.exitCode ?? child.signalCode;
      throw new Error(`${name} exited (${String(how)}) before logging "${message}":\n${proc.output()}`);
    }
    return found.line;
  };
  const url = (): string => {
    const logged = logs.find((line) => typeof line.url === 'string')?.url;
    if (typeof logged !== 'string') throw new Error(`${name} logged no url`);
    return logged;
  };
  const exited = proc.exited.then(() => child.exitCode);
  const entryProcess: EntryProcess = { name, child, output: () => proc.output(), logs, exited, waitForLog, url };
  started.push(entryProcess);
  return entryProcess;
}

/** SIGKILLs every process this test file started that is still running: for `afterAll`, after a failed test. */
export function killEntryPoints(): void {
  for (const proc of started) if (running(proc.child)) proc.child.kill('SIGKILL');
}
