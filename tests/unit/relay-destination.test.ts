/**
 * Where a relay may connect (server/live/relay-destination.ts): the address
 * classification against an independent reference (Node's own BlockList and
 * URL serializer over a table of the IANA special-purpose ranges typed here
 * again), the textual forms a URL may carry, the administrator's allow-list,
 * and the check of a URL with its name resolved.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import net from 'node:net';
import { classifyAddress, parseIp, parseRelayAllow, relayVerdict, NO_RELAY_ALLOW, type AddressKind } from '../../server/live/relay-destination.ts';
import { checkRelayUrl, RelayRefused } from '../../server/live/relay-fetch.ts';

// ------------------------------------------------------------ the reference

/** IANA IPv4 and IPv6 special-purpose registries, as this test reads them. */
const REFERENCE: Record<Exclude<AddressKind, 'public'>, { v4: string[]; v6: string[] }> = {
  unspecified: { v4: ['0.0.0.0/8'], v6: ['::/128'] },
  loopback: { v4: ['127.0.0.0/8'], v6: ['::1/128'] },
  private: { v4: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'], v6: ['fc00::/7', '64:ff9b:1::/48'] },
  shared: { v4: ['100.64.0.0/10'], v6: [] },
  'link-local': { v4: ['169.254.0.0/16'], v6: ['fe80::/10'] },
  multicast: { v4: ['224.0.0.0/4'], v6: ['ff00::/8'] },
  documentation: { v4: ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'], v6: ['2001:db8::/32', '3fff::/20'] },
  benchmarking: { v4: ['198.18.0.0/15'], v6: [] },
  reserved: { v4: ['192.0.0.0/24', '192.88.99.0/24', '240.0.0.0/4'], v6: ['100::/64', '2001::/23', '2002::/16', '5f00::/16'] },
};

const lists = Object.entries(REFERENCE).map(([kind, r]) => {
  const v4 = new net.BlockList();
  const v6 = new net.BlockList();
  for (const c of r.v4) v4.addSubnet(c.split('/')[0]!, Number(c.split('/')[1]), 'ipv4');
  for (const c of r.v6) v6.addSubnet(c.split('/')[0]!, Number(c.split('/')[1]), 'ipv6');
  return { kind: kind as AddressKind, v4, v6 };
});
const globalUnicast = new net.BlockList();
globalUnicast.addSubnet('2000::', 3, 'ipv6');

function reference4(address: string): AddressKind {
  return lists.find((l) => l.v4.check(address, 'ipv4'))?.kind ?? 'public';
}

/** The IPv4 address an IPv6 address carries (mapped or NAT64), read off Node's canonical form of it. */
function embedded(address: string): string | undefined {
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  // Mapped (::ffff:0:0/96): always two groups after ffff, since the ffff itself ends the run of zeros ("::ffff:0" is
  // 0:0:0:0:0:0:ffff:0, not a mapped address). NAT64 (64:ff9b::/96): zero, one or two groups after the "::".
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical) ?? /^64:ff9b::(?:([0-9a-f]{1,4}):)?([0-9a-f]{1,4})?$/.exec(canonical);
  if (!m) return undefined;
  const hi = parseInt(m[1] ?? '0', 16);
  const lo = parseInt(m[2] ?? '0', 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

function reference(address: string): AddressKind {
  if (net.isIPv4(address)) return reference4(address);
  const v4 = embedded(address);
  if (v4 !== undefined) return reference4(v4);
  const hit = lists.find((l) => l.v6.check(address, 'ipv6'));
  if (hit) return hit.kind;
  return globalUnicast.check(address, 'ipv6') ? 'public' : 'reserved';
}

// ------------------------------------------------------------ generators

const v4Value = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  // Near the edges of the special ranges, where an off-by-one would show.
  fc.tuple(fc.constantFrom(...Object.values(REFERENCE).flatMap((r) => r.v4)), fc.integer({ min: -2, max: 2 }), fc.boolean()).map(([cidr, d, end]) => {
    const [ip, bits] = cidr.split('/');
    const base = ip!.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const size = 2 ** (32 - Number(bits));
    return Math.min(0xffffffff, Math.max(0, (end ? base + size : base) + d));
  }),
);
const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

const hex16 = (n: number) => n.toString(16);
const v6Text = fc.oneof(
  fc.ipV6(),
  fc
    .tuple(
      fc.constantFrom(...Object.values(REFERENCE).flatMap((r) => r.v6), '2000::/3', '64:ff9b::/96', '::ffff:0:0/96'),
      fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
    )
    .map(([cidr, random]) => {
      // The prefix's bits, then random ones.
      const [ip, bitsText] = cidr.split('/');
      const bits = Number(bitsText);
      const full = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
      const groups = expand(full);
      return groups
        .map((g, i) => {
          const keep = Math.max(0, Math.min(16, bits - i * 16));
          const maskKeep = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
          return hex16((g & maskKeep) | (random[i]! & ~maskKeep & 0xffff));
        })
        .join(':');
    }),
  v4Value.map((n) => `::ffff:${dotted(n)}`),
  v4Value.map((n) => `0:0:0:0:0:ffff:${hex16(n >>> 16)}:${hex16(n & 0xffff)}`),
  v4Value.map((n) => `64:ff9b::${dotted(n)}`),
);

/** Eight groups of an IPv6 address Node has already made canonical. */
function expand(canonical: string): number[] {
  const [head, tail] = canonical.includes('::') ? canonical.split('::') : [canonical, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => parseInt(g, 16));
}

/** The same IPv4 address as a URL may write it: octal, hex, fewer parts, one number. */
const v4Spelling = fc.tuple(v4Value, fc.constantFrom('dotted', 'hex', 'octal', 'mixed', 'three', 'two', 'one', 'onehex')).map(([n, how]) => {
  const o = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const text = {
    dotted: o.join('.'),
    hex: o.map((x) => `0x${x.toString(16)}`).join('.'),
    octal: o.map((x) => `0${x.toString(8)}`).join('.'),
    mixed: `0x${o[0]!.toString(16)}.${o[1]}.0${o[2]!.toString(8)}.${o[3]}`,
    three: `${o[0]}.${o[1]}.${(o[2]! << 8) | o[3]!}`,
    two: `${o[0]}.${n & 0xffffff}`,
    one: String(n),
    onehex: `0x${n.toString(16)}`,
  }[how]!;
  return { n, text };
});

// ------------------------------------------------------------ tests

describe('classifying an address', () => {
  it('names the range of the addresses a relay must not reach', () => {
    const cases: Array<[string, AddressKind, string?]> = [
      ['127.0.0.1', 'loopback', '127.0.0.0/8'],
      ['127.255.255.254', 'loopback'],
      ['10.1.2.3', 'private', '10.0.0.0/8'],
      ['172.16.0.1', 'private', '172.16.0.0/12'],
      ['172.31.255.255', 'private'],
      ['172.32.0.0', 'public'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'shared', '100.64.0.0/10'],
      ['100.127.255.255', 'shared'],
      ['100.128.0.0', 'public'],
      ['169.254.169.254', 'link-local', '169.254.0.0/16'],
      ['0.0.0.0', 'unspecified', '0.0.0.0/8'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'reserved', '240.0.0.0/4'],
      ['198.18.0.1', 'benchmarking'],
      ['8.8.8.8', 'public'],
      ['::1', 'loopback', '::1/128'],
      ['[::1]', 'loopback'],
      ['::', 'unspecified'],
      ['fd00::1', 'private', 'fc00::/7'],
      ['fe80::1', 'link-local'],
      ['fe80::1%eth0', 'link-local'],
      ['ff02::1', 'multicast'],
      ['2001:db8::1', 'documentation'],
      ['2002:7f00:1::', 'reserved', '2002::/16'],
      ['2001:4860:4860::8888', 'public'],
      ['::ffff:127.0.0.1', 'loopback', '127.0.0.0/8'],
      ['::ffff:7f00:1', 'loopback'],
      ['::ffff:a9fe:a9fe', 'link-local'],
      ['::ffff:8.8.8.8', 'public'],
      ['64:ff9b::7f00:1', 'loopback'],
      ['64:ff9b::8.8.8.8', 'public'],
      ['::127.0.0.1', 'reserved', 'outside 2000::/3'],
      // 0:0:0:0:0:0:ffff:0: the ffff is in the last but one group, so not an IPv4-mapped address.
      ['::255.255.0.0', 'reserved', 'outside 2000::/3'],
      ['::ffff:0:0', 'unspecified'],
      ['64:ff9b::', 'unspecified'],
    ];
    for (const [address, kind, range] of cases) {
      const c = classifyAddress(address);
      expect(c?.kind, address).toBe(kind);
      if (range) expect(c?.range, address).toBe(range);
    }
    expect(classifyAddress('::ffff:127.0.0.1')?.embeddedIpv4).toBe('127.0.0.1');
  });

  it('is no address at all for host names and malformed text', () => {
    for (const s of [
      'localhost',
      'radio.vn',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '256.1.1.1',
      '0x7f.0.0.1',
      '1::2::3',
      '12345::',
      ':::',
      '::ffff:1.2.3',
      '[::1',
      '',
      '1:2:3:4:5:6:7:8:9',
    ]) {
      expect(classifyAddress(s), s).toBeUndefined();
    }
  });

  it('property: every IPv4 address is classified as the reference table says', () => {
    fc.assert(
      fc.property(v4Value, (n) => {
        expect(classifyAddress(dotted(n))?.kind).toBe(reference(dotted(n)));
      }),
      { numRuns: 5000 },
    );
  });

  it('property: every IPv6 address, mapped and NAT64 forms included, is classified as the reference table says', () => {
    fc.assert(
      fc.property(v6Text, (text) => {
        expect(net.isIPv6(text), text).toBe(true);
        expect(classifyAddress(text)?.kind, text).toBe(reference(text));
        // Written as a URL would (brackets, Node's canonical form), the same.
        const host = new URL(`http://[${text}]/`).hostname;
        expect(classifyAddress(host)?.kind, host).toBe(reference(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('property: an IPv4 address spelt in hex, octal, fewer parts or one number reaches the check as itself (the URL parser normalises it)', () => {
    fc.assert(
      fc.property(v4Spelling, ({ n, text }) => {
        const host = new URL(`http://${text}:8000/live.mp3`).hostname;
        expect(host, text).toBe(dotted(n));
        expect(classifyAddress(host)?.kind, text).toBe(reference(dotted(n)));
      }),
      { numRuns: 3000 },
    );
    // The forms an attacker reaches for, one by one.
    for (const [text, kind] of [
      ['0x7f.1', 'loopback'],
      ['2130706433', 'loopback'],
      ['017700000001', 'loopback'],
      ['127.1', 'loopback'],
      ['0', 'unspecified'],
      ['[::ffff:127.0.0.1]', 'loopback'],
      ['[0:0:0:0:0:0:0:1]', 'loopback'],
      ['0xa9.0xfe.0xa9.0xfe', 'link-local'],
      ['[::ffff:169.254.169.254]', 'link-local'],
    ] as const) {
      expect(classifyAddress(new URL(`http://${text}/`).hostname)?.kind, text).toBe(kind);
    }
  });

  it('parses what Node calls an IP address, and nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 }), fc.stringMatching(/^[0-9a-f:.]{1,30}$/)), (s) => {
        // Node accepts a few IPv4 forms inside IPv6 that are not RFC text; everything parsed must be an IP to Node.
        const ours = parseIp(s);
        if (ours) expect(net.isIP(s), s).toBe(ours.family);
        if (net.isIPv4(s)) expect(ours?.family, s).toBe(4);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('LOANET_RELAY_ALLOW', () => {
  it('reads addresses, networks and host names, separated by commas or spaces', () => {
    const r = parseRelayAllow(' 127.0.0.1, 10.20.0.0/16 fd00::/8,[::1]  Radio.LAN. ');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.allow.hosts).toEqual(['radio.lan']);
    expect(r.allow.networks.map((n) => n.text)).toEqual(['127.0.0.1', '10.20.0.0/16', 'fd00::/8', '[::1]']);
    expect(parseRelayAllow(undefined)).toEqual({ ok: true, allow: NO_RELAY_ALLOW });
    expect(parseRelayAllow('')).toEqual({ ok: true, allow: NO_RELAY_ALLOW });
  });

  it('names the entry that is not valid', () => {
    for (const bad of ['10.0.0.0/33', '::1/129', 'http://radio', 'radio_lan', '1.2.3', '127.1', '-x.lan', 'a..b']) {
      expect(parseRelayAllow(`127.0.0.1,${bad}`), bad).toEqual({ ok: false, entry: bad });
    }
  });

  it('lets through what it lists, and still nothing else', () => {
    const r = parseRelayAllow('127.0.0.1,10.20.0.0/16,fd00::/8,radio.lan');
    if (!r.ok) throw new Error('invalid');
    const allow = r.allow;
    expect(relayVerdict('127.0.0.1', '127.0.0.1', allow)).toEqual({ ok: true });
    // A mapped address is its IPv4 address.
    expect(relayVerdict('[::ffff:7f00:1]', '::ffff:7f00:1', allow)).toEqual({ ok: true });
    expect(relayVerdict('10.20.3.4', '10.20.3.4', allow)).toEqual({ ok: true });
    expect(relayVerdict('radio.lan', '10.99.0.1', allow)).toEqual({ ok: true });
    expect(relayVerdict('RADIO.LAN.', '10.99.0.1', allow)).toEqual({ ok: true });
    expect(relayVerdict('[fd12::1]', 'fd12::1', allow)).toEqual({ ok: true });
    expect(relayVerdict('127.0.0.2', '127.0.0.2', allow)).toMatchObject({ ok: false, kind: 'loopback' });
    expect(relayVerdict('10.21.0.1', '10.21.0.1', allow)).toMatchObject({ ok: false, kind: 'private' });
    expect(relayVerdict('other.lan', '10.99.0.1', allow)).toMatchObject({ ok: false, kind: 'private' });
    expect(relayVerdict('8.8.8.8', '8.8.8.8', NO_RELAY_ALLOW)).toEqual({ ok: true });
  });

  it('says why a destination is refused, naming the range and the variable, not the address a name resolved to', () => {
    expect(relayVerdict('169.254.169.254', '169.254.169.254', NO_RELAY_ALLOW)).toEqual({
      ok: false,
      kind: 'link-local',
      range: '169.254.0.0/16',
      reason: '169.254.169.254 is a link-local address (169.254.0.0/16); relays reach only public addresses unless LOANET_RELAY_ALLOW lists it',
    });
    const named = relayVerdict('intranet.corp', '10.1.2.3', NO_RELAY_ALLOW);
    expect(named).toMatchObject({
      ok: false,
      reason: 'intranet.corp resolves to a private address (10.0.0.0/8); relays reach only public addresses unless LOANET_RELAY_ALLOW lists it',
    });
  });
});

describe('checking a relay URL', () => {
  const dnsOf = (answers: Record<string, string[]>) => async (host: string) => (answers[host] ?? []).map((address) => ({ address, family: net.isIP(address) }));

  it('connects to the first address of a name that it may use, and refuses a name with none', async () => {
    const resolve = dnsOf({ 'radio.vn': ['10.0.0.5', '203.119.8.1'], 'evil.vn': ['127.0.0.1', '::1'], 'nothing.vn': [] });
    expect(await checkRelayUrl(new URL('http://radio.vn/live'), NO_RELAY_ALLOW, resolve)).toMatchObject({ address: '203.119.8.1', family: 4 });
    await expect(checkRelayUrl(new URL('http://evil.vn/live'), NO_RELAY_ALLOW, resolve)).rejects.toThrow(
      /^evil\.vn resolves to a loopback address \(127\.0\.0\.0\/8\).*; evil\.vn resolves to a loopback address \(::1\/128\)/,
    );
    await expect(checkRelayUrl(new URL('http://nothing.vn/live'), NO_RELAY_ALLOW, resolve)).rejects.toThrow(/could not be resolved/);
    await expect(checkRelayUrl(new URL('ftp://radio.vn/live'), NO_RELAY_ALLOW, resolve)).rejects.toThrow(RelayRefused);
  });

  it('does not resolve a literal address, whatever the resolver would say', async () => {
    const resolve = async () => {
      throw new Error('must not be asked');
    };
    await expect(checkRelayUrl(new URL('http://0x7f.1:8000/'), NO_RELAY_ALLOW, resolve)).rejects.toThrow(/^127\.0\.0\.1 is a loopback address/);
    await expect(checkRelayUrl(new URL('http://[::ffff:127.0.0.1]:8000/'), NO_RELAY_ALLOW, resolve)).rejects.toThrow(/^::ffff:7f00:1 \(IPv4 127\.0\.0\.1\) is a loopback address/);
    expect(await checkRelayUrl(new URL('http://[2001:4860:4860::8888]/'), NO_RELAY_ALLOW, resolve)).toMatchObject({ address: '2001:4860:4860::8888', family: 6 });
  });

  it('resolves localhost with the system resolver and refuses it', async () => {
    await expect(checkRelayUrl(new URL('http://localhost:8000/live.mp3'), NO_RELAY_ALLOW)).rejects.toThrow(/^localhost resolves to a loopback address/);
  });
});
