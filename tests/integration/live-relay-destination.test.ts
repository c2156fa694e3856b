/**
 * A relay cannot be pointed inside. Over the real API with real ffmpeg and
 * real local HTTP servers: a relay URL whose address (literal, in any
 * spelling, or resolved) is loopback, private, link-local and the like is
 * refused when the stream is asked for, before any connection; a redirect
 * from an allowed source to such an address is refused too (the source is
 * tried before going on air), with an answer that names no address or port
 * while the server log has the detail; LOANET_RELAY_ALLOW lets an
 * administrator allow a local source.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { startServer, type RunningServer } from '../../server/server.ts';
import { checkRelayUrl, fetchRelay } from '../../server/live/relay-fetch.ts';
import { ADMIN_PASSWORD, LAO_CAI_2025, tempDir, waitFor } from '../helpers/server.ts';
import { ffmpeg } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('ffmpeg');

interface Logged {
  level: string;
  obj: unknown;
  msg: string | undefined;
}

/** A server with its log captured, as main.ts would print it. */
async function boot(
  env: Record<string, string>,
): Promise<{ server: RunningServer; base: string; token: string; log: Logged[]; api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> }> {
  const log: Logged[] = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void log.push({ level, obj, msg });
  const config = loadConfig({
    LOANET_HTTP_PORT: '0',
    LOANET_MQTT_PORT: '0',
    LOANET_HTTP_HOST: '127.0.0.1',
    LOANET_MQTT_HOST: '127.0.0.1',
    LOANET_DATA_DIR: tempDir('loanet-relay-dest-'),
    LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LOANET_SOUND_CHECK_INTERVAL_H: '0',
    ...env,
  });
  const server = await startServer(config, { logger: { info: at('info'), warn: at('warn'), error: at('error') } });
  const base = `http://127.0.0.1:${server.httpPort}`;
  let token = '';
  const api = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as any };
  };
  token = (await api('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token;
  const areas = await fetch(`${base}/api/areas/import?version=2025`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
    body: fs.readFileSync(LAO_CAI_2025, 'utf8'),
  });
  if (areas.status !== 200) throw new Error(`area import: ${areas.status}`);
  return { server, base, token, log, api };
}

/** An HTTP server on `host` that counts requests and answers with `handler`. */
async function httpServer(host: string, handler: http.RequestListener): Promise<{ url: string; port: number; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const s = http.createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    hits: () => hits,
    close: async () => {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    },
  };
}

