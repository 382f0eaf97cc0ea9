/**
 * The processes a chaos run starts (Temporal dev server, workers, API, relay), each writing stdout and stderr straight
 * into its own log file in the run directory: one file per incarnation (`worker-1.2.log` is the second life of worker
 * 1), so a restart never loses what the previous process wrote and the secret scan sees every line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** One incarnation of a process: its pid, log file and exit. */
export interface ChaosProcess {
  /** e.g. `worker-1`, `api`, `relay`, `temporal`. */
  name: string;
  pid: number;
  logFile: string;
  /** Resolves with how the process ended (`exit 0`, `SIGKILL`, ...). */
  exited: Promise<string>;
  hasExited(): boolean;
  /** True once the harness asked this process to stop (an exit after that is expected). */
  stopRequested(): boolean;
  /** The whole log so far (readiness checks look for a line). */
  log(): string;
  /** The last `lines` lines of the log, for error messages. */
  tail(lines?: number): string;
  /** Sends `signal` and waits for the exit; SIGTERM escalates to SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<string>;
}

/** How to start a process. */
export interface ChaosSpawnOptions {
  name: string;
  /** Incarnation number, part of the log file name. */
  life: number;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  logDir: string;
  /** Called when the process exits without the harness having asked it to. */
  onUnexpectedExit?: (process: ChaosProcess, how: string) => void;
}

/** Every live child of the harness: killed on the way out even if the orderly teardown never runs. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts a process with its output going to `<logDir>/<name>.<life>.log`. */
export function spawnLogged(options: ChaosSpawnOptions): ChaosProcess {
  const logFile = path.join(options.logDir, `${options.name}.${options.life}.log`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', fd, fd],
      // A process group of its own: a Ctrl-C in the terminal reaches the harness only, which then stops every
      // process in order instead of finding them all gone at once (and taking that for crashes).
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${options.name}`);
  live.add(child);
  let done = false;
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    const finish = (how: string): void => {
      if (done) return;
      done = true;
      live.delete(child);
      if (!stopping) options.onUnexpectedExit?.(proc, how);
      resolve(how);
    };
    child.once('exit', (code, signal) => finish(signal ?? `exit ${code ?? '?'}`));
    child.once('error', (error) => finish(`spawn error: ${error.message}`));
  });
  const readLog = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const proc: ChaosProcess = {
    name: options.name,
    pid: child.pid,
    logFile,
    exited,
    hasExited: () => done,
    stopRequested: () => stopping,
    log: readLog,
    tail: (lines = 20) => readLog().trimEnd().split('\n').slice(-lines).join('\n'),
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      stopping = true;
      if (done) return exited;
      child.kill(signal);
      const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), graceMs);
      const how = await exited;
      if (timer !== undefined) clearTimeout(timer);
      return how;
    },
  };
  return proc;
}
