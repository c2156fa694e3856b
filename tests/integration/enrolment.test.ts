/**
 * Enrolment of a board with a one-time code, end to end: a real server
 * (HTTP, embedded broker over TCP, SQLite) with a clock the test can move,
 * the agent's own processes (`edge-agent/main.ts`, enrolling from a boot
 * partition file and with `enrol`), a simulated device on TCP, and the
 * agent's enrol function for the refusals.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { startServer, type RunningServer } from '../../server/server.ts';
import { ADMIN_PASSWORD, LAO_CAI_2025, tempDir } from '../helpers/server.ts';
import { agentCli, agentProcess, deviceCli, stopAllProcesses, type Proc } from '../helpers/process.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { notifications, startNotifyListener } from '../helpers/systemd-notify-listener.ts';
import { waitFor } from '../helpers/wait.ts';
import { enrol, EnrolError } from '../../edge-agent/enrol.ts';
import type { EnrolmentCreated, EnrolmentStatus, Enrolled, EnrolRefused, SiteDetail } from '../../api/index.ts';

const COMMUNE = '02680';
const PROFILE = 'village-cluster-4g';
const DAY = 86_400_000;

// ------------------------------------------------------------ a server ----

interface Server {
  running: RunningServer;
  baseUrl: string;
  token: string;
  /** Moves the server's clock (enrolment codes expire by it). */
  advance(ms: number): void;
  api<T>(
    method: string,
    url: string,
    body?: unknown,
    opts?: { token?: string | null; headers?: Record<string, string>; contentType?: string },
  ): Promise<{ status: number; body: T; headers: Headers }>;
}

