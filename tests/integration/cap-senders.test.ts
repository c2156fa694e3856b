/**
 * CAP sender identity over real HTTP, SQLite and the CAP parser: a CAP
 * `<sender>` is honoured only from the accounts an admin bound to it, every
 * message (whatever its status) is checked against the caller's area and
 * the sender's, and one sender's messages never collide with, update or
 * cancel another sender's alerts.
 *
 * The attack this reproduces: an emergency official of commune B posted
 * System messages claiming the province's sender with the identifiers the
 * province would use next; the province's real alert was then refused with
 * 409, and a Cancel sent under another sender cancelled an alert.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';

import { bindCapSender, CAP_FIXTURES, shiftDates } from '../helpers/cap.ts';
import { haveTools } from '../helpers/require-tool.ts';

const run = haveTools('ffmpeg', 'espeak-ng');

const PROVINCE = 'pctt@laocai.gov.vn';
const COMMUNE_B_SENDER = 'ubnd@camduong.laocai.gov.vn';
const OTHER_SENDER = 'canhbao@tinh-ben.gov.vn';
const BASE_SENT = '2025-09-17T04:10:00+07:00';

let t: TestServer;
const tokens = {} as { province: string; communeB: string; other: string };

async function userToken(username: string, role: string, area?: string): Promise<string> {
  const password = `long-passphrase-${username.length}-kx7`;
  const r = await t.api('POST', '/api/users', { username, password, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password }, { token: null })).body.token as string;
}

const postCap = (xml: string, token: string) => t.api('POST', '/api/alerts/cap', xml, { token, contentType: 'application/cap+xml' });

/** A fixture sent now, with its identifiers made unique to this run (`tag`), optionally edited. */
function capNow(file: string, tag: string, edit: (s: string) => string = (s) => s): string {
  const xml = fs.readFileSync(path.join(CAP_FIXTURES, file), 'utf8');
  return edit(shiftDates(xml, BASE_SENT, Date.now()).replaceAll('LC-PCTT-2025-0917-LQ-', `LC-PCTT-2025-0917-LQ-${tag}`));
}
const withSender = (sender: string) => (s: string) => s.replace(/<sender>[^<]*<\/sender>/, `<sender>${sender}</sender>`);
const withStatus = (status: string) => (s: string) => s.replace('<status>Actual</status>', `<status>${status}</status>`);
const withArea = (code: string) => (s: string) => s.replace(/<value>\d+<\/value>/g, `<value>${code}</value>`);
const withoutInfo = (s: string) => s.replace(/<info>[\s\S]*<\/info>/, '');

beforeAll(async () => {
  if (!run) return;
  t = await startTestServer();
  await importLaoCai2025(t);
  for (const [name, area, lat, lon] of [
    ['Cụm loa thôn Bản Vược', '02683', 22.52, 103.85],
    ['Cụm loa tổ 5 Cam Đường', '02671', 22.43, 104.0],
  ] as const) {
    const r = await t.api('POST', '/api/sites', { name, kind: 'cluster', area, lat, lon });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
  }
  tokens.province = await userToken('khan-cap-tinh', 'emergency');
  tokens.communeB = await userToken('khan-cap-cam-duong', 'emergency', '02671');
  tokens.other = await userToken('khan-cap-tinh-ben', 'emergency');
  await bindCapSender(t, PROVINCE, ['khan-cap-tinh'], '15');
  await bindCapSender(t, COMMUNE_B_SENDER, ['khan-cap-cam-duong'], '02671');
  await bindCapSender(t, OTHER_SENDER, ['khan-cap-tinh-ben']);
}, 60_000);
afterAll(async () => t?.stop());

