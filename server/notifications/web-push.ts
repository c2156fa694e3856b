/**
 * Web Push, with node:crypto only: the message encryption of RFC 8291
 * (aes128gcm content coding, RFC 8188) and the VAPID authorization of
 * RFC 8292, the request of RFC 8030 §5, and what each answer of a push
 * service means. No library: the npm `web-push` adds five dependencies for
 * ~150 lines, and this is checked against RFC 8291 Appendix A's vector
 * (tests/unit/web-push.test.ts) and decrypted by an independent receiver in
 * tests/integration/web-push.test.ts.
 *
 * The server's VAPID key pair is made once and kept in the data folder
 * (vapid.json, owner-only), like the enrolment key: every browser subscribed
 * with its public key, so a new key would silently unsubscribe them all.
 */
import { createCipheriv, createECDH, createPrivateKey, type ECDH, generateKeyPairSync, hkdfSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const VAPID_FILE = 'vapid.json';

/** A browser's subscription as PushSubscription.toJSON() gives it. */
export interface PushSubscriptionKeys {
  endpoint: string;
  /** P-256 public key, uncompressed (65 bytes), base64url. */
  p256dh: string;
  /** 16 bytes, base64url. */
  auth: string;
}

export interface VapidKeys {
  /** The uncompressed public point (65 bytes), base64url: applicationServerKey in the browser, `k=` in the header. */
  publicKey: string;
  privateKey: KeyObject;
}

/** The record size we declare; one record holds the whole message (RFC 8291 §4: a push service takes 4096 bytes of body). */
const RECORD_SIZE = 4096;
/** 4096 − header (86) − tag (16) − delimiter (1). */
export const MAX_PUSH_PAYLOAD = RECORD_SIZE - 86 - 16 - 1;

/**
 * RFC 8291 §3.4 + RFC 8188 §2: the body (header: salt, rs, idlen, the
 * sender's ephemeral public key; then one record: the plaintext, the 0x02
 * last-record delimiter, no padding, AES-128-GCM). `salt` and `ecdh` are
 * given by the test vector only; in use both are fresh per message.
 */
export function encryptPayload(plaintext: Buffer, keys: Pick<PushSubscriptionKeys, 'p256dh' | 'auth'>, fixed: { salt?: Buffer; ecdh?: ECDH } = {}): Buffer {
  if (plaintext.length > MAX_PUSH_PAYLOAD) throw new Error(`a push message holds at most ${MAX_PUSH_PAYLOAD} bytes, not ${plaintext.length}`);
  const uaPublic = Buffer.from(keys.p256dh, 'base64url');
  const authSecret = Buffer.from(keys.auth, 'base64url');
  if (uaPublic.length !== 65 || uaPublic[0] !== 0x04) throw new Error('p256dh is not an uncompressed P-256 point');
  if (authSecret.length !== 16) throw new Error('auth is not 16 bytes');
  const ecdh = fixed.ecdh ?? createECDH('prime256v1');
  if (!fixed.ecdh) ecdh.generateKeys();
  const asPublic = ecdh.getPublicKey();
  const salt = fixed.salt ?? randomBytes(16);
  const shared = ecdh.computeSecret(uaPublic);
  // IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" || 0x00 || ua_public || as_public, 32)
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0', 'latin1'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0', 'latin1'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0', 'latin1'), 12));
  const cipher = createCipheriv('aes-128-gcm', cek, nonce);
  const record = Buffer.concat([cipher.update(Buffer.concat([plaintext, Buffer.from([0x02])])), cipher.final(), cipher.getAuthTag()]);
  const header = Buffer.alloc(21);
  salt.copy(header, 0);
  header.writeUInt32BE(RECORD_SIZE, 16);
  header[20] = asPublic.length;
  return Buffer.concat([header, asPublic, record]);
}

/** RFC 8292 §2: an ES256 JWT for the push service at `endpoint`'s origin, valid 12 hours (the most it allows is 24). */
export function vapidJwt(endpoint: string, keys: VapidKeys, subject: string, nowMs: number): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${b64({ typ: 'JWT', alg: 'ES256' })}.${b64({ aud: new URL(endpoint).origin, exp: Math.floor(nowMs / 1000) + 12 * 3600, sub: subject })}`;
  // JWS ES256 is the raw r||s (RFC 7518 §3.4), not DER.
  const sig = sign('sha256', Buffer.from(unsigned), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${unsigned}.${sig.toString('base64url')}`;
}

export interface PushRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
}

/** RFC 8030 §5 with RFC 8292 §3's `vapid` scheme. */
export function pushRequest(
  sub: PushSubscriptionKeys,
  payload: Buffer,
  keys: VapidKeys,
  opts: { subject: string; nowMs: number; ttlS: number; urgency: 'very-low' | 'low' | 'normal' | 'high'; topic?: string },
): PushRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-encoding': 'aes128gcm',
    ttl: String(opts.ttlS),
    urgency: opts.urgency,
    authorization: `vapid t=${vapidJwt(sub.endpoint, keys, opts.subject, opts.nowMs)}, k=${keys.publicKey}`,
  };
  // A topic replaces an undelivered message of the same topic at the push service (RFC 8030 §5.4): 32 base64url characters at most.
  if (opts.topic) headers.topic = opts.topic;
  return { url: sub.endpoint, headers, body: encryptPayload(payload, sub) };
}

/** What a push service's answer means (RFC 8030 §5, §7.3 and RFC 8292 §4). */
export type PushOutcome = 'delivered' | 'gone' | 'retry' | 'failed';
export function pushOutcome(status: number): PushOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  // The subscription expired or was withdrawn: drop it, nobody will read what is sent to it.
  if (status === 404 || status === 410) return 'gone';
  if (status === 408 || status === 429 || status >= 500) return 'retry';
  return 'failed';
}

/**
 * The server's VAPID keys from the shared folder, made (owner-only,
 * atomically) at the first start. Every server must sign with the same key:
 * a phone subscribed through one is pushed to by whichever holds the work. Two
 * servers making it at once: the first link wins, the other reads it back.
 */
export function loadVapidKeys(dataDir: string): VapidKeys {
  const file = path.join(dataDir, VAPID_FILE);
  let jwk: { kty: string; crv: string; x: string; y: string; d: string };
  try {
    jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof jwk;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`${file} cannot be read (${(e as Error).message}); it holds the Web Push key: restore it, or delete it and have every phone subscribe again`);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    jwk = privateKey.export({ format: 'jwk' }) as typeof jwk;
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(jwk));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      // link, not rename: it fails when another server made the file meanwhile, whose key then counts.
      fs.linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      jwk = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof jwk;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const publicKey = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]).toString('base64url');
  return { publicKey, privateKey };
}
