/**
 * The agent's HTTP GET: the few things the media cache and the alert memory
 * ask of the server, over node:http / node:https.
 *
 * Not the global `fetch`: Node loads its fetch implementation (undici) on
 * first use, and that alone holds ~12 MiB of a board's resident memory for
 * the rest of the run (measured: +11.9 MiB after one fetch, +3.0 MiB after
 * one http.get), where a board's agent should fit in ~60. The answer has the
 * shape of fetch's Response for what the callers use, so a test may still
 * hand them `fetch` itself.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  /** The body as it arrives; `cancel()` drops the rest (and the connection). */
  body: (AsyncIterable<Uint8Array> & { cancel(): Promise<void> }) | null;
  json(): Promise<unknown>;
}

export type HttpGet = (url: string, init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<HttpAnswer>;

/** A JSON answer larger than this is refused: the agent asks the server for small records only. */
const MAX_JSON_BYTES = 1024 * 1024;

export const httpGet: HttpGet = (url, init) =>
  new Promise<HttpAnswer>((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return reject(new Error(`unsupported URL scheme ${u.protocol} in ${u.origin}`));
    if (init.signal.aborted) return reject(abortError(init.signal));
    const get = u.protocol === 'https:' ? https.get : http.get;
    let response: http.IncomingMessage | undefined;
    const req = get(u, { headers: init.headers }, (res) => {
      response = res;
      const body = {
        [Symbol.asyncIterator]: () => res[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>,
        cancel: async () => {
          res.destroy();
        },
      };
      const status = res.statusCode ?? 0;
      resolve({
        status,
        ok: status >= 200 && status < 300,
        headers: {
          get: (name) => {
            const v = res.headers[name.toLowerCase()];
            return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
          },
        },
        body,
        json: async () => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          for await (const chunk of res) {
            bytes += (chunk as Buffer).length;
            if (bytes > MAX_JSON_BYTES) {
              res.destroy();
              throw new Error(`the answer is larger than ${MAX_JSON_BYTES} bytes`);
            }
            chunks.push(chunk as Buffer);
          }
          return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        },
      });
    });
    // Aborting destroys the request and its response alike: a read in progress ends with the abort's reason.
    const onAbort = () => {
      const e = abortError(init.signal);
      response?.destroy(e);
      req.destroy(e);
    };
    init.signal.addEventListener('abort', onAbort, { once: true });
    req.once('close', () => init.signal.removeEventListener('abort', onAbort));
    req.once('error', reject);
  });

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return Object.assign(new Error(reason instanceof Error ? reason.message : 'aborted'), { name: 'AbortError', cause: reason });
}