describe.skipIf(!canRun)('where a relay may connect', () => {
  let strict: Awaited<ReturnType<typeof boot>>;
  let allowing: Awaited<ReturnType<typeof boot>>;
  let mp3: Buffer;
  /** A radio on 127.0.0.1: the endless MP3 at /live.mp3. */
  let radio: Awaited<ReturnType<typeof httpServer>>;
  /** An "internal" service on another loopback address, never allow-listed. */
  let internal: Awaited<ReturnType<typeof httpServer>>;
  /** A radio on 127.0.0.1 that redirects: /to?u=<url> answers 302 to <url>. */
  let redirector: Awaited<ReturnType<typeof httpServer>>;

  beforeAll(async () => {
    const dir = tempDir('loanet-relay-dest-audio-');
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '48k', path.join(dir, 'a.mp3'));
    mp3 = fs.readFileSync(path.join(dir, 'a.mp3'));
    const endless: http.RequestListener = (_req, res) => {
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      let stop = false;
      res.on('close', () => (stop = true));
      const more = () => {
        while (!stop && res.write(mp3));
        if (!stop) res.once('drain', more);
      };
      more();
    };
    radio = await httpServer('127.0.0.1', endless);
    internal = await httpServer('127.0.0.2', endless);
    redirector = await httpServer('127.0.0.1', (req, res) => {
      const u = new URL(req.url ?? '/', 'http://x').searchParams.get('u') ?? '/';
      res.writeHead(302, { location: u }).end();
    });
    strict = await boot({});
    // A lost source ends its stream at once here; live-relay-reconnect.test.ts tries it again.
    allowing = await boot({ LOANET_RELAY_ALLOW: '127.0.0.1', LOANET_RELAY_RECONNECT_S: '0' });
  }, 60_000);

  afterAll(async () => {
    await strict?.server.stop();
    await allowing?.server.stop();
    await radio?.close();
    await internal?.close();
    await redirector?.close();
  });

  const relay = (s: typeof strict, url: string) => s.api('POST', '/api/live/streams', { source: { kind: 'relay', url }, areas: ['02683'] });

  it('refuses loopback, private, link-local and other special addresses at once, in any spelling, before connecting', async () => {
    const port = radio.port;
    const cases: Array<[string, RegExp]> = [
      [
        `http://127.0.0.1:${port}/live.mp3`,
        /^source\.url: 127\.0\.0\.1 is a loopback address \(127\.0\.0\.0\/8\); relays reach only public addresses unless LOANET_RELAY_ALLOW lists it$/,
      ],
      [`http://localhost:${port}/live.mp3`, /^source\.url: localhost resolves to a loopback address/],
      [`http://0x7f.1:${port}/live.mp3`, /127\.0\.0\.1 is a loopback address/],
      [`http://2130706433:${port}/live.mp3`, /127\.0\.0\.1 is a loopback address/],
      [`http://017700000001:${port}/live.mp3`, /127\.0\.0\.1 is a loopback address/],
      [`http://[::ffff:127.0.0.1]:${port}/live.mp3`, /::ffff:7f00:1 \(IPv4 127\.0\.0\.1\) is a loopback address/],
      [`http://[::1]:${port}/live.mp3`, /::1 is a loopback address \(::1\/128\)/],
      [`http://0.0.0.0:${port}/live.mp3`, /0\.0\.0\.0 is a unspecified address/],
      ['http://10.20.30.40/live.mp3', /10\.20\.30\.40 is a private address \(10\.0\.0\.0\/8\)/],
      ['http://192.168.1.10:8000/', /private address \(192\.168\.0\.0\/16\)/],
      ['http://100.64.0.1/', /shared address \(100\.64\.0\.0\/10\)/],
      ['http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address \(169\.254\.0\.0\/16\)/],
      ['http://[fd00::1]/', /fd00::1 is a private address \(fc00::\/7\)/],
      ['http://[fe80::1]/', /link-local address \(fe80::\/10\)/],
      ['http://224.0.0.251/', /multicast address/],
      ['https://admin:pw@127.0.0.1:1883/', /127\.0\.0\.1 is a loopback address/],
    ];
    const before = (await strict.api('GET', '/api/live/streams')).body;
    for (const [url, reason] of cases) {
      const r = await relay(strict, url);
      expect(r.status, `${url}: ${JSON.stringify(r.body)}`).toBe(422);
      expect(r.body, url).toMatchObject({ error: 'LOANET_RELAY_REFUSED', field: 'source.url' });
      expect(r.body.message, url).toMatch(reason);
      expect(r.body.message, 'no credentials in the answer').not.toContain('pw@');
    }
    // Refused before any connection: the radio, up and listening, was never asked.
    expect(radio.hits()).toBe(0);
    expect((await strict.api('GET', '/api/live/streams')).body).toEqual(before);
    // Nor is another scheme relayed.
    const file = await relay(strict, 'file:///etc/passwd');
    expect(file.status).toBe(400);
    expect(file.body.message).toMatch(/only http and https/);
  });

  it('an administrator allows a local source with LOANET_RELAY_ALLOW, and only that one', async () => {
    const r = await relay(allowing, `${radio.url}/live.mp3`);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await waitFor('the radio is relayed', async () => radio.hits() > 0 && (await allowing.api('GET', `/api/live/streams/${r.body.id}`)).body.server?.audioPackets > 10, 15_000);
    expect((await allowing.api('GET', `/api/live/streams/${r.body.id}`)).body.state).toBe('live');
    expect((await allowing.api('POST', `/api/live/streams/${r.body.id}/stop`)).status).toBe(200);
    // 127.0.0.2 is loopback too, but not listed.
    const other = await relay(allowing, `${internal.url}/live.mp3`);
    expect(other.status).toBe(422);
    expect(other.body.message).toMatch(/127\.0\.0\.2 is a loopback address/);
    expect(internal.hits()).toBe(0);
  }, 30_000);

  it('follows a redirect only to an allowed destination: one inside is refused before going on air, the answer names no address, the log has the detail', async () => {
    const targets = [
      `${internal.url}/live.mp3`,
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]:1883/',
      `http://[::ffff:127.0.0.2]:${internal.port}/`,
      'file:///etc/passwd',
    ];
    const before = (await allowing.api('GET', '/api/live/streams')).body;
    for (const target of targets) {
      const logged = allowing.log.length;
      const r = await relay(allowing, `${redirector.url}/to?u=${encodeURIComponent(target)}`);
      // The first hop is allowed; the redirect is judged when the source is tried, before anything goes on air.
      expect(r.status, JSON.stringify(r.body)).toBe(422);
      expect(r.body, target).toMatchObject({ error: 'LOANET_RELAY_REFUSED', reason: 'redirect', field: 'source.url' });
      expect(r.body, target).not.toHaveProperty('messageVi');
      // Nothing in the answer maps the network: no address, port or ffmpeg text.
      const seen = JSON.stringify(r.body);
      for (const leak of ['127.0.0.2', '169.254', '::1', '1883', String(internal.port), 'ffmpeg', 'ECONN', 'loopback']) expect(seen, `${target}: ${leak}`).not.toContain(leak);
      // The log has the detail, with the hop that was refused.
      const entry = allowing.log.slice(logged).find((l) => l.msg === 'live relay refused');
      expect(entry, `${target}: ${JSON.stringify(allowing.log.slice(logged))}`).toBeDefined();
      expect((entry!.obj as { detail: string }).detail, target).toMatch(/^redirected \(HTTP 302\) to /);
    }
    // Nothing went on air, and the internal service never saw a request.
    expect((await allowing.api('GET', '/api/live/streams')).body).toEqual(before);
    expect(internal.hits()).toBe(0);
  }, 120_000);

  it('follows a redirect to an allowed destination', async () => {
    const hits = radio.hits();
    const r = await relay(allowing, `${redirector.url}/to?u=${encodeURIComponent(`${radio.url}/live.mp3`)}`);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await waitFor(
      'the redirected radio is relayed',
      async () => radio.hits() > hits && (await allowing.api('GET', `/api/live/streams/${r.body.id}`)).body.server?.audioPackets > 10,
      15_000,
    );
    await allowing.api('POST', `/api/live/streams/${r.body.id}/stop`);
  }, 30_000);

  it('a source that cannot be reached is refused, one that stops is reported to readers without its detail', async () => {
    // A closed port on an allowed address: the connection is refused.
    const closed = await httpServer('127.0.0.1', () => {});
    const closedUrl = `${closed.url}/live.mp3`;
    await closed.close();
    const r = await relay(allowing, closedUrl);
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body).toMatchObject({
      error: 'LOANET_RELAY_UNREACHABLE',
      reason: 'connection',
      field: 'source.url',
      message: 'source.url: the source could not be reached (ECONNREFUSED)',
    });
    expect(JSON.stringify(r.body)).not.toContain(String(closed.port));

    // A radio that sends 1 s of audio and closes: it was reached, then ended.
    const finite = await httpServer('127.0.0.1', (_req, res) => res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(mp3));
    const f = await relay(allowing, `${finite.url}/once.mp3`);
    expect(f.status).toBe(201);
    const done = await waitFor(
      'finite relay ended',
      async () => {
        const v = (await allowing.api('GET', `/api/live/streams/${f.body.id}`)).body;
        return v.state === 'ended' ? v : undefined;
      },
      20_000,
    );
    expect(done).toMatchObject({ endReason: 'source_lost', endDetail: 'the source ended' });
    await finite.close();
  }, 60_000);

  it('connects to the address it checked: the name is not resolved again (DNS rebinding), the Host header keeps the name', async () => {
    let asked = 0;
    // A name the system resolver does not know: answered once with an allowed address, then with an internal one.
    const resolve = async (host: string) => {
      asked++;
      expect(host).toBe('dai-phat-thanh.invalid');
      return [{ address: asked === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    };
    const allow = { hosts: [], networks: [{ family: 4 as const, base: 0x7f000001n, bits: 32, text: '127.0.0.1' }] };
    let host: string | undefined;
    const seen = await httpServer('127.0.0.1', (req, res) => {
      host = req.headers.host;
      res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(mp3);
    });
    const target = await checkRelayUrl(new URL(`http://dai-phat-thanh.invalid:${seen.port}/live.mp3`), allow, resolve);
    expect(target).toMatchObject({ address: '127.0.0.1', family: 4 });
    const res = await fetchRelay(target, allow, { resolve });
    const body: Buffer[] = [];
    for await (const c of res) body.push(c as Buffer);
    expect(Buffer.concat(body).equals(mp3)).toBe(true);
    expect(asked).toBe(1);
    expect(host).toBe(`dai-phat-thanh.invalid:${seen.port}`);
    expect(seen.hits()).toBe(1);
    expect(internal.hits()).toBe(0);
    await seen.close();
  });

  it('relays a SHOUTcast v1 server, whose answer starts "ICY 200 OK"', async () => {
    const icy = net.createServer((c) => {
      c.once('data', () => {
        c.write('ICY 200 OK\r\nicy-name: Dai Lao Cai\r\ncontent-type: audio/mpeg\r\n\r\n');
        const more = () => {
          while (!c.destroyed && c.write(mp3));
          if (!c.destroyed) c.once('drain', more);
        };
        more();
      });
      c.on('error', () => {});
    });
    await new Promise<void>((r) => icy.listen(0, '127.0.0.1', r));
    const r = await relay(allowing, `http://127.0.0.1:${(icy.address() as AddressInfo).port}/;stream.mp3`);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    await waitFor('the ICY radio is relayed', async () => (await allowing.api('GET', `/api/live/streams/${r.body.id}`)).body.server?.audioPackets > 10, 15_000);
    await allowing.api('POST', `/api/live/streams/${r.body.id}/stop`);
    await new Promise((done) => icy.close(done));
  }, 30_000);

  it('refuses to start with an invalid LOANET_RELAY_ALLOW, naming it', () => {
    expect(() => loadConfig({ LOANET_RELAY_ALLOW: '127.0.0.1,10.0.0.0/40' })).toThrow(
      /^LOANET_RELAY_ALLOW="127\.0\.0\.1,10\.0\.0\.0\/40" is not valid: "10\.0\.0\.0\/40" is not an IP address, a network or a host name/,
    );
  });
});
