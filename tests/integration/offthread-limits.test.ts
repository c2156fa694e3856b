/**
 * What stops a task in a worker thread: the CPU time it uses, not the time
 * the scheduler kept it waiting. On a loaded server an uploaded document's
 * worker runs at nice 10 and may wait long for a core; refusing it for that
 * would refuse valid documents for the server's own load. A task that never
 * ends is still stopped: by its CPU time when it works, by the wall-clock
 * bound (WALL_FACTOR times its allowance) when it only waits.
 */
import { describe, expect, it } from 'vitest';
import { OffThreadError, runOffThread, threadCpuMs, WALL_FACTOR } from '../../server/offthread.ts';

const TASK = new URL('../fixtures/offthread/timing.ts', import.meta.url);
const linux = process.platform === 'linux';

async function outcome(fn: string, input: unknown, timeoutMs: number): Promise<string | OffThreadError> {
  try {
    return await runOffThread<string>(TASK, fn, input, { timeoutMs, maxHeapMb: 64, lane: 'media' });
  } catch (e) {
    if (e instanceof OffThreadError) return e;
    throw e;
  }
}

describe('the limits of an off-thread task', () => {
  it.runIf(linux)("a thread's CPU time is read from /proc, and grows by what the thread computed", () => {
    // The main thread's id is the process id.
    const before = threadCpuMs(process.pid);
    expect(before).toBeTypeOf('number');
    const until = process.cpuUsage();
    // Compute until this process has used 300 ms more CPU (all of it this thread's: nothing else runs here).
    while ((process.cpuUsage(until).user + process.cpuUsage(until).system) / 1000 < 300) Math.sqrt(Math.random());
    // 10 ms ticks, and the process count includes other threads' bits: 200 is well inside.
    expect(threadCpuMs(process.pid)! - before!).toBeGreaterThanOrEqual(200);
    expect(threadCpuMs(999_999_999)).toBeUndefined();
  });

  it.runIf(linux)('a task that waits longer than its allowance without using the CPU finishes', async () => {
    // 3 s of CPU allowed (loading the task's module through tsx counts); 4 s of waiting do not.
    expect(await outcome('waitTask', 4000, 3000)).toBe('waited');
  });

  it('a task that computes without end is stopped, naming its limit', async () => {
    const e = await outcome('spinTask', null, 2000);
    expect(e).toBeInstanceOf(OffThreadError);
    expect(e).toMatchObject({ code: 'LOANET_OFFTHREAD_TIMEOUT' });
    // By its CPU time, or on a machine too loaded to give it 2 s of CPU in 20 s, by the wall-clock bound.
    expect([2000, 2000 * WALL_FACTOR]).toContain((e as OffThreadError).details?.limitMs);
  });

  it('a task that waits for ever is stopped at the wall-clock bound', async () => {
    const e = await outcome('waitTask', null, 300);
    expect(e).toMatchObject({
      code: 'LOANET_OFFTHREAD_TIMEOUT',
      message: `processing did not finish within ${(300 * WALL_FACTOR) / 1000} s`,
      details: { limitMs: 300 * WALL_FACTOR },
    });
  });
});
