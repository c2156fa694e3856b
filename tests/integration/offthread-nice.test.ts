/**
 * Untrusted-document work runs on a worker thread reniced below the event
 * loop (Linux schedules threads apart), so a zip bomb being unzipped cannot
 * take a core from the loop that publishes alerts; CAP parsing, on the alert
 * path, keeps the server's priority; and renicing the worker leaves the rest
 * of the process alone.
 */
import { describe, expect, it } from 'vitest';
import { LANE_NICE, runOffThread } from '../../server/offthread.ts';
import { threadNiceTask } from '../fixtures/offthread/thread-nice.ts';
import { haveTools } from '../helpers/require-tool.ts';

const TASK = new URL('../fixtures/offthread/thread-nice.ts', import.meta.url);
const opts = { timeoutMs: 30_000, maxHeapMb: 64 };

describe.skipIf(!haveTools('proc-thread-self'))('worker thread priority by lane', () => {
  it("an uploaded document's lane runs niced, the alert lane and the main thread at the server's own priority", async () => {
    const main = threadNiceTask();
    const media = await runOffThread<number>(TASK, 'threadNiceTask', null, { ...opts, lane: 'media' });
    const alert = await runOffThread<number>(TASK, 'threadNiceTask', null, { ...opts, lane: 'alert' });
    expect(LANE_NICE.media).toBeGreaterThan(0);
    expect(media).toBe(Math.max(main, LANE_NICE.media));
    expect(alert).toBe(main);
    expect(threadNiceTask()).toBe(main);
  });
});