describe.skipIf(!run)('CAP sender identity', () => {
  it("commune B's official cannot post under the province's sender, whatever the status; the province's real alert then goes through", async () => {
    // Guessable future identifiers of the province, claimed with every status.
    for (const status of ['System', 'Test', 'Exercise', 'Draft', 'Actual']) {
      for (const n of ['001', '002', '003']) {
        const r = await postCap(
          capNow('vn-lu-quet-bat-xat-alert.xml', 'A', (s) => withStatus(status)(s.replace('LQ-A001', `LQ-A${n}`))),
          tokens.communeB,
        );
        expect(r.status, `${status} ${n}: ${JSON.stringify(r.body)}`).toBe(403);
        expect(r.body.field).toBe('alert/sender');
        expect(r.body.message).toContain(PROVINCE);
      }
    }
    // The same with no <info> at all (nothing to place): still not its sender.
    expect(
      (
        await postCap(
          capNow('vn-lu-quet-bat-xat-alert.xml', 'A', (s) => withoutInfo(withStatus('System')(s))),
          tokens.communeB,
        )
      ).status,
    ).toBe(403);
    const real = await postCap(capNow('vn-lu-quet-bat-xat-alert.xml', 'A'), tokens.province);
    expect(real.status, JSON.stringify(real.body)).toBe(201);
    expect(real.body.alert.cap).toMatchObject({ sender: PROVINCE, identifier: 'LC-PCTT-2025-0917-LQ-A001' });
    // The refusals were audited, naming the sender claimed.
    const audit = (await t.api('GET', '/api/audit?action=alert.cap.denied&limit=100')).body.entries as Array<{ username: string; target: string }>;
    expect(audit.length).toBeGreaterThanOrEqual(16);
    expect(audit.every((e) => e.username === 'khan-cap-cam-duong' && e.target === PROVINCE)).toBe(true);
  }, 60_000);

  it("every message under its own sender is checked against the caller's and the sender's area, System ones too", async () => {
    // Its own sender, but the province's commune A: refused for every status, nothing stored.
    for (const status of ['System', 'Test', 'Actual']) {
      const r = await postCap(
        capNow('vn-lu-quet-bat-xat-alert.xml', `B${status}`, (s) => withStatus(status)(withSender(COMMUNE_B_SENDER)(s))),
        tokens.communeB,
      );
      expect(r.status, `${status}: ${JSON.stringify(r.body)}`).toBe(403);
      expect(r.body.field).toBe('alert/info/area');
    }
    // A network-wide official bound to commune B's sender is still held to the sender's area.
    await bindCapSender(t, COMMUNE_B_SENDER, ['khan-cap-cam-duong', 'khan-cap-tinh'], '02671');
    const wide = await postCap(capNow('vn-lu-quet-bat-xat-alert.xml', 'BW', withStatus('System')), tokens.province);
    expect(wide.status).toBe(200); // its own province sender: stored
    const viaB = await postCap(
      capNow('vn-lu-quet-bat-xat-alert.xml', 'BX', (s) => withStatus('System')(withSender(COMMUNE_B_SENDER)(s))),
      tokens.province,
    );
    expect(viaB.status).toBe(403);
    expect(viaB.body.message).toContain(`the area of sender ${COMMUNE_B_SENDER}`);
    // Inside its own commune, a System message is stored.
    const ok = await postCap(
      capNow('vn-lu-quet-bat-xat-alert.xml', 'BOK', (s) => withArea('02671')(withStatus('System')(withSender(COMMUNE_B_SENDER)(s)))),
      tokens.communeB,
    );
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.outcome).toBe('stored');
  }, 60_000);

  it("a Cancel or an Update under another sender never touches the province's alert; identifiers are unique per sender", async () => {
    const real = await postCap(capNow('vn-lu-quet-bat-xat-alert.xml', 'C'), tokens.province);
    expect(real.status, JSON.stringify(real.body)).toBe(201);
    const id = real.body.id as string;
    // Another sender, posted by a network-wide official bound to it, references the province's alert.
    const cancel = await postCap(
      capNow('vn-lu-quet-bat-xat-cancel.xml', 'C', (s) => withoutInfo(withSender(OTHER_SENDER)(s))),
      tokens.other,
    );
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    expect(cancel.body.outcome).toBe('stored');
    expect(cancel.body.warnings.join(' ')).toContain("another sender's message");
    const update = await postCap(capNow('vn-lu-quet-bat-xat-update.xml', 'C', withSender(OTHER_SENDER)), tokens.other);
    expect(update.status, JSON.stringify(update.body)).toBe(201); // its own new alert, not a revision of the province's
    expect(update.body.id).not.toBe(id);
    const still = (await t.api('GET', `/api/alerts/${id}`)).body.alert;
    expect(still).toMatchObject({ state: 'active', revision: 1 });
    // The province's own identifier used by commune B's sender, inside commune B: a new alert of that sender, no conflict.
    const same = await postCap(
      capNow('vn-lu-quet-bat-xat-alert.xml', 'C', (s) => withArea('02671')(withSender(COMMUNE_B_SENDER)(s))),
      tokens.communeB,
    );
    expect(same.status, JSON.stringify(same.body)).toBe(201);
    expect(same.body.alert.cap).toMatchObject({ sender: COMMUNE_B_SENDER, identifier: 'LC-PCTT-2025-0917-LQ-C001' });
    // The province's Cancel still cancels its own alert.
    const own = await postCap(capNow('vn-lu-quet-bat-xat-cancel.xml', 'C'), tokens.province);
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.cancelled).toEqual([id]);
    await t.api('POST', `/api/alerts/${update.body.id}/cancel`);
    await t.api('POST', `/api/alerts/${same.body.id}/cancel`);
  }, 60_000);

  it('a sender bound to one API token accepts that token only; an unbound or unregistered sender is refused except for a network-wide admin, and listed for binding', async () => {
    const script = await t.api('POST', '/api/auth/tokens', { name: 'cap-feed' }, { token: tokens.communeB });
    expect(script.status, JSON.stringify(script.body)).toBe(201);
    await bindCapSender(t, 'feed@camduong.laocai.gov.vn', [{ username: 'khan-cap-cam-duong', tokenId: script.body.id }], '02671');
    const msg = capNow('vn-lu-quet-bat-xat-alert.xml', 'D', (s) => withArea('02671')(withStatus('System')(withSender('feed@camduong.laocai.gov.vn')(s))));
    expect((await postCap(msg, tokens.communeB)).status).toBe(403);
    expect((await postCap(msg, script.body.token)).status).toBe(200);
    // A token of another user is not accepted for the binding.
    const bad = await t.api('PATCH', '/api/alerts/cap/senders/1', { accounts: [{ username: 'khan-cap-tinh', tokenId: script.body.id }] });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('accounts[0].tokenId');
    // Unregistered: refused for the official, accepted from the network-wide admin and then listed with who posted it.
    const legacy = capNow('vn-lu-quet-bat-xat-alert.xml', 'E', (s) => withStatus('System')(withSender('legacy@laocai.gov.vn')(s)));
    expect((await postCap(legacy, tokens.province)).status).toBe(403);
    expect((await postCap(legacy, t.token)).status).toBe(200);
    const listed = (await t.api('GET', '/api/alerts/cap/senders')).body;
    expect(listed.unregistered).toContainEqual({ sender: 'legacy@laocai.gov.vn', messages: 1, postedBy: ['admin'] });
    expect(listed.senders.map((x: { sender: string }) => x.sender)).toContain(PROVINCE);
  }, 60_000);
});
