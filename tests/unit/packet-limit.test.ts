import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_TOPIC_PEEK, PacketSizeGuard, SITE_PACKET_LIMITS, largestSiteLimit, packetLimit, type PacketLimits, type PacketStage } from '../../server/fleet/packet-limit.ts';
import fs from 'node:fs';
import path from 'node:path';
import { MOSQUITTO_MAX_PACKET_SIZE, mosquittoLimitsConf } from '../../server/fleet/mosquitto-files.ts';
import { connectPacket, packet, publishPacket, str, varint } from '../helpers/mqtt-bytes.ts';
import { MAX_PLAYLIST_BYTES, MAX_JSON_PAYLOAD_BYTES, decodeClockRequest, decodeState, siteTopic, PROTOCOL_VERSION } from '../../protocol/index.ts';

// MQTT bytes, written by hand (tests/helpers/mqtt-bytes.ts).
const publish = (topic: string, payload: Buffer, qos: 0 | 1 = 1, retain = false) => publishPacket(topic, payload, { qos, retain });

/** Cut `bytes` into chunks at the given (sorted, deduplicated) offsets. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    if (c > prev) out.push(bytes.subarray(prev, c));
    prev = Math.max(prev, c);
  }
  return out;
}

function feed(guard: PacketSizeGuard, chunks: Buffer[]): { out: Buffer; refused: boolean } {
  const out: Buffer[] = [];
  let refused = false;
  for (const c of chunks) {
    const r = guard.push(c);
    if (r.pass) out.push(Buffer.from(r.pass)); // copied: a passed chunk must stay valid after later pushes
    if (r.refused) refused = true;
  }
  return { out: Buffer.concat(out), refused };
}

/** The reference reading of a packet stream: each complete packet's type, size and (PUBLISH) topic. */
function frames(bytes: Buffer): Array<{ type: number; total: number; topic?: string }> {
  const out: Array<{ type: number; total: number; topic?: string }> = [];
  let i = 0;
  while (i < bytes.length) {
    let len = 0;
    let mul = 1;
    let k = i + 1;
    for (;;) {
      if (k >= bytes.length) return out;
      const b = bytes[k]!;
      len += (b & 0x7f) * mul;
      mul *= 128;
      k++;
      if ((b & 0x80) === 0) break;
    }
    const total = k - i + len;
    if (i + total > bytes.length) return out;
    const type = bytes[i]! >> 4;
    let topic: string | undefined;
    if (type === 3 && len >= 2) {
      const tl = bytes.readUInt16BE(k);
      if (tl <= MAX_TOPIC_PEEK && tl + 2 <= len && tl > 0) topic = bytes.subarray(k + 2, k + 2 + tl).toString('utf8');
    }
    out.push({ type, total, ...(topic !== undefined ? { topic } : {}) });
    i += total;
  }
  return out;
}

const SITE = 'sim-02683-v01';
const LONGEST_SITE = `a${'-'.repeat(62)}b`;

describe('packet size limits: the legitimate maximum of each message fits with margin', () => {
  const worstState = (siteId: string) => ({
    v: PROTOCOL_VERSION,
    siteId,
    state: 'offline' as const,
    at: Number.MAX_SAFE_INTEGER,
    // Every string at its longest, of characters JSON must escape (6 bytes each): the worst case in bytes.
    agentVersion: '\u0001'.repeat(40),
    reason: '\u0001'.repeat(80),
  });

  it('state (retained): the longest state message is under a quarter of its limit', () => {
    const m = worstState(LONGEST_SITE);
    expect(decodeState.check(m).ok).toBe(true);
    const bytes = publish(siteTopic(LONGEST_SITE, 'state'), Buffer.from(JSON.stringify(m)), 1, true).length;
    expect(bytes).toBeLessThan(SITE_PACKET_LIMITS.publish.state / 4);
  });

  it('clock: the longest request is under a quarter of its limit', () => {
    const m = { v: PROTOCOL_VERSION, siteId: LONGEST_SITE, id: 0xffff_ffff, t0: Number.MAX_VALUE };
    expect(decodeClockRequest.check(m).ok).toBe(true);
    const bytes = publish(siteTopic(LONGEST_SITE, 'clock'), Buffer.from(JSON.stringify(m)), 0).length;
    expect(bytes).toBeLessThan(SITE_PACKET_LIMITS.publish.clock / 4);
  });

  it('telemetry and event: a payload at the decoder cap (16 KiB) is under the limit, so it is dropped and counted, not a disconnect', () => {
    for (const channel of ['telemetry', 'event'] as const) {
      const bytes = publish(siteTopic(LONGEST_SITE, channel), Buffer.alloc(MAX_JSON_PAYLOAD_BYTES + 1), 1).length;
      expect(bytes).toBeLessThan(SITE_PACKET_LIMITS.publish[channel]);
    }
  });

  it('CONNECT: the longest an agent sends (ids at 64, its 43-character secret, the worst will) is under a third of the limit before login', () => {
    const bytes = connectPacket({
      clientId: LONGEST_SITE,
      username: LONGEST_SITE,
      password: 'x'.repeat(43),
      will: { topic: siteTopic(LONGEST_SITE, 'state'), payload: Buffer.from(JSON.stringify(worstState(LONGEST_SITE))) },
    }).length;
    expect(bytes).toBeLessThan(SITE_PACKET_LIMITS.beforeAuth / 3);
  });

  it('picks the limit by stage, packet type and topic', () => {
    const L = SITE_PACKET_LIMITS;
    expect(packetLimit(L, 'before-auth', 3, siteTopic(SITE, 'telemetry'))).toBe(L.beforeAuth);
    expect(packetLimit(L, 'site', 3, siteTopic(SITE, 'telemetry'))).toBe(L.publish.telemetry);
    expect(packetLimit(L, 'site', 3, siteTopic(SITE, 'state'))).toBe(L.publish.state);
    expect(packetLimit(L, 'site', 3, siteTopic(SITE, 'playlist'))).toBe(L.control);
    expect(packetLimit(L, 'site', 3, 'la/2025.02683')).toBe(L.control);
    expect(packetLimit(L, 'site', 8, undefined)).toBe(L.control);
    expect(largestSiteLimit(L)).toBe(32 * 1024);
  });
});

