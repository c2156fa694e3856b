/**
 * Where a relay may connect. Pure: the address classification, the
 * administrator's allow-list (LOANET_RELAY_ALLOW) and the decision for one
 * resolved address; the resolving and connecting are in relay-fetch.ts.
 *
 * A relay URL is chosen by an operator, so without a rule it is a way to
 * make the server fetch from its own network: the loopback interface (the
 * MQTT broker, an admin port), the LAN, a cloud metadata service on
 * 169.254.169.254. Only globally reachable unicast addresses are allowed;
 * every special-purpose range of the IANA IPv4 and IPv6 registries is
 * refused unless the administrator lists it. IPv4 embedded in IPv6 (mapped
 * ::ffff:a.b.c.d, NAT64 64:ff9b::/96) is judged by its IPv4 address, which
 * is where a connection to it ends up.
 */

export type AddressKind = 'public' | 'unspecified' | 'loopback' | 'private' | 'shared' | 'link-local' | 'multicast' | 'documentation' | 'benchmarking' | 'reserved';

export interface AddressClass {
  kind: AddressKind;
  /** The range it fell in ("127.0.0.0/8"); none for a public address. */
  range?: string;
  /** The IPv4 address an IPv4-mapped or NAT64 IPv6 address carries. */
  embeddedIpv4?: string;
}

interface Range {
  family: 4 | 6;
  base: bigint;
  bits: number;
  text: string;
  kind: AddressKind;
}

/** Special-purpose IPv4 ranges (IANA IPv4 Special-Purpose Address Registry, RFC 6890 and later). */
const IPV4_SPECIAL: ReadonlyArray<[string, AddressKind]> = [
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
];

/**
 * Special-purpose IPv6 ranges. Outside 2000::/3 (global unicast) everything is
 * unassigned or special, so only 2000::/3 minus these is public.
 */
const IPV6_SPECIAL: ReadonlyArray<[string, AddressKind]> = [
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['64:ff9b:1::/48', 'private'],
  ['100::/64', 'reserved'],
  ['2001::/23', 'reserved'],
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', 'reserved'],
  ['3fff::/20', 'documentation'],
  ['5f00::/16', 'reserved'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
];

// ---------------------------------------------------------------- parsing

/** A dotted-quad IPv4 address as a number; undefined for anything else (no octal, hex or short forms). */
export function parseIpv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0n;
  for (const p of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = (n << 8n) | BigInt(v);
  }
  return n;
}

/** An IPv6 address (RFC 4291 text, a trailing dotted quad allowed, a %zone ignored) as a number; undefined otherwise. */
export function parseIpv6(s: string): bigint | undefined {
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.length === 0 || s.length > 45) return undefined;
  let tail: bigint | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail = parseIpv4(s.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    // The dotted quad stands for two groups.
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] | undefined => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  let n = 0n;
  for (const g of [...head, ...Array<string>(missing).fill('0'), ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail !== undefined) n = (n & ~0xffffffffn) | tail;
  return n;
}

export function formatIpv4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
}

/** A literal IP address (IPv6 with or without brackets): its family and value; undefined for a host name. */
export function parseIp(s: string): { family: 4 | 6; value: bigint } | undefined {
  const t = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  const v4 = parseIpv4(t);
  if (v4 !== undefined) return { family: 4, value: v4 };
  if (!t.includes(':')) return undefined;
  const v6 = parseIpv6(t);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

function parseCidr(text: string): { family: 4 | 6; base: bigint; bits: number } | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  if (!ip) return undefined;
  const width = ip.family === 4 ? 32 : 128;
  let bits = width;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > width) return undefined;
    bits = Number(b);
  }
  return { family: ip.family, base: ip.value & mask(width, bits), bits };
}

function mask(width: number, bits: number): bigint {
  return ((1n << BigInt(width)) - 1n) ^ ((1n << BigInt(width - bits)) - 1n);
}

function inRange(value: bigint, width: number, r: { base: bigint; bits: number }): boolean {
  return (value & mask(width, r.bits)) === r.base;
}

const MAPPED = parseCidr('::ffff:0:0/96')!;
const NAT64 = parseCidr('64:ff9b::/96')!;
const GLOBAL_UNICAST = parseCidr('2000::/3')!;

const TABLE: Range[] = [...IPV4_SPECIAL.map(([t, k]) => [t, k, 4] as const), ...IPV6_SPECIAL.map(([t, k]) => [t, k, 6] as const)].map(([text, kind, family]) => {
  const c = parseCidr(text)!;
  return { family, base: c.base, bits: c.bits, text, kind };
});

// ---------------------------------------------------------------- classification

