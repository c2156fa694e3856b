/**
 * `parseCap` without holding the event loop: a typical alert (a few KB) is
 * parsed inline, a document of more than 64 KiB or 600 tags
 * (`parsesInline`) in a worker thread (fast-xml-parser takes ~0.2 s per MB,
 * so a 10 MiB document parsed inline would stop HTTP, MQTT and the alert path
 * for about 2 s, and 64 KiB of empty elements for about half a second).
 * The answer is the same `CapParseResult`; a worker stopped at its deadline
 * or heap limit is a refusal naming that limit.
 */
import { OffThreadError, runOffThread } from '../../offthread.ts';
import { offThreadTask } from '../../files.ts';
import { CAP_LIMITS, parsesInline } from './limits.ts';
import { parseCap, type CapParseResult } from './parse.ts';
import { unwrapEnvelope, type Unwrapped } from './envelope.ts';

export const CAP_PARSE_TIMEOUT_MS = 30_000;
/** Heap of the parsing worker (MB): a 10 MiB document of tiny elements makes a tree of a few hundred MB. */
export const CAP_PARSE_HEAP_MB = 512;

const TASK = offThreadTask(new URL('./parse.ts', import.meta.url), 'cap-parse');

export async function parseCapOffThread(xml: string): Promise<CapParseResult> {
  // Small documents, and documents refused for their size before any parsing, need no worker.
  if (parsesInline(xml) || xml.length > CAP_LIMITS.documentBytes) return parseCap(xml);
  try {
    // Bytes, moved to the worker: structured-cloning a string of megabytes costs the event loop tens of ms.
    const utf8 = new TextEncoder().encode(xml);
    return await runOffThread<CapParseResult>(
      TASK,
      'parseCapTask',
      { utf8 },
      { timeoutMs: CAP_PARSE_TIMEOUT_MS, maxHeapMb: CAP_PARSE_HEAP_MB, lane: 'alert', transfer: [utf8.buffer] },
    );
  } catch (e) {
    if (!(e instanceof OffThreadError)) throw e;
    return { ok: false, errors: [{ path: 'alert', message: `the document could not be parsed within the limits: ${e.message}` }], warnings: [] };
  }
}

const ENVELOPE_TASK = offThreadTask(new URL('./envelope.ts', import.meta.url), 'cap-envelope');

/** `unwrapEnvelope` on the same terms: a large EDXL-DE or feed is read in a worker, never on the event loop. */
export async function unwrapEnvelopeOffThread(xml: string): Promise<Unwrapped> {
  if (parsesInline(xml) || xml.length > CAP_LIMITS.documentBytes) return unwrapEnvelope(xml);
  try {
    const utf8 = new TextEncoder().encode(xml);
    return await runOffThread<Unwrapped>(
      ENVELOPE_TASK,
      'unwrapEnvelopeTask',
      { utf8 },
      { timeoutMs: CAP_PARSE_TIMEOUT_MS, maxHeapMb: CAP_PARSE_HEAP_MB, lane: 'alert', transfer: [utf8.buffer] },
    );
  } catch (e) {
    if (!(e instanceof OffThreadError)) throw e;
    return { kind: 'refused', format: null, reason: 'unreadable', message: `the document could not be read within the limits: ${e.message}` };
  }
}
