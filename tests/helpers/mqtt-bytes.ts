/**
 * MQTT 3.1.1 packets written byte by byte (MQTT 3.1.1 §2, §3), for the tests
 * and benchmarks that must send what no client library would: a packet cut
 * anywhere, one that declares 250 MB, one of an exact size, or thousands of
 * sessions that only count what arrives. Pure: no sockets here.
 */

/** The variable-length "Remaining Length" (§2.2.3): 1 to 4 bytes. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/** A UTF-8 string or binary data with its two-byte length (§1.5.3). */
export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** A packet: its first byte (type << 4 | flags), the Remaining Length, the body. */
export function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), varint(body.length), body]);
}

export interface ConnectOptions {
  clientId: string;
  username: string;
  password: string;
  /** Default 60 s. */
  keepaliveS?: number;
  /** A last will, sent retained at QoS 1 (what an agent leaves). */
  will?: { topic: string; payload: Buffer };
}

/** CONNECT, protocol level 4, clean session, with a username and password (and a will if given). */
export function connectPacket(o: ConnectOptions): Buffer {
  // username, password, clean session; with a will: will retain, will QoS 1, will flag.
  const flags = 0x80 | 0x40 | 0x02 | (o.will ? 0x20 | 0x08 | 0x04 : 0);
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(o.keepaliveS ?? 60);
  const will = o.will ? [str(o.will.topic), str(o.will.payload)] : [];
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, flags]), keepalive, str(o.clientId), ...will, str(o.username), str(o.password)]));
}

/** PUBLISH; a packet id (default 1) only at QoS 1. */
export function publishPacket(topic: string, payload: Buffer, o: { qos: 0 | 1; retain?: boolean; id?: number }): Buffer {
  const id = o.id ?? 1;
  return packet(0x30 | (o.qos << 1) | (o.retain ? 1 : 0), Buffer.concat([str(topic), o.qos ? Buffer.from([id >> 8, id & 0xff]) : Buffer.alloc(0), payload]));
}

/** SUBSCRIBE with packet id `id`, each topic at its QoS. */
export function subscribePacket(id: number, topics: ReadonlyArray<{ topic: string; qos: 0 | 1 }>): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([id >> 8, id & 0xff]), ...topics.map((t) => Buffer.concat([str(t.topic), Buffer.from([t.qos])]))]));
}