function classify4(v: bigint): AddressClass {
  let best: Range | undefined;
  for (const r of TABLE) if (r.family === 4 && inRange(v, 32, r) && (!best || r.bits > best.bits)) best = r;
  return best ? { kind: best.kind, range: best.text } : { kind: 'public' };
}

/** What kind of address this is; undefined when it is not an IP address at all. */
export function classifyAddress(address: string): AddressClass | undefined {
  const ip = parseIp(address);
  if (!ip) return undefined;
  if (ip.family === 4) return classify4(ip.value);
  const v = ip.value;
  for (const embed of [MAPPED, NAT64]) {
    if (inRange(v, 128, embed)) {
      const v4 = v & 0xffffffffn;
      return { ...classify4(v4), embeddedIpv4: formatIpv4(v4) };
    }
  }
  let best: Range | undefined;
  for (const r of TABLE) if (r.family === 6 && inRange(v, 128, r) && (!best || r.bits > best.bits)) best = r;
  if (best) return { kind: best.kind, range: best.text };
  return inRange(v, 128, GLOBAL_UNICAST) ? { kind: 'public' } : { kind: 'reserved', range: 'outside 2000::/3' };
}

// ---------------------------------------------------------------- the allow-list

export interface RelayAllow {
  /** Host names allowed whatever they resolve to (lower case, no trailing dot). */
  hosts: string[];
  /** Addresses and networks allowed even though they are not public. */
  networks: Array<{ family: 4 | 6; base: bigint; bits: number; text: string }>;
}

export const NO_RELAY_ALLOW: RelayAllow = { hosts: [], networks: [] };

const HOST_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * LOANET_RELAY_ALLOW: entries separated by commas or spaces, each an IP
 * address (127.0.0.1, ::1), a network (10.20.0.0/16, fd00::/8) or a host
 * name (radio.lan). Answers the entry at fault when one is not valid.
 */
export function parseRelayAllow(raw: string | undefined): { ok: true; allow: RelayAllow } | { ok: false; entry: string } {
  const allow: RelayAllow = { hosts: [], networks: [] };
  for (const entry of (raw ?? '').split(/[\s,]+/).filter(Boolean)) {
    const c = parseCidr(entry);
    if (c) {
      allow.networks.push({ ...c, text: entry });
      continue;
    }
    const host = entry.toLowerCase().replace(/\.$/, '');
    // A name made of digits and dots would be read as an address by some resolvers: it must be written as one.
    if (!HOST_NAME.test(host) || /^[\d.]+$/.test(host)) return { ok: false, entry };
    allow.hosts.push(host);
  }
  return { ok: true, allow };
}

/** The value of an IPv4-mapped IPv6 address as IPv4, so ::ffff:127.0.0.1 is matched by 127.0.0.1/8. */
function asFamily(ip: { family: 4 | 6; value: bigint }): { family: 4 | 6; value: bigint } {
  return ip.family === 6 && inRange(ip.value, 128, MAPPED) ? { family: 4, value: ip.value & 0xffffffffn } : ip;
}

export type RelayVerdict = { ok: true } | { ok: false; kind: AddressKind; range: string; reason: string };

/**
 * May a relay for URL host `host` connect to `address` (what `host` resolved
 * to, or the literal itself)? Yes for a public address, an address inside an
 * allowed network, or a host name the administrator allowed.
 */
export function relayVerdict(host: string, address: string, allow: RelayAllow): RelayVerdict {
  const name = host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
  if (allow.hosts.includes(name)) return { ok: true };
  const ip = parseIp(address);
  if (!ip) return { ok: false, kind: 'reserved', range: 'not an IP address', reason: `${address} is not an IP address` };
  const v = asFamily(ip);
  for (const n of allow.networks) {
    if (n.family === v.family && inRange(v.value, v.family === 4 ? 32 : 128, n)) return { ok: true };
  }
  const c = classifyAddress(address)!;
  if (c.kind === 'public') return { ok: true };
  const range = c.range ?? '';
  const literal = parseIp(name) !== undefined;
  // For a host name, the range and not the address: the answer must not turn the check into a way to read internal DNS.
  const what = literal ? `${address.replace(/^\[|\]$/g, '')}${c.embeddedIpv4 ? ` (IPv4 ${c.embeddedIpv4})` : ''} is` : `${name} resolves to`;
  return { ok: false, kind: c.kind, range, reason: `${what} a ${c.kind} address (${range}); relays reach only public addresses unless LOANET_RELAY_ALLOW lists it` };
}

/** Only network streams over HTTP(S): file:, data:, ftp: and the rest would read something else than a radio. */
export function relaySchemeProblem(url: URL): string | undefined {
  return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : `only http and https streams can be relayed, not ${url.protocol}`;
}