async function bootServer(env: Record<string, string> = {}): Promise<Server> {
  let offset = 0;
  const config = loadConfig({
    LOANET_HTTP_PORT: '0',
    LOANET_MQTT_PORT: '0',
    LOANET_HTTP_HOST: '127.0.0.1',
    LOANET_MQTT_HOST: '127.0.0.1',
    LOANET_DATA_DIR: tempDir('loanet-enrol-'),
    LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD,
    LOANET_SWEEP_MS: '200',
    LOANET_SOUND_CHECK_INTERVAL_H: '0',
    LOANET_DISK_RESERVE_MB: '0',
    ...env,
  });
  const running = await startServer(config, { now: () => Date.now() + offset });
  const s: Server = {
    running,
    baseUrl: `http://127.0.0.1:${running.httpPort}`,
    token: '',
    advance: (ms) => void (offset += ms),
    async api(method, url, body, opts = {}) {
      const token = opts.token === undefined ? s.token : opts.token;
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
      const res = await fetch(`${s.baseUrl}${url}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed as never, headers: res.headers };
    },
  };
  s.token = (await s.api<{ token: string }>('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD }, { token: null })).body.token;
  const imported = await s.api('POST', '/api/areas/import?version=2025', fs.readFileSync(LAO_CAI_2025, 'utf8'), { contentType: 'text/csv' });
  if (imported.status !== 200) throw new Error(`import failed: ${JSON.stringify(imported.body)}`);
  return s;
}

async function createSite(s: Server, id: string): Promise<void> {
  const r = await s.api('POST', '/api/sites', { id, name: `Cụm loa ${id}`, kind: 'cluster', area: COMMUNE, profile: PROFILE, monitorMic: true });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function makeCode(s: Server, siteId: string, token?: string): Promise<EnrolmentCreated> {
  const r = await s.api<EnrolmentCreated>('POST', `/api/sites/${siteId}/enrolment`, undefined, token ? { token } : {});
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

const tradeCode = (s: Server, code: string, headers: Record<string, string> = {}) => s.api<Enrolled | EnrolRefused>('POST', '/api/enrol', { code }, { token: null, headers });

const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

// ---------------------------------------------------------------- tests ----

describe('enrolment of a board with a one-time code', () => {
  let s: Server;
  let dir: string;
  let device: Proc;
  let devicePort = 0;
  let technicianToken = '';

  beforeAll(async () => {
    dir = tempDir('loanet-enrol-board-');
    // The refusals below all come from this one address: the limits have their own server further down.
    s = await bootServer({ LOANET_ENROL_FAILURES_ADDRESS: '1000', LOANET_ENROL_FAILURES_TOTAL: '1000' });
    for (const id of ['lc-enrol-01', 'lc-enrol-race', 'lc-enrol-retired', 'lc-enrol-codes', 'lc-enrol-notify']) await createSite(s, id);
    const user = await s.api('POST', '/api/users', { username: 'kythuat', password: 'kỹ thuật viên 2026', role: 'technician', area: COMMUNE });
    expect(user.status, JSON.stringify(user.body)).toBe(201);
    technicianToken = (await s.api<{ token: string }>('POST', '/api/auth/login', { username: 'kythuat', password: 'kỹ thuật viên 2026' }, { token: null })).body.token;
    device = deviceCli('--profile', PROFILE, '--port', '0');
    devicePort = Number((await device.waitForLine(/listening on 127\.0\.0\.1:(\d+)/))[1]);
  }, 120_000);

  afterAll(async () => {
    await stopAllProcesses();
    await s?.running.stop();
  });

  const siteDetail = async (id: string) => (await s.api<SiteDetail>('GET', `/api/sites/${id}`)).body;
  const credentialWorks = (siteId: string, secret: string) => s.running.ctx.sites.verifyCredential(siteId, secret);

  let firstSecret = '';
  let spentCode = '';

  it("a technician makes a code; a board started without a credential enrols from its boot partition's file, removes it, connects and is online", async () => {
    const made = await makeCode(s, 'lc-enrol-01', technicianToken);
    expect(made.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(made.expiresAt - made.createdAt).toBe(DAY);
    expect(made.server).toBe(s.baseUrl);
    expect(made.qr).toBe(`server=${s.baseUrl}\ncode=${made.code}\n`);
    expect(made.replacesBoard).toBe(false);
    // What the site's page says about it later: when, by whom, until when; never the code.
    const waiting = await s.api<EnrolmentStatus>('GET', '/api/sites/lc-enrol-01/enrolment', undefined, { token: technicianToken });
    expect(waiting.body).toEqual({ pending: { createdAt: made.createdAt, createdBy: 'kythuat', expiresAt: made.expiresAt }, lastEnrolledAt: null, lastEnrolledFrom: null });

    // The office's image: the board's own settings, no site and no credential yet.
    const config = path.join(dir, 'agent.json');
    const template = {
      devices: { driver: 'sim', host: '127.0.0.1', port: devicePort },
      stateDir: path.join(dir, 'state'),
      heartbeatIntervalS: 1,
      keepaliveS: 5,
      reconnect: { baseMs: 100, capMs: 1000, refusedCapMs: 1000 },
    };
    fs.writeFileSync(config, JSON.stringify(template));
    const bootFile = path.join(dir, 'loanet-enrol.txt');
    // As typed from the QR code's text on a phone: lower case, no dash.
    fs.writeFileSync(bootFile, `# from the console\nserver=${s.baseUrl}\ncode=${made.code.toLowerCase().replace('-', '')}\n`);

    const agent = agentCli('--config', config, '--enrol-file', bootFile);
    await agent.waitForLine(/enrolled as site lc-enrol-01/);
    await waitFor('the enrolled board to be connected', async () => (await siteDetail('lc-enrol-01')).status?.connected === true, 60_000);

    expect(fs.existsSync(bootFile)).toBe(false);
    expect(modeOf(config)).toBe(0o600);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const written = JSON.parse(fs.readFileSync(config, 'utf8')) as Record<string, unknown> & { credential: { secret: string }; server: { mqttUrl: string; httpUrl: string } };
    expect(written).toMatchObject({ ...template, siteId: 'lc-enrol-01', server: { httpUrl: s.baseUrl, mqttUrl: `mqtt://127.0.0.1:${s.running.mqttPort}` } });
    expect(written.areaChannels).toEqual((await siteDetail('lc-enrol-01')).areaChannels);
    expect(written.areaChannels).toContain(`2025.${COMMUNE}`);
    expect(await credentialWorks('lc-enrol-01', written.credential.secret)).toBe(true);
    firstSecret = written.credential.secret;
    const after = (await s.api<EnrolmentStatus>('GET', '/api/sites/lc-enrol-01/enrolment')).body;
    expect(after).toMatchObject({ pending: null, lastEnrolledFrom: '127.0.0.1' });
    expect(after.lastEnrolledAt).toBeGreaterThanOrEqual(made.createdAt);

    const audit = (await s.api<{ entries: Array<{ action: string; username: string | null; target: string | null }> }>('GET', '/api/audit?action=site.enrol')).body.entries;
    expect(audit.find((e) => e.action === 'site.enrolment.create')).toMatchObject({ username: 'kythuat', target: 'lc-enrol-01' });
    expect(audit.find((e) => e.action === 'site.enrol')).toMatchObject({ username: null, target: 'lc-enrol-01' });
  }, 120_000);

  it.skipIf(!haveTools('systemd-notify', 'python3'))(
    'under systemd, a board that cannot reach the server yet extends its start at every try, and says READY only once enrolled',
    async () => {
      const made = await makeCode(s, 'lc-enrol-notify', technicianToken);
      // The server's address as the boot file names it: a link that resets every connection until the 4G "comes up".
      let up = false;
      const open = new Set<net.Socket>();
      const link = net.createServer((c) => {
        if (!up) return c.destroy();
        open.add(c);
        c.on('close', () => open.delete(c));
        const to = net.connect(Number(new URL(s.baseUrl).port), '127.0.0.1');
        c.pipe(to).pipe(c);
        to.on('error', () => c.destroy());
        c.on('error', () => to.destroy());
      });
      await new Promise<void>((r) => link.listen(0, '127.0.0.1', r));
      try {
        const server = `http://127.0.0.1:${(link.address() as net.AddressInfo).port}`;
        const board = path.join(dir, 'notify');
        fs.mkdirSync(board);
        const config = path.join(board, 'agent.json');
        fs.writeFileSync(config, JSON.stringify({ devices: { driver: 'sim', host: '127.0.0.1', port: devicePort }, stateDir: path.join(board, 'state'), heartbeatIntervalS: 1 }));
        const bootFile = path.join(board, 'loanet-enrol.txt');
        fs.writeFileSync(bootFile, `server=${server}\ncode=${made.code}\n`);
        const listener = await startNotifyListener(path.join(board, 'notify.sock'));
        const agent = agentProcess(['--config', config, '--enrol-file', bootFile], {
          env: { NOTIFY_SOCKET: path.join(board, 'notify.sock') },
        });
        // The first try, then the wait after it failed: each extends the start past the try's or the wait's own bound.
        const waiting = await waitFor('two words from the enrolling board', () => (notifications(listener).length >= 2 ? notifications(listener) : undefined), 60_000, 50);
        expect(waiting[0]).toMatch(/^EXTEND_TIMEOUT_USEC=(\d+) \| STATUS=enrolling with /);
        expect(Number(/=(\d+)/.exec(waiting[0]!)![1])).toBeGreaterThanOrEqual(30_000_000);
        expect(waiting[1]).toMatch(/^EXTEND_TIMEOUT_USEC=(\d+) \| STATUS=enrolment: cannot reach .*; trying again in 5 s$/);
        expect(Number(/=(\d+)/.exec(waiting[1]!)![1])).toBeGreaterThanOrEqual(5_000_000 + 30_000_000);
        expect(notifications(listener).some((n) => n.startsWith('READY=1'))).toBe(false);
        up = true;
        await agent.waitForLine(/enrolled as site lc-enrol-notify/, 60_000);
        const ready = await waitFor('READY once enrolled and playing from disk', () => notifications(listener).find((n) => n.startsWith('READY=1')), 60_000, 50);
        expect(ready).toBe('READY=1 | STATUS=site lc-enrol-notify');
        const words = notifications(listener);
        expect(words.slice(0, words.indexOf(ready)).every((n) => n.startsWith('EXTEND_TIMEOUT_USEC='))).toBe(true);
      } finally {
        for (const c of open) c.destroy();
        await new Promise<void>((r) => link.close(() => r()));
      }
    },
    120_000,
  );

  it('re-enrolment: another board enrols with a new code (loanet-agent enrol); the old board is refused and disconnected', async () => {
    const made = await makeCode(s, 'lc-enrol-01');
    expect(made.replacesBoard).toBe(true);
    const config = path.join(dir, 'new-board', 'agent.json');
    const cli = agentCli('enrol', '--server', s.baseUrl, '--code', made.code, '--config', config, '--state-dir', path.join(dir, 'new-board', 'state'));
    expect(await cli.exited, cli.lines.join('\n')).toEqual({ code: 0, signal: null });
    expect(cli.lines.join('\n')).toMatch(/enrolled as site lc-enrol-01; configuration written to .*agent\.json \(owner only, mode 600\)/);
    expect(cli.lines.join('\n')).toMatch(/next: start the agent/);
    expect(modeOf(config)).toBe(0o600);
    // Made from nothing: the board's driver and the state folder asked for.
    const written = JSON.parse(fs.readFileSync(config, 'utf8')) as { devices: unknown; stateDir: string; credential: { secret: string } };
    expect(written).toMatchObject({ devices: { driver: 'board' }, stateDir: path.join(dir, 'new-board', 'state') });

    expect(await credentialWorks('lc-enrol-01', written.credential.secret)).toBe(true);
    expect(await credentialWorks('lc-enrol-01', firstSecret)).toBe(false);
    spentCode = made.code;
    // Its connection closed at once and its reconnects refused: no heartbeat reaches the server any more.
    await waitFor(
      'the old board to be offline',
      async () => {
        const st = (await siteDetail('lc-enrol-01')).status;
        return st?.connected === false || st?.condition === 'offline';
      },
      30_000,
    );
  }, 120_000);

  it('a used code is refused, saying so', async () => {
    const r = await tradeCode(s, spentCode);
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ error: 'LOANET_ENROL_REFUSED', reason: 'used' });
  });

  it('a wrong code is refused (unknown), and the board keeps no file', async () => {
    for (const code of ['AAAA-AAAA', 'not a code']) {
      const r = await tradeCode(s, code);
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ error: 'LOANET_ENROL_REFUSED', reason: 'unknown' });
    }
    const config = path.join(dir, 'wrong', 'agent.json');
    const e = await enrol({ server: s.baseUrl, code: 'ZZZZ-ZZZZ', configPath: config }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EnrolError);
    expect((e as EnrolError).failure).toMatchObject({ kind: 'refused', reason: 'unknown' });
    expect(fs.existsSync(config)).toBe(false);
    const audit = (await s.api<{ entries: Array<{ action: string; detail: { reason?: string } | null }> }>('GET', '/api/audit?action=site.enrol.refused')).body.entries;
    expect(audit.filter((a) => a.detail?.reason === 'unknown').length).toBeGreaterThanOrEqual(3);
  });

  it('only the newest code of a site works: an older one is refused as replaced', async () => {
    const older = await makeCode(s, 'lc-enrol-codes');
    const newer = await makeCode(s, 'lc-enrol-codes');
    expect((await tradeCode(s, older.code)).body).toMatchObject({ reason: 'replaced' });
    expect((await tradeCode(s, newer.code)).status).toBe(200);
  });

  it('boards racing for one code: exactly one gets the credential, the others are refused as used', async () => {
    const made = await makeCode(s, 'lc-enrol-race');
    const answers = await Promise.all(Array.from({ length: 6 }, () => tradeCode(s, made.code)));
    const won = answers.filter((a) => a.status === 200);
    expect(won).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 200)) expect(a).toMatchObject({ status: 403, body: { reason: 'used' } });
    const winner = won[0]!.body as Enrolled;
    expect(await credentialWorks('lc-enrol-race', winner.secret)).toBe(true);
    const live = await s.running.ctx.store.db.selectFrom('site_credentials').select('site_id').where('site_id', '=', 'lc-enrol-race').where('revoked_at', 'is', null).execute();
    expect(live).toHaveLength(1);
  });

  it('a code for a site retired since is refused; a retired site gets no code', async () => {
    const made = await makeCode(s, 'lc-enrol-retired');
    expect((await s.api('DELETE', '/api/sites/lc-enrol-retired')).status).toBe(200);
    const r = await tradeCode(s, made.code);
    expect(r).toMatchObject({ status: 403, body: { reason: 'site_retired' } });
    expect((await s.api('POST', '/api/sites/lc-enrol-retired/enrolment')).status).toBe(409);
  });

  it('a body larger than a code is refused before it is read (413); unknown fields are refused (400)', async () => {
    expect((await tradeCode(s, 'A'.repeat(2000))).status).toBe(413);
    const extra = await s.api('POST', '/api/enrol', { code: 'AAAA-AAAA', siteId: 'lc-enrol-01' }, { token: null });
    expect(extra.status).toBe(400);
  });

  // Last: it moves the server's clock a day ahead (the admin's session expires with it).
  it('an expired code is refused', async () => {
    const made = await makeCode(s, 'lc-enrol-codes');
    s.advance(DAY + 1000);
    const r = await tradeCode(s, made.code);
    expect(r).toMatchObject({ status: 403, body: { error: 'LOANET_ENROL_REFUSED', reason: 'expired' } });
  });
});

