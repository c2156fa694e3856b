/**
 * What loanet serves an external broker, over plain HTTP: the EMQX
 * authentication and authorization hooks (shared secret header, no token)
 * and the Mosquitto password and ACL files (province-wide admin, audited).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { siteTopic, areaAudioTopic } from '../../protocol/index.ts';
import { verifyMosquittoPasswordHash } from '../../server/fleet/mosquitto-files.ts';

const HOOK_SECRET = 'a-shared-hook-secret-for-tests';
const SERVER_PASSWORD = 'the-server-mqtt-password';
let t: TestServer;
const secrets: Record<string, string> = {};

async function hook(kind: 'authn' | 'authz', body: unknown, secret: string | null = HOOK_SECRET) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret !== null) headers['x-loanet-hook-secret'] = secret;
  const res = await fetch(`${t.baseUrl}/api/broker/emqx/${kind}`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { result?: string; message?: string } };
}

beforeAll(async () => {
  t = await startTestServer({ LOANET_BROKER_HOOK_SECRET: HOOK_SECRET, LOANET_MQTT_PASSWORD: SERVER_PASSWORD });
  await importLaoCai2025(t);
  for (const id of ['hook-a', 'hook-b', 'hook-old']) {
    const r = await t.api('POST', '/api/sites', { id, name: id, kind: 'station', area: '02683' });
    expect(r.status).toBe(201);
    secrets[id] = r.body.credential.secret;
  }
});

afterAll(async () => {
  await t?.stop();
});

describe('EMQX authentication hook', () => {
  it('refuses callers without the shared secret header, or with a wrong one', async () => {
    const body = { clientid: 'hook-a', username: 'hook-a', password: secrets['hook-a'] };
    expect((await hook('authn', body, null)).status).toBe(401);
    expect((await hook('authn', body, 'not-the-hook-secret')).status).toBe(401);
    expect((await hook('authn', body, HOOK_SECRET + 'x')).status).toBe(401);
  });

  it('allows a site with its current secret and client id = username, as the embedded broker does', async () => {
    expect((await hook('authn', { clientid: 'hook-a', username: 'hook-a', password: secrets['hook-a'] })).body).toEqual({ result: 'allow', is_superuser: false });
  });

  it('denies a wrong secret, another client id, an unknown site, and a rotated or retired credential', async () => {
    const deny = { result: 'deny', is_superuser: false };
    expect((await hook('authn', { clientid: 'hook-a', username: 'hook-a', password: secrets['hook-b'] })).body).toEqual(deny);
    expect((await hook('authn', { clientid: 'hook-b', username: 'hook-a', password: secrets['hook-a'] })).body).toEqual(deny);
    expect((await hook('authn', { clientid: 'nobody', username: 'nobody', password: 'x' })).body).toEqual(deny);
    const old = secrets['hook-b']!;
    secrets['hook-b'] = (await t.api('POST', '/api/sites/hook-b/credential')).body.credential.secret;
    expect((await hook('authn', { clientid: 'hook-b', username: 'hook-b', password: old })).body).toEqual(deny);
    expect((await hook('authn', { clientid: 'hook-b', username: 'hook-b', password: secrets['hook-b'] })).body.result).toBe('allow');
  });

  it("allows the server's own user with LOANET_MQTT_PASSWORD only", async () => {
    expect((await hook('authn', { clientid: 'loanet_server', username: 'loanet_server', password: SERVER_PASSWORD })).body.result).toBe('allow');
    expect((await hook('authn', { clientid: 'loanet_server', username: 'loanet_server', password: 'guess' })).body.result).toBe('deny');
  });
});

describe('EMQX authorization hook', () => {
  const authz = async (username: string, action: string, topic: string) => (await hook('authz', { username, action, topic })).body.result;

  it("answers from the pure ACL: a site publishes its own uplink, subscribes to its cmd and its areas' audio", async () => {
    expect(await authz('hook-a', 'publish', siteTopic('hook-a', 'telemetry'))).toBe('allow');
    expect(await authz('hook-a', 'subscribe', siteTopic('hook-a', 'cmd'))).toBe('allow');
    expect(await authz('hook-a', 'subscribe', areaAudioTopic('2025.15'))).toBe('allow');
    expect(await authz('hook-a', 'publish', siteTopic('hook-b', 'telemetry'))).toBe('deny');
    expect(await authz('hook-a', 'publish', siteTopic('hook-a', 'cmd'))).toBe('deny');
    expect(await authz('hook-a', 'subscribe', siteTopic('hook-b', 'cmd'))).toBe('deny');
    expect(await authz('hook-a', 'subscribe', 'loanet/v1/#')).toBe('deny');
    expect(await authz('nobody', 'publish', siteTopic('nobody', 'state'))).toBe('deny');
  });

  it('lets the server user use anything under loanet/v1/', async () => {
    expect(await authz('loanet_server', 'subscribe', 'loanet/v1/sites/+/state')).toBe('allow');
    expect(await authz('loanet_server', 'publish', siteTopic('hook-a', 'cmd'))).toBe('allow');
    expect(await authz('loanet_server', 'publish', 'elsewhere/x')).toBe('deny');
  });

  it('refuses an unknown action and a missing secret', async () => {
    expect((await hook('authz', { username: 'hook-a', action: 'all', topic: 'x' })).status).toBe(400);
    expect((await hook('authz', { username: 'hook-a', action: 'publish', topic: 'x' }, null)).status).toBe(401);
  });
});

describe('Mosquitto files', () => {
  it('serves the password file to an admin as text/plain, audited, with the server user and every site', async () => {
    const res = await fetch(`${t.baseUrl}/api/broker/mosquitto/passwd`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(res.headers.get('x-loanet-sites-without-mosquitto-hash')).toBe('0');
    const users = new Map(
      (await res.text())
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(':') as [string, string]),
    );
    expect([...users.keys()].sort()).toEqual(['hook-a', 'hook-b', 'hook-old', 'loanet_server']);
    expect(verifyMosquittoPasswordHash(secrets['hook-a']!, users.get('hook-a')!)).toBe(true);
    expect(verifyMosquittoPasswordHash(secrets['hook-b']!, users.get('hook-b')!)).toBe(true); // the rotated one
    expect(verifyMosquittoPasswordHash(SERVER_PASSWORD, users.get('loanet_server')!)).toBe(true);
    const audit = (await t.api('GET', '/api/audit?action=broker.')).body;
    expect(JSON.stringify(audit)).toMatch(/broker\.mosquitto\.passwd/);
  });

  it('serves the ACL file', async () => {
    const res = await fetch(`${t.baseUrl}/api/broker/mosquitto/acl`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^user loanet_server\ntopic readwrite loanet\/v1\/#$/m);
    expect(text).toMatch(/^pattern write loanet\/v1\/sites\/%u\/state$/m);
    expect(text).toMatch(/^user hook-a\ntopic read la\/2025\.02683/m);
  });

  it('names the sites whose credential predates Mosquitto hashes, until they are rotated; leaves retired sites out', async () => {
    await t.server.ctx.store.db.updateTable('site_credentials').set({ mosquitto_hash: null }).where('site_id', '=', 'hook-old').execute();
    let res = await fetch(`${t.baseUrl}/api/broker/mosquitto/passwd`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(res.headers.get('x-loanet-sites-without-mosquitto-hash')).toBe('1');
    let text = await res.text();
    expect(text).toMatch(/^# rotate: hook-old$/m);
    expect(text).not.toMatch(/^hook-old:/m);
    await t.api('POST', '/api/sites/hook-old/credential');
    res = await fetch(`${t.baseUrl}/api/broker/mosquitto/passwd`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(res.headers.get('x-loanet-sites-without-mosquitto-hash')).toBe('0');
    expect(await res.text()).toMatch(/^hook-old:\$7\$101\$/m);
    expect((await t.api('DELETE', '/api/sites/hook-old')).status).toBeLessThan(300);
    text = await (await fetch(`${t.baseUrl}/api/broker/mosquitto/passwd`, { headers: { authorization: `Bearer ${t.token}` } })).text();
    expect(text).not.toMatch(/hook-old/);
  });

  it('is for admins of the whole network only', async () => {
    for (const [username, role, area] of [
      ['viewer1', 'viewer', undefined],
      ['areaadmin', 'admin', '02683'],
    ] as const) {
      expect((await t.api('POST', '/api/users', { username, password: 'a-long-password', role, ...(area ? { area } : {}) })).status).toBe(201);
      const token = (await t.api('POST', '/api/auth/login', { username, password: 'a-long-password' }, { token: null })).body.token as string;
      expect((await t.api('GET', '/api/broker/mosquitto/passwd', undefined, { token })).status).toBe(403);
      expect((await t.api('GET', '/api/broker/mosquitto/acl', undefined, { token })).status).toBe(403);
    }
    expect((await t.api('GET', '/api/broker/mosquitto/acl', undefined, { token: null })).status).toBe(401);
  });
});

describe('hooks switched off', () => {
  it('answers 503 naming LOANET_BROKER_HOOK_SECRET when it is not set', async () => {
    const other = await startTestServer();
    try {
      const res = await fetch(`${other.baseUrl}/api/broker/emqx/authn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-loanet-hook-secret': 'anything-at-all-here' },
        body: JSON.stringify({ clientid: 'a', username: 'a', password: 'b' }),
      });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { message: string }).message).toMatch(/LOANET_BROKER_HOOK_SECRET/);
    } finally {
      await other.stop();
    }
  });
});
