/**
 * Sends one outbox request over node:http or node:https and reads the answer
 * within bounds: the whole exchange within a deadline, at most `maxBytes` of
 * the answer's body (the rest is never read: a receiver's answer is a status
 * and a line of explanation, and one that streams megabytes must not cost
 * the server memory), redirects never followed (node:http does not; a 3xx is
 * an answer like any other).
 */
import http from 'node:http';
import https from 'node:https';
import type { OutboundRequest } from './adapter.ts';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
  truncated: boolean;
}

export type Transport = (req: OutboundRequest, opts: { timeoutMs: number; maxBytes: number }) => Promise<RawAnswer>;

export const httpTransport: Transport = (req, { timeoutMs, maxBytes }) =>
  new Promise<RawAnswer>((resolve, reject) => {
    const url = new URL(req.url);
    const body = Buffer.from(req.body, 'utf8');
    const client = url.protocol === 'https:' ? https : http;
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    // No keep-alive agent: a destination gets an attempt every few seconds at most, and a pooled socket a receiver closed is one more failure mode.
    const r = client.request(url, { method: req.method, headers: { ...req.headers, 'content-length': String(body.length) }, agent: false });
    const timer = setTimeout(() => {
      const e = Object.assign(new Error(`no complete answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
      r.destroy(e);
      done(() => reject(e));
    }, timeoutMs);
    r.on('error', (e) => done(() => reject(e)));
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const finish = () => done(() => resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8'), truncated }));
      res.on('data', (c: Buffer) => {
        if (truncated) return;
        const room = maxBytes - size;
        if (c.length > room) {
          chunks.push(c.subarray(0, room));
          size = maxBytes;
          truncated = true;
          finish();
          res.destroy();
          return;
        }
        chunks.push(c);
        size += c.length;
      });
      res.on('end', finish);
      // The status came: the receiver answered, even if its body was cut short.
      res.on('close', () => {
        if (!res.complete) truncated = true;
        finish();
      });
      res.on('error', () => undefined);
    });
    r.end(body);
  });