describe('a server that never finishes its answer', () => {
  it('an enrolment try ends at its bound as a whole, though a byte keeps coming (unreachable, so the board tries again)', async () => {
    // Headers at once, then one body byte every 50 ms for ever: no silence ever reaches the idle timeout.
    const drips = new Set<NodeJS.Timeout>();
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 50);
      drips.add(t);
      res.on('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const failure = await enrol({
        server: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
        code: 'ABCD-EFGH',
        configPath: path.join(tempDir('loanet-enrol-drip-'), 'agent.json'),
        timeoutMs: 500,
      }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(EnrolError);
      expect((failure as EnrolError).failure).toMatchObject({ kind: 'unreachable' });
      expect((failure as EnrolError).failure.message).toMatch(/no whole answer within/);
    } finally {
      for (const t of drips) clearInterval(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('guessing enrolment codes', () => {
  let s: Server;

  beforeAll(async () => {
    // X-Forwarded-For is believed from loopback, so one test process can be several addresses.
    s = await bootServer({ LOANET_ENROL_FAILURES_ADDRESS: '5', LOANET_ENROL_FAILURES_TOTAL: '8', LOANET_TRUST_PROXY: 'loopback' });
    await createSite(s, 'lc-guess-01');
  }, 60_000);
  afterAll(async () => {
    await s?.running.stop();
  });

  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  it('an address that guesses is answered 429 (even for a right code), others are not; past the total, everyone is', async () => {
    const made = await makeCode(s, 'lc-guess-01');
    for (let i = 0; i < 5; i++) {
      const r = await tradeCode(s, `AAAA-AAA${i}`, from('192.0.2.1'));
      expect(r.status).toBe(403);
    }
    const limited = await tradeCode(s, made.code, from('192.0.2.1'));
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: 'LOANET_RATE_LIMITED', limit: 'address', max: 5, windowMinutes: 15, variable: 'LOANET_ENROL_FAILURES_ADDRESS' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);

    // The same code from the board's own address still works (a success counts nothing).
    expect((await tradeCode(s, made.code, from('198.51.100.7'))).status).toBe(200);
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) expect((await tradeCode(s, 'BBBB-BBBB', from(ip))).status).toBe(403);
    const total = await tradeCode(s, 'CCCC-CCCC', from('203.0.113.4'));
    expect(total).toMatchObject({ status: 429, body: { limit: 'total', max: 8, variable: 'LOANET_ENROL_FAILURES_TOTAL' } });
  });
});