describe('Mosquitto: one max_packet_size for every client', () => {
  it("lets the server's largest playlist through, covers every site limit, and is the value docs/operations.md shows", () => {
    expect(MOSQUITTO_MAX_PACKET_SIZE).toBeGreaterThan(publish(siteTopic(LONGEST_SITE, 'playlist'), Buffer.alloc(MAX_PLAYLIST_BYTES), 1, true).length);
    expect(MOSQUITTO_MAX_PACKET_SIZE).toBeGreaterThanOrEqual(largestSiteLimit(SITE_PACKET_LIMITS));
    expect(mosquittoLimitsConf()).toContain(`max_packet_size ${MOSQUITTO_MAX_PACKET_SIZE}`);
    const ops = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/operations.md'), 'utf8');
    expect(ops).toContain(`max_packet_size ${MOSQUITTO_MAX_PACKET_SIZE}`);
  });
});

describe('PacketSizeGuard', () => {
  it('refuses a CONNECT declaring 250 MB from its 5-byte fixed header, before any body arrives', () => {
    const g = new PacketSizeGuard();
    const header = Buffer.concat([Buffer.from([0x10]), varint(250 * 1024 * 1024)]);
    expect(header.length).toBe(5);
    const r = g.push(header);
    expect(r.pass).toBeNull();
    expect(r.refused).toMatchObject({ reason: 'too_large', stage: 'before-auth', packetType: 1, bytes: 250 * 1024 * 1024 + 5, limit: SITE_PACKET_LIMITS.beforeAuth });
    expect(r.refused!.message).toBe(`CONNECT of ${250 * 1024 * 1024 + 5} bytes exceeds the limit of 4096 bytes before login`);
    expect(g.push(Buffer.alloc(100)).pass).toBeNull();
  });

  it('after login, refuses a 60 MB retained state from its header and topic, and passes a maximal telemetry unchanged', () => {
    const g = new PacketSizeGuard();
    g.authenticate();
    const ok = publish(siteTopic(SITE, 'telemetry'), Buffer.alloc(SITE_PACKET_LIMITS.publish.telemetry - 100), 1);
    const big = publish(siteTopic(SITE, 'state'), Buffer.alloc(10), 1, true);
    // Declare 60 MB but send only the header and topic: the guard must not wait for the body.
    const header = Buffer.concat([Buffer.from([0x33]), varint(60 * 1024 * 1024), str(siteTopic(SITE, 'state'))]);
    const r1 = g.push(ok);
    expect(r1.pass?.equals(ok)).toBe(true);
    const r2 = g.push(header);
    expect(r2.refused).toMatchObject({ reason: 'too_large', stage: 'site', packetType: 3, topic: siteTopic(SITE, 'state'), limit: SITE_PACKET_LIMITS.publish.state });
    expect(big.length).toBeLessThan(SITE_PACKET_LIMITS.publish.state);
  });

  it('refuses a Remaining Length longer than 4 bytes', () => {
    const g = new PacketSizeGuard();
    expect(g.push(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])).refused).toMatchObject({ reason: 'malformed' });
  });

  const limits: PacketLimits = { beforeAuth: 300, control: 200, publish: { state: 250, telemetry: 2000, event: 1500, clock: 100 } };
  const topics = [
    siteTopic(SITE, 'state'),
    siteTopic(SITE, 'telemetry'),
    siteTopic(SITE, 'event'),
    siteTopic(SITE, 'clock'),
    siteTopic(SITE, 'cmd'),
    'other/topic',
    '',
    'x'.repeat(MAX_TOPIC_PEEK + 1),
  ];
  const arbPacket = fc.oneof(
    fc.record({
      kind: fc.constant('publish' as const),
      topic: fc.constantFrom(...topics),
      size: fc.integer({ min: 0, max: 2200 }),
      qos: fc.constantFrom(0 as const, 1 as const),
      retain: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('other' as const), type: fc.integer({ min: 1, max: 14 }).filter((t) => t !== 3), size: fc.integer({ min: 0, max: 400 }) }),
  );
  const encode = (
    p: fc.Arbitrary<unknown> extends never ? never : { kind: 'publish'; topic: string; size: number; qos: 0 | 1; retain: boolean } | { kind: 'other'; type: number; size: number },
  ): Buffer => (p.kind === 'publish' ? publish(p.topic, Buffer.alloc(p.size, 0x61), p.qos, p.retain) : packet((p.type << 4) | (p.type === 8 ? 2 : 0), Buffer.alloc(p.size, 0x62)));

  for (const stage of ['before-auth', 'site'] as PacketStage[]) {
    it(`property (${stage}): every packet within its limit passes unchanged, in order; the first over it stops the stream; nothing after`, () => {
      fc.assert(
        fc.property(fc.array(arbPacket, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (packets, cuts) => {
          const encoded = packets.map(encode);
          const stream = Buffer.concat(encoded);
          const g = new PacketSizeGuard(limits);
          if (stage === 'site') g.authenticate();
          const { out, refused } = feed(g, split(stream, cuts));
          const firstOver = frames(stream).findIndex((f) => f.total > packetLimit(limits, stage, f.type, f.topic));
          const expected = Buffer.concat(firstOver === -1 ? encoded : encoded.slice(0, firstOver));
          expect(out.equals(expected)).toBe(true);
          expect(refused).toBe(firstOver !== -1);
        }),
        { numRuns: 1500 },
      );
    });
  }

  it('property: login in the middle of a stream — packets decided before it get the login limit, after it the site limits', () => {
    fc.assert(
      fc.property(fc.array(arbPacket, { minLength: 1, maxLength: 8 }), fc.array(arbPacket, { maxLength: 8 }), (before, after) => {
        const g = new PacketSizeGuard(limits);
        const a = Buffer.concat(before.map(encode));
        const b = Buffer.concat(after.map(encode));
        const r1 = feed(g, [a]);
        g.authenticate();
        const r2 = r1.refused ? { out: Buffer.alloc(0), refused: true } : feed(g, [b]);
        const fa = frames(a);
        const overA = fa.findIndex((f) => f.total > packetLimit(limits, 'before-auth', f.type, f.topic));
        if (overA !== -1) {
          expect(r1.refused).toBe(true);
          expect(r2.out.length).toBe(0);
          return;
        }
        expect(r1.out.equals(a)).toBe(true);
        const fb = frames(b);
        const overB = fb.findIndex((f) => f.total > packetLimit(limits, 'site', f.type, f.topic));
        expect(r2.out.equals(overB === -1 ? b : Buffer.concat(after.slice(0, overB).map(encode)))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: on random bytes it never throws, passes only a prefix of its input, and no complete packet it passes is over its limit', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }),
            fc.constantFrom(Uint8Array.from([0x30, 0xff, 0xff, 0x7f]), Uint8Array.from([0x32, 0x80, 0x01, 0x00, 0x05]), Uint8Array.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x0f])),
          ),
          { maxLength: 30 },
        ),
        fc.boolean(),
        (parts, site) => {
          const stream = Buffer.concat(parts.map((p) => Buffer.from(p)));
          const stage: PacketStage = site ? 'site' : 'before-auth';
          const g = new PacketSizeGuard(limits);
          if (site) g.authenticate();
          const { out } = feed(g, split(stream, [7, 13, 64, 200]));
          expect(stream.subarray(0, out.length).equals(out)).toBe(true);
          for (const f of frames(out)) expect(f.total).toBeLessThanOrEqual(packetLimit(limits, stage, f.type, f.topic));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
