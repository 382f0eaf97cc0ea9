/**
 * Where the CPU went during a measured window: CPU seconds of each process (`/proc/<pid>/stat`, utime + stime), of
 * the bench itself, and the machine's busy share (`/proc/stat`: how much of the cores other work took). Linux only.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc` times (USER_HZ; 100 on every mainstream Linux build). */
const TICKS_PER_SECOND = 100;

/** CPU seconds a process has used so far, or undefined when it cannot be read. */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((sum, value) => sum + value, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** CPU seconds per process name over a window, and the busy share (0..1) of the whole machine, whoever used it. */
export interface CpuUsage {
  seconds: Record<string, number>;
  machineBusy: number | undefined;
  wallSeconds: number;
}

/**
 * Samples `pids()` (name -> pid groups) at `start()` and `stop()`; the bench process itself is `bench`. Pass every
 * process alive at `start()`: one missing then is taken as born during the window.
 */
export function cpuWindow(pids: () => Record<string, number[]>): { start(): void; stop(): CpuUsage } {
  let before: Map<string, Map<number, number>> = new Map();
  let machineBefore: ReturnType<typeof machineTicks>;
  let selfBefore = process.cpuUsage();
  let startedAt = 0;
  const sample = (): Map<string, Map<number, number>> => {
    const out = new Map<string, Map<number, number>>();
    for (const [name, group] of Object.entries(pids())) {
      const times = new Map<number, number>();
      for (const pid of group) {
        const seconds = processCpuSeconds(pid);
        if (seconds !== undefined) times.set(pid, seconds);
      }
      out.set(name, times);
    }
    return out;
  };
  return {
    start() {
      before = sample();
      machineBefore = machineTicks();
      selfBefore = process.cpuUsage();
      startedAt = Date.now();
    },
    stop() {
      const seconds: Record<string, number> = {};
      for (const [name, times] of sample()) {
        let used = 0;
        // A process first seen at the end (a pool connection opened meanwhile) was born in the window: all its CPU
        // counts. One gone by the end is missed (its last stretch is lost, never misattributed).
        for (const [pid, end] of times) used += end - (before.get(name)?.get(pid) ?? 0);
        seconds[name] = used;
      }
      const self = process.cpuUsage(selfBefore);
      seconds.bench = (self.user + self.system) / 1e6;
      const machineAfter = machineTicks();
      const machineBusy =
        machineBefore === undefined || machineAfter === undefined || machineAfter.total === machineBefore.total
          ? undefined
          : (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total);
      return { seconds, machineBusy, wallSeconds: (Date.now() - startedAt) / 1000 };
    },
  };
}
