/**
 * The release download's HTTP GET: edge-agent/http-get.ts's answer shape,
 * over node:http / node:https, but a body that hands over every byte that
 * arrived before a cut. (An IncomingMessage's async iterator, destroyed by
 * a dropped socket, throws away what it had buffered and not yet yielded:
 * those bytes crossed a paid 4G link, and the resume would fetch them again.)
 */
import http from 'node:http';
import https from 'node:https';
import type { HttpAnswer, HttpGet } from '../http-get.ts';

/** Chunks held before the socket is paused: the writer drains them to disk. */
const HIGH_WATER = 16;

export const rangeGet: HttpGet = (url, init) =>
  new Promise<HttpAnswer>((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return reject(new Error(`unsupported URL scheme ${u.protocol}`));
    if (init.signal.aborted) return reject(new Error('aborted'));
    const get = u.protocol === 'https:' ? https.get : http.get;
    const req = get(u, { headers: init.headers }, (res) => {
      const queue: Buffer[] = [];
      let ended = false;
      let failure: Error | undefined;
      let wake: (() => void) | undefined;
      const poke = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      res.on('data', (chunk: Buffer) => {
        queue.push(chunk);
        if (queue.length >= HIGH_WATER) res.pause();
        poke();
      });
      res.on('end', () => {
        ended = true;
        poke();
      });
      const cut = (e?: Error) => {
        if (ended) return;
        failure ??= e ?? new Error('the connection closed before the end of the answer');
        poke();
      };
      res.on('error', cut);
      res.on('aborted', () => cut(new Error('the connection was cut')));
      res.on('close', () => cut());
      const iterator: AsyncIterator<Uint8Array> = {
        next: async () => {
          for (;;) {
            const chunk = queue.shift();
            if (chunk) {
              if (queue.length < HIGH_WATER / 2 && res.isPaused()) res.resume();
              return { value: chunk, done: false };
            }
            if (ended) return { value: undefined, done: true };
            if (failure) throw failure;
            await new Promise<void>((r) => {
              wake = r;
            });
          }
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
        body: {
          [Symbol.asyncIterator]: () => iterator,
          cancel: async () => {
            ended = true;
            res.destroy();
            poke();
          },
        },
        json: async () => {
          throw new Error('not used for releases');
        },
      });
    });
    const onAbort = () => req.destroy(new Error('aborted'));
    init.signal.addEventListener('abort', onAbort, { once: true });
    req.once('close', () => init.signal.removeEventListener('abort', onAbort));
    req.once('error', reject);
  });
