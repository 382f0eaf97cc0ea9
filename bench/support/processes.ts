/**
 * Child processes of the bench: our real entry points (`node --import tsx worker/main.ts`, ...) started as separate
 * processes, with their output prefixed onto the bench's stderr, their peak RSS read from `/proc/<pid>/status`, and a
 * polite stop (SIGTERM, then SIGKILL) that also runs when the bench exits abruptly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** A running child process of the bench. */
export interface ChildService {
  name: string;
  pid: number;
  /** Resolves when the process exits (for any reason). */
  exited: Promise<void>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** The last lines the process wrote, for error messages. */
  tail(): string;
  /** Starts a new peak: the next `peakRssMb()` reports the highest RSS from now on. */
  resetPeakRss(): void;
  /** Peak resident set size (VmHWM) in MiB since start or the last reset; undefined once exited or off Linux. */
  peakRssMb(): number | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of `spawnService`. */
export interface SpawnOptions {
  /** Executable; @default the running node binary. */
  command?: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where the child's output lines go (prefixed with its name); @default the bench's stderr. */
  write?: (line: string) => void;
  /** Called once if the process exits before `stop()` was asked for. */
  onUnexpectedExit?: (service: ChildService, description: string) => void;
}

const TAIL_LINES = 40;
/** At most this many lines per second of one child reach the bench's output (a failing child can log thousands). */
const FORWARDED_LINES_PER_SECOND = 3;
/** Forwarded lines are cut to this length (stack traces arrive as one JSON line). */
const FORWARDED_LINE_LENGTH = 400;
const live = new Set<ChildProcess>();

// Last resort when the bench dies without running its cleanup (an uncaught error, process.exit): nothing we started
// may outlive us.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Reads the peak resident set (`VmHWM`) of `/proc/<pid>/status` in MiB. */
function peakRssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return match?.[1] === undefined ? undefined : Math.round((Number(match[1]) / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

/** Starts a child process and follows it. */
export function spawnService(name: string, options: SpawnOptions): ChildService {
  const write = options.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const child = spawn(options.command ?? process.execPath, options.args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  live.add(child);
  const lines: string[] = [];
  let windowStart = 0;
  let forwarded = 0;
  let suppressed = 0;
  const forward = (line: string): void => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      if (suppressed > 0) write(`[${name}] (${suppressed} more lines not shown)`);
      windowStart = now;
      forwarded = 0;
      suppressed = 0;
    }
    if (forwarded >= FORWARDED_LINES_PER_SECOND) {
      suppressed += 1;
      return;
    }
    forwarded += 1;
    write(`[${name}] ${line.length > FORWARDED_LINE_LENGTH ? `${line.slice(0, FORWARDED_LINE_LENGTH)}...` : line}`);
  };
  const follow = (stream: NodeJS.ReadableStream | null): void => {
    let buffer = '';
    stream?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const line of parts) {
        if (line.trim() === '') continue;
        lines.push(line);
        if (lines.length > TAIL_LINES) lines.shift();
        forward(line);
      }
    });
  };
  follow(child.stdout);
  follow(child.stderr);

  let stopping = false;
  let done = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      live.delete(child);
      if (!stopping) options.onUnexpectedExit?.(service, signal === null ? `exit code ${code}` : `signal ${signal}`);
      resolve();
    });
  });
  const pid = child.pid;
  const service: ChildService = {
    name,
    pid,
    exited,
    hasExited: () => done,
    tail: () => lines.join('\n'),
    resetPeakRss() {
      // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0); elsewhere peaks are since start.
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
      } catch {
        // not Linux, or not allowed: the peak then covers the whole life of the process
      }
    },
    peakRssMb: () => (done ? undefined : peakRssMb(pid)),
    async stop(graceMs = 10_000) {
      stopping = true;
      if (done) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
  return service;
}
