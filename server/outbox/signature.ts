/**
 * Signing what the outbox sends, and checking it (pure): the Standard
 * Webhooks scheme (https://www.standardwebhooks.com, the spec of
 * github.com/standard-webhooks/standard-webhooks), not one of our own.
 *
 *   webhook-id:        the message id (the idempotency key, the same on every attempt)
 *   webhook-timestamp: when this attempt was signed, in Unix seconds
 *   webhook-signature: v1,<base64 HMAC-SHA256 over `${id}.${timestamp}.${body}`>
 *
 * Why this and not a `t=…,v1=<hex>` header of our own as Stripe does: it is
 * a published spec with verifier libraries in many languages (npm
 * `standardwebhooks`, PyPI `standardwebhooks`, Go, Java, PHP, Ruby …), so a
 * receiver's developer checks our requests with a library rather than with
 * our prose; and it signs the id too, so a captured body cannot be replayed
 * under another id to slip past the receiver's de-duplication. The timestamp
 * is signed so a captured request cannot be replayed later: a receiver
 * refuses one more than five minutes off its clock. Because of that each
 * attempt is signed when it leaves, not when the message was stored.
 *
 * The secret is `whsec_` + base64 of 24 to 64 random bytes; the key is the
 * decoded bytes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
/** A receiver's default tolerance between the signed time and its clock (s). */
export const DEFAULT_TOLERANCE_S = 5 * 60;

/** The key bytes of a `whsec_…` secret; throws RangeError on anything else. */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new RangeError(`a webhook secret starts with ${SECRET_PREFIX}`);
  const b64 = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new RangeError('a webhook secret is whsec_ followed by base64');
  const key = Buffer.from(b64, 'base64');
  if (key.length < 24 || key.length > 64) throw new RangeError(`a webhook secret holds 24 to 64 bytes, this one ${key.length}`);
  return key;
}

/** A new secret for a destination: 32 random bytes. */
export function newSecret(bytes: (n: number) => Buffer = randomBytes): string {
  return `${SECRET_PREFIX}${bytes(32).toString('base64')}`;
}

/** `v1,<base64>` for one attempt. */
export function sign(secret: string, id: string, timestampS: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampS}.${body}`).digest('base64');
  return `v1,${mac}`;
}

export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export function signatureHeaders(secret: string, id: string, timestampS: number, body: string): SignatureHeaders {
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampS), 'webhook-signature': sign(secret, id, timestampS, body) };
}

export type VerifyResult = { ok: true } | { ok: false; reason: 'missing_headers' | 'bad_timestamp' | 'too_old' | 'too_new' | 'no_valid_signature' };

/**
 * A receiver's check: the headers present, the timestamp within `toleranceS`
 * of `nowS`, and one of the space-separated `v1,` signatures equal to ours,
 * compared in constant time. `body` is the raw body as received: parsing and
 * re-serialising JSON changes bytes and breaks the signature.
 */
export function verify(
  secret: string,
  headers: { id: string | undefined; timestamp: string | undefined; signature: string | undefined },
  body: string,
  nowS: number,
  toleranceS: number = DEFAULT_TOLERANCE_S,
): VerifyResult {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,15}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  const t = Number(timestamp);
  if (t < nowS - toleranceS) return { ok: false, reason: 'too_old' };
  if (t > nowS + toleranceS) return { ok: false, reason: 'too_new' };
  const expected = Buffer.from(sign(secret, id, t, body).slice(3), 'base64');
  for (const part of signature.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(part.slice(comma + 1), 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true };
  }
  return { ok: false, reason: 'no_valid_signature' };
}
