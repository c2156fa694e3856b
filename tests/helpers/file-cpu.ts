/**
 * vitest setup file: the CPU each test file cost, attached to the file's
 * report (summary-reporter.ts lists the costliest and the total). Wall time
 * says little on a shared machine, where a file that sleeps on a timer and one
 * that transcodes look alike; CPU is what another file or the machine's other
 * work has to wait for.
 *
 * Counted from here (set-up files load before the test file is imported, so its
 * imports count) to the file's last after-hook: this process's own CPU, and
 * that of the child processes it waited for (agents, ffmpeg, the browser and
 * theirs), from /proc on Linux; elsewhere only the process's own.
 */
import { afterAll } from 'vitest';
import { STAT_FIELD, statCpuMs } from '../../server/proc-stat.ts';

declare module 'vitest' {
  interface TaskMeta {
    /** Milliseconds of CPU: the test file's process, and the children it waited for. */
    cpu?: { ownMs: number; childrenMs: number };
  }
}

/** CPU time of the children this process waited for (cutime + cstime). */
const childrenMs = () => statCpuMs('/proc/self/stat', STAT_FIELD.cutime, STAT_FIELD.cstime) ?? 0;

const ownMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const start = { own: ownMs(), children: childrenMs() };

// Set-up files' after-hooks run after the file's own (they run in reverse order), so its servers have stopped.
// biome-ignore lint/correctness/noEmptyPattern: vitest reads a hook's first parameter as its fixtures and accepts only a pattern; the file is the second.
afterAll(({}, file) => {
  file.meta.cpu = { ownMs: Math.round(ownMs() - start.own), childrenMs: childrenMs() - start.children };
});
