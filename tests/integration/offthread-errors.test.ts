/**
 * What a client may learn when work in a worker thread fails: a task's
 * refusal meant for it (a status and a code) keeps its words; a bug, a missing
 * module or a crash says only that processing failed, never the server's
 * file paths, and its own words go to the server's log.
 */
import { describe, expect, it } from 'vitest';
import { logOffThreadFailuresTo, OffThreadError, runOffThread } from '../../server/offthread.ts';

const TASK = new URL('../fixtures/offthread/failing.ts', import.meta.url);
const opts = { timeoutMs: 30_000, maxHeapMb: 64, lane: 'alert' as const };

async function failureOf(moduleUrl: URL, fn: string): Promise<OffThreadError> {
  try {
    await runOffThread(moduleUrl, fn, null, opts);
  } catch (e) {
    if (e instanceof OffThreadError) return e;
    throw e;
  }
  throw new Error('the task did not fail');
}

describe('an off-thread task that fails', () => {
  it('a refusal keeps its status, code and words', async () => {
    const e = await failureOf(TASK, 'refuseTask');
    expect(e).toMatchObject({ statusCode: 422, code: 'LOANET_DOCX_INVALID', message: 'not a Word document (.docx): the file is empty' });
  });

  it('a bug or a missing module says only that processing failed; the server log gets its words', async () => {
    const logged: Array<{ err: string }> = [];
    logOffThreadFailuresTo({ error: (obj) => logged.push(obj as { err: string }) });
    const bug = await failureOf(TASK, 'brokenTask');
    expect(bug.code).toBe('LOANET_OFFTHREAD_FAILED');
    expect(bug.statusCode).toBeUndefined();
    expect(bug.message).not.toMatch(/\//);
    const missing = await failureOf(new URL('../fixtures/offthread/not-there.ts', import.meta.url), 'anything');
    expect(missing.code).toBe('LOANET_OFFTHREAD_FAILED');
    expect(missing.message).not.toMatch(/\//);
    expect(logged.map((l) => l.err).join('\n')).toMatch(/secret-layout\.mjs/);
    expect(logged).toHaveLength(2);
  });
});
