/**
 * The agent's HTTP GET (edge-agent/http-get.ts) against a real HTTP server on
 * loopback: what the media cache relies on (status, headers, the body as it
 * arrives, an abort that ends a read in progress with its own reason) and
 * what the alert memory relies on (a bounded JSON answer).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet } from '../../edge-agent/http-get.ts';

let server: http.Server;
let base: string;
/** Requests that arrived, with their headers. */
const seen: http.IncomingHttpHeaders[] = [];
/** The trickle route's response, held open until the test ends it. */
let trickle: http.ServerResponse | undefined;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.headers);
    if (req.url === '/bytes') {
      res.writeHead(206, { 'content-range': 'bytes 2-5/6', 'x-two': ['a', 'b'] });
      res.write(Buffer.from([2, 3]));
      res.end(Buffer.from([4, 5]));
    } else if (req.url === '/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{"revision":3,"status":"completed"}');
    else if (req.url === '/huge') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`"${'x'.repeat(1024 * 1024 + 10)}"`);
    } else if (req.url === '/trickle') {
      trickle = res;
      res.writeHead(200);
      res.write('first');
    } else res.writeHead(404).end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  trickle?.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const never = () => new AbortController().signal;

async function collect(body: AsyncIterable<Uint8Array>): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of body) out.push(...chunk);
  return out;
}

describe('httpGet', () => {
  it('answers status, headers (case-insensitive, repeated joined) and the body, sending the given headers', async () => {
    const r = await httpGet(`${base}/bytes`, { headers: { range: 'bytes=2-', authorization: 'Basic eDp5' }, signal: never() });
    expect(r.status).toBe(206);
    expect(r.ok).toBe(true);
    expect(r.headers.get('Content-Range')).toBe('bytes 2-5/6');
    expect(r.headers.get('x-two')).toBe('a, b');
    expect(r.headers.get('x-absent')).toBeNull();
    expect(await collect(r.body!)).toEqual([2, 3, 4, 5]);
    expect(seen.at(-1)).toMatchObject({ range: 'bytes=2-', authorization: 'Basic eDp5' });
  });

  it('reads a JSON answer, and refuses one over 1 MiB instead of holding it', async () => {
    expect(await (await httpGet(`${base}/json`, { headers: {}, signal: never() })).json()).toEqual({ revision: 3, status: 'completed' });
    const huge = await httpGet(`${base}/huge`, { headers: {}, signal: never() });
    await expect(huge.json()).rejects.toThrow(/larger than 1048576 bytes/);
  });

  it('a 404 is an answer, not an error; cancel drops its body', async () => {
    const r = await httpGet(`${base}/nothing`, { headers: {}, signal: never() });
    expect(r.status).toBe(404);
    expect(r.ok).toBe(false);
    await r.body!.cancel();
  });

  it("an abort during the body ends the read with the abort's own reason (what the cache reports as a stall)", async () => {
    const abort = new AbortController();
    const r = await httpGet(`${base}/trickle`, { headers: {}, signal: abort.signal });
    const it = r.body![Symbol.asyncIterator]();
    expect(Buffer.from((await it.next()).value as Uint8Array).toString()).toBe('first');
    const next = it.next();
    abort.abort(new Error('no data for 30000 ms'));
    await expect(next).rejects.toThrow('no data for 30000 ms');
  });

  it('an abort before the answer rejects at once; an already aborted signal never connects', async () => {
    const before = seen.length;
    const aborted = new AbortController();
    aborted.abort(new Error('stopped'));
    await expect(httpGet(`${base}/json`, { headers: {}, signal: aborted.signal })).rejects.toThrow('stopped');
    expect(seen.length).toBe(before);
  });

  it('refuses a scheme other than http and https', async () => {
    await expect(httpGet('file:///etc/passwd', { headers: {}, signal: never() })).rejects.toThrow(/unsupported URL scheme file:/);
  });
});
