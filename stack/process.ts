/**
 * Our processes as children of a launcher, harness or test: spawned with tinyexec, their output lines forwarded,
 * kept in memory or written to a log file, a readiness wait that fails fast when the process dies, an unexpected exit
 * reported once, and a polite stop (a signal, then SIGKILL after a grace period; of a whole detached group too).
 * A harness that kills processes on purpose starts them again with `restartables`. Nothing started here outlives the
 * process that started it: whatever is still running when it exits is SIGKILLed.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { x } from 'tinyexec';
import { waitUntil } from './ready';
import { messageOf } from '../lib/error-text';
import { sleep } from '../lib/sleep';

/** Repository root: where the entry points (`api/main.ts`, `worker/main.ts`, ...) live. */
export const REPO_ROOT = path.resolve(__dirname, '..');

/** One running process. */
export interface StackProcess {
  /** e.g. `worker`, `api`, `relay`, `temporal`, `worker-2`. */
  name: string;
  pid: number;
  child: ChildProcess;
  /** Resolves with how it ended: `exit <code>`, the signal (`SIGKILL`) or `spawn error: <message>`. */
  exited: Promise<string>;
  hasExited(): boolean;
  /** What it wrote so far: the kept lines, or the whole log file. */
  output(): string;
  /** The last `lines` lines of its output, for error messages. */
  tail(lines?: number): string;
  /** Peak resident set (Linux `VmHWM`) in MiB since start or the last `resetPeakRss()`; undefined once exited. */
  peakRssMb(): number | undefined;
  /** Starts a new peak (Linux >= 4.0; elsewhere the peak covers the whole life of the process). */
  resetPeakRss(): void;
  /** Sends `signal` (default SIGTERM), SIGKILL after `graceMs` (default 10 s); resolves with how it ended. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<string>;
}

/** How to start a process. */
export interface ProcessOptions {
  /** Executable. @default the running node binary */
  command?: string;
  args: readonly string[];
  /** @default REPO_ROOT */
  cwd?: string;
  /** The whole environment of the child (nothing is inherited). */
  env: NodeJS.ProcessEnv;
  /** Called with every non-empty output line (stdout and stderr), e.g. `prefixed(name)`. */
  onLine?: (line: string) => void;
  /** How many output lines `output()` keeps in memory. @default 200 */
  keepLines?: number;
  /** Write stdout and stderr straight into this file instead (appended); `output()` then reads it. */
  logFile?: string;
  /** Run as this system user (root starting PostgreSQL as `postgres`). */
  user?: { uid: number; gid: number };
  /** A process group of its own, so a terminal's Ctrl-C reaches only the launcher, which stops it in order. */
  detached?: boolean;
  /** Called once when the process exits before `stop()` was asked for. */
  onUnexpectedExit?: (proc: StackProcess, how: string) => void;
}

/** Arguments that run a TypeScript entry point through tsx with this node: `[...nodeArgs, --import, tsx, entry]`. */
export function nodeEntry(entry: string, nodeArgs: readonly string[] = []): string[] {
  return [...nodeArgs, '--import', 'tsx', entry];
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts a process and follows it; see `ProcessOptions`. */
export function startProcess(name: string, options: ProcessOptions): StackProcess {
  const fd = options.logFile === undefined ? 'pipe' : openSync(options.logFile, 'a');
  const result = x(options.command ?? process.execPath, options.args, {
    throwOnError: false,
    nodePath: false,
    inheritEnv: false,
    nodeOptions: {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env,
      stdio: ['ignore', fd, fd],
      detached: options.detached,
      ...options.user,
    },
  });
  if (typeof fd === 'number') closeSync(fd);
  const child = result.process;
  if (child?.pid === undefined) throw new Error(`could not start ${name}`);
  live.add(child);
  const keep = options.keepLines ?? 200;
  const lines: string[] = [];
  // Output still buffered when the process exits is read before `exited` resolves (at most a second: a grandchild
  // may hold the pipe open).
  const drained = (async () => {
    if (options.logFile !== undefined) return;
    for await (const line of result) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > keep) lines.shift();
      options.onLine?.(line);
    }
  })().catch(() => undefined);
  let done = false;
  let stopping = false;
  const exited = new Promise<string>((resolve) => {
    const finish = (how: string): void => {
      void Promise.race([drained, new Promise((wait) => setTimeout(wait, 1000).unref())]).then(() => {
        if (done) return;
        done = true;
        live.delete(child);
        if (!stopping) options.onUnexpectedExit?.(proc, how);
        resolve(how);
      });
    };
    child.once('exit', (code, signal) => finish(signal ?? `exit ${code ?? '?'}`));
    child.once('error', (error) => finish(`spawn error: ${error.message}`));
  });
  const output = (): string => {
    if (options.logFile === undefined) return lines.join('\n');
    try {
      return readFileSync(options.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const pid = child.pid;
  const proc: StackProcess = {
    name,
    pid,
    child,
    exited,
    hasExited: () => done,
    output,
    tail: (count = 20) => output().trimEnd().split('\n').slice(-count).join('\n'),
    peakRssMb() {
      if (done) return undefined;
      try {
        const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        return match?.[1] === undefined ? undefined : Math.round((Number(match[1]) / 1024) * 10) / 10;
      } catch {
        return undefined;
      }
    },
    resetPeakRss() {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5'); // 5 resets VmHWM to the current RSS
      } catch {
        // not Linux, or not allowed: the peak then covers the whole life of the process
      }
    },
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      stopping = true;
      if (done) return exited;
      child.kill(signal);
      const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), graceMs);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
  };
  return proc;
}

