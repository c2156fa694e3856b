/**
 * CAP fixtures made current for a test: the public samples are years old and
 * aimed at American areas, so a test that must broadcast one moves every
 * dateTime by the same amount (references still line up) and points its
 * first <area> at a Lào Cai administrative code.
 */
import fs from 'node:fs';
import path from 'node:path';

export const CAP_FIXTURES = path.resolve(import.meta.dirname, '../fixtures/cap');

const DATETIME = /(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([-+]\d{2}:\d{2})/g;

/** Every CAP dateTime moved by the same amount, so `base` lands on `to` (ms since the epoch). */
export function shiftDates(xml: string, base: string, to: number): string {
  const ms = (m: string) => Date.parse(m);
  const delta = to - ms(base);
  return xml.replace(DATETIME, (m, _y, _mo, _d, _h, _mi, _s, zone: string) => {
    const sign = zone.startsWith('-') ? -1 : 1;
    const off = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
    const local = new Date(ms(m) + delta + off);
    const p = (n: number) => String(n).padStart(2, '0');
    return `${local.getUTCFullYear()}-${p(local.getUTCMonth() + 1)}-${p(local.getUTCDate())}T${p(local.getUTCHours())}:${p(local.getUTCMinutes())}:${p(local.getUTCSeconds())}${zone}`;
  });
}

/** A fixture sent now, with its first <area> replaced by the given Vietnamese administrative code. */
export function capNowFor(file: string, adminCode: string, now = Date.now()): string {
  const xml = fs.readFileSync(path.join(CAP_FIXTURES, file), 'utf8');
  const sent = /<sent>([^<]+)<\/sent>/.exec(xml)![1]!;
  return shiftDates(xml, sent, now).replace(
    /<area>[\s\S]*?<\/area>/,
    `<area><areaDesc>${adminCode}</areaDesc><geocode><valueName>VN-ADMIN</valueName><value>${adminCode}</value></geocode></area>`,
  );
}

/** Every <sender> of the CAP fixtures. */
export function capFixtureSenders(): string[] {
  const out = new Set<string>();
  for (const f of fs.readdirSync(CAP_FIXTURES).filter((x) => x.endsWith('.xml'))) {
    const m = /<sender>([^<]+)<\/sender>/.exec(fs.readFileSync(path.join(CAP_FIXTURES, f), 'utf8'));
    if (m) out.add(m[1]!);
  }
  return [...out].sort();
}

/**
 * Register a CAP sender (or replace its accounts) as the test server's admin,
 * binding the given users to it: posting CAP needs an account bound to the
 * message's sender (server/alerts/cap-senders.ts).
 */
export async function bindCapSender(
  t: { api(method: string, url: string, body?: unknown, opts?: { token?: string | null; contentType?: string }): Promise<{ status: number; body: any }> },
  sender: string,
  accounts: Array<string | { username: string; tokenId: number }>,
  area: string | null = null,
): Promise<number> {
  const list = accounts.map((a) => (typeof a === 'string' ? { username: a } : a));
  const known = ((await t.api('GET', '/api/alerts/cap/senders')).body.senders as Array<{ id: number; sender: string }>).find((s) => s.sender === sender);
  const r = known
    ? await t.api('PATCH', `/api/alerts/cap/senders/${known.id}`, { area, accounts: list })
    : await t.api('POST', '/api/alerts/cap/senders', { sender, area, accounts: list });
  if (r.status !== 200 && r.status !== 201) throw new Error(`binding CAP sender ${sender}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as number;
}
