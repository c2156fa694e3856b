/**
 * Reading Linux's per-process and per-thread stat files (proc(5)):
 * /proc/PID/stat, /proc/self/task/TID/stat, /proc/thread-self/stat. The
 * command name, field 2, is in parentheses and may itself hold spaces and
 * parentheses, so fields are counted from after its last closing one.
 */
import fs from 'node:fs';

/** proc(5)'s fields, as indexes into `procStatFields`' answer (which starts at field 3, the state). */
export const STAT_FIELD = { ppid: 1, utime: 11, stime: 12, cutime: 13, cstime: 14, nice: 16 } as const;

/** Milliseconds per tick of the CPU-time fields: USER_HZ, 100 a second on Linux. */
export const STAT_TICK_MS = 10;

/** The fields after the command name (index 0 is field 3), or undefined where the file cannot be read: gone, or not Linux. */
export function procStatFields(file: string): string[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
}

/** CPU time (ms) in two of a stat file's tick fields, summed (utime + stime, or cutime + cstime); undefined where unreadable. */
export function statCpuMs(file: string, a: number, b: number): number | undefined {
  const f = procStatFields(file);
  if (!f) return undefined;
  const ticks = Number(f[a]) + Number(f[b]);
  return Number.isFinite(ticks) ? ticks * STAT_TICK_MS : undefined;
}