/**
 * Waits until `check` holds for `proc`; fails at once with its last output lines if it exits first, and after
 * `timeoutMs` with "timed out ... waiting for <what>".
 */
export async function waitReady(
  proc: StackProcess,
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  await waitUntil(
    what,
    () => {
      if (proc.hasExited()) throw new Error(`${proc.name} exited while starting:\n${proc.tail()}`);
      return check();
    },
    timeoutMs,
  );
}

/**
 * An `onLine` that writes `[name] line` with `write` (default: stderr); with `perSecond`, at most that many lines a
 * second, cut to 400 characters, with a count of the lines left out (a failing child can log thousands).
 */
export function prefixed(
  name: string,
  write: (line: string) => void = (line) => void process.stderr.write(`${line}\n`),
  perSecond = Infinity,
): (line: string) => void {
  let windowStart = 0;
  let shown = 0;
  let hidden = 0;
  return (line) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      if (hidden > 0) write(`[${name}] (${hidden} more lines not shown)`);
      [windowStart, shown, hidden] = [now, 0, 0];
    }
    if (shown >= perSecond) {
      hidden += 1;
      return;
    }
    shown += 1;
    write(`[${name}] ${perSecond === Infinity || line.length <= 400 ? line : `${line.slice(0, 400)}...`}`);
  };
}

/**
 * Starts a TypeScript entry point of ours (`api/main.ts`, `worker/main.ts`, ...; stack/app.ts's ENTRY_POINTS) through
 * tsx with `env`, and resolves once `ready` holds. Fails fast if it exits first; after `timeoutMs` (default 90 s) it
 * is stopped and the wait's error thrown.
 */
export async function startEntry(
  name: string,
  entry: string,
  options: Omit<ProcessOptions, 'args' | 'command'> & {
    nodeArgs?: readonly string[];
    ready?: (proc: StackProcess) => Promise<boolean> | boolean;
    timeoutMs?: number;
    /** Called as soon as it is spawned, before it is ready: where a launcher registers it for an ordered stop. */
    onSpawn?: (proc: StackProcess) => void;
  },
): Promise<StackProcess> {
  const proc = startProcess(name, { ...options, args: nodeEntry(entry, options.nodeArgs) });
  options.onSpawn?.(proc);
  if (options.ready !== undefined) {
    const ready = options.ready;
    try {
      await waitReady(proc, `${name} to start`, () => ready(proc), options.timeoutMs ?? 90_000);
    } catch (error) {
      await proc.stop();
      throw error;
    }
  }
  return proc;
}

/** A `ready` check that holds once the process logged a line containing `"msg":"<message>"`. */
export const logged =
  (message: string) =>
  (proc: StackProcess): boolean =>
    proc.output().includes(`"msg":"${message}"`);

/**
 * What a launcher started, stopped last-first: `stop()` runs each step once (later calls wait for the same stop),
 * logs a step that fails and goes on with the rest.
 */
export class Teardowns {
  private readonly steps: { what: string; run: () => unknown }[] = [];
  private stopping: Promise<void> | undefined;

