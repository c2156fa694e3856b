/**
 * The console's event stream (GET /api/stream) read as a test would: every
 * `event:` frame kept in arrival order, and a wait for the first one that
 * matches. A negative assertion waits for a later event first: the stream
 * delivers in order, so what had not come before it is not coming.
 */
import type { StreamEventMap } from '../../api/stream.ts';
import type { TestServer } from './server.ts';
import { waitFor } from './wait.ts';

export interface EventStream {
  /** Every event so far, in arrival order. */
  events: Array<{ [E in keyof StreamEventMap]: { event: E; data: StreamEventMap[E] } }[keyof StreamEventMap]>;
  /** The data of the first event named `event` for which `match` holds. */
  next<E extends keyof StreamEventMap>(event: E, match?: (data: StreamEventMap[E]) => boolean, timeoutMs?: number): Promise<StreamEventMap[E]>;
  close(): void;
}

export async function openEventStream(t: TestServer, token: string): Promise<EventStream> {
  const ac = new AbortController();
  const res = await fetch(`${t.baseUrl}/api/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  if (res.status !== 200) throw new Error(`GET /api/stream answered ${res.status}: ${await res.text()}`);
  const events: EventStream['events'] = [];
  let text = '';
  const decoder = new TextDecoder();
  void (async () => {
    const reader = res.body!.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
        const frames = text.split('\n\n');
        text = frames.pop()!;
        for (const f of frames) {
          const event = /^event: (.*)$/m.exec(f)?.[1];
          const data = /^data: (.*)$/m.exec(f)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) } as EventStream['events'][number]);
        }
      }
    } catch {
      // Aborted by close().
    }
  })();
  const stream: EventStream = {
    events,
    next: (event, match = () => true, timeoutMs = 20_000) =>
      waitFor(`a ${event} event on the console stream`, () => events.find((e) => e.event === event && match(e.data as never))?.data as never, timeoutMs),
    close: () => ac.abort(),
  };
  await stream.next('hello');
  return stream;
}