  /** @param log where a failed step is reported */
  constructor(private readonly log: (line: string) => void) {}

  /** Adds a step; `what` names it in the failure line. */
  add(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  /** True once `stop()` was called. */
  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  /** Runs every step, newest first. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.run();
        } catch (error) {
          this.log(`could not stop ${step.what}: ${messageOf(error)}`);
        }
      }
    })();
    return this.stopping;
  }
}

/** Stops a child started elsewhere: `signal` (default SIGTERM), SIGKILL after 5 s; resolves once it is gone. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  child.kill(signal);
  await gone;
  clearTimeout(timer);
}

/**
 * Signals the process group of `proc` (spawned `detached`), as a terminal's Ctrl-C does: the whole tree under it
 * gets the signal. A group that is already gone (ESRCH) has nothing left to signal.
 */
export function signalGroup(proc: StackProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-proc.pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** How `proc` ended (`exit 0`, `SIGINT`, ...); rejects when it still runs after `timeoutMs`. */
export function exitedWithin(proc: StackProcess, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs / 1000} s`)), timeoutMs);
  });
  return Promise.race([proc.exited, late]).finally(() => clearTimeout(timer));
}

/** Stops a detached `proc` and everything under it: SIGINT to its group, SIGKILL to it after `timeoutMs`. */
export async function stopGroup(proc: StackProcess, timeoutMs: number): Promise<void> {
  if (proc.hasExited()) return;
  signalGroup(proc, 'SIGINT');
  await exitedWithin(proc, timeoutMs).catch(() => signalGroup(proc, 'SIGKILL'));
}

/** A life of a restartable process (redis-server's stop takes no signal). */
export type Life = { stop(signal?: NodeJS.Signals, graceMs?: number): Promise<unknown> };

/** A process that exited without being asked to. */
export type Crash = { name: string; how: string; at: number; tail: string };

/**
 * Processes a harness kills and starts again (chaos faults): life N of `name` logs to `<logDir>/<name>.<N>.log` in
 * a process group of its own. A life that exits unasked is a crash: recorded, and started again a second later
 * unless `stopped()` (the harness is tearing down).
 */
export function restartables(logDir: string, log: (line: string) => void, stopped: () => boolean) {
  type Spawn = Pick<ProcessOptions, 'detached' | 'logFile' | 'onUnexpectedExit'>;
  const slots = new Map<string, { life: number; current: Life | undefined; start(): Promise<Life> }>();
  const crashes: Crash[] = [];
  const slot = (name: string) => {
    const found = slots.get(name);
    if (found === undefined) throw new Error(`no process ${name}`);
    return found;
  };
  const start = async (name: string): Promise<void> => {
    const found = slot(name);
    found.life += 1;
    found.current = await found.start();
  };
  const onUnexpectedExit = (proc: StackProcess, how: string): void => {
    if (stopped()) return;
    crashes.push({ name: proc.name, how, at: Date.now(), tail: proc.tail(15) });
    log(`${proc.name} exited on its own (${how}); starting it again`);
    if (slots.get(proc.name)?.current !== proc) return;
    setTimeout(() => {
      if (stopped()) return;
      start(proc.name).catch((error: unknown) => log(`could not restart ${proc.name}: ${String(error)}`));
    }, 1000);
  };
  const stop = async (name: string, signal?: NodeJS.Signals, graceMs?: number): Promise<void> =>
    void (await slot(name).current?.stop(signal, graceMs));
  return {
    crashes,
    /** Registers `name`; `start` spawns one life of it with the given options. */
    add(name: string, spawn: (options: Spawn) => Promise<Life>): void {
      const added = {
        life: 0,
        current: undefined,
        start: () =>
          spawn({ detached: true, logFile: path.join(logDir, `${name}.${added.life}.log`), onUnexpectedExit }),
      };
      slots.set(name, added);
    },
    /** Starts the next life of `name`; resolves once its spawn did (ready, for our entry points). */
    start,
    /** Stops the current life of `name`, if any (SIGKILL after `graceMs`). */
    stop,
    /** Stops `name` with `signal` (SIGKILL after 8 s), waits `downMs`, starts it again unless the harness stopped. */
    async restart(name: string, signal: NodeJS.Signals, downMs = 0): Promise<void> {
      await stop(name, signal, 8000);
      if (downMs > 0) await sleep(downMs);
      if (!stopped()) await start(name);
    },
  };
}
