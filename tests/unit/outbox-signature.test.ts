import { describe, expect, it } from 'vitest';
import { newSecret, secretKey, sign, signatureHeaders, verify } from '../../server/outbox/signature.ts';

// The Standard Webhooks test vector (the spec's reference libraries test against it).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const headersOf = (h: ReturnType<typeof signatureHeaders>) => ({ id: h['webhook-id'], timestamp: h['webhook-timestamp'], signature: h['webhook-signature'] });

describe('Standard Webhooks signatures', () => {
  it('signs the known vector as the spec does', () => {
    expect(sign(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it('verifies the known vector at its time, and among several signatures', () => {
    const h = { id: VECTOR.id, timestamp: String(VECTOR.timestamp), signature: VECTOR.signature };
    expect(verify(VECTOR.secret, h, VECTOR.body, VECTOR.timestamp + 10)).toEqual({ ok: true });
    expect(verify(VECTOR.secret, { ...h, signature: `v1,bm9wZQ== v2,xyz ${VECTOR.signature}` }, VECTOR.body, VECTOR.timestamp)).toEqual({ ok: true });
  });

  it('refuses a tampered body, another id, another secret', () => {
    const h = { id: VECTOR.id, timestamp: String(VECTOR.timestamp), signature: VECTOR.signature };
    const now = VECTOR.timestamp;
    expect(verify(VECTOR.secret, h, '{"test": 2432232315}', now)).toEqual({ ok: false, reason: 'no_valid_signature' });
    expect(verify(VECTOR.secret, { ...h, id: 'msg_other' }, VECTOR.body, now)).toEqual({ ok: false, reason: 'no_valid_signature' });
    expect(verify(newSecret(), h, VECTOR.body, now)).toEqual({ ok: false, reason: 'no_valid_signature' });
  });

  it('refuses a timestamp outside the tolerance either way, or not a number, or missing headers', () => {
    const h = headersOf(signatureHeaders(VECTOR.secret, VECTOR.id, 1_000_000, 'x'));
    expect(verify(VECTOR.secret, h, 'x', 1_000_000 + 300)).toEqual({ ok: true });
    expect(verify(VECTOR.secret, h, 'x', 1_000_000 + 301)).toEqual({ ok: false, reason: 'too_old' });
    expect(verify(VECTOR.secret, h, 'x', 1_000_000 - 301)).toEqual({ ok: false, reason: 'too_new' });
    expect(verify(VECTOR.secret, { ...h, timestamp: '1e6' }, 'x', 1_000_000)).toEqual({ ok: false, reason: 'bad_timestamp' });
    expect(verify(VECTOR.secret, { ...h, signature: undefined }, 'x', 1_000_000)).toEqual({ ok: false, reason: 'missing_headers' });
  });

  it('the example request in docs/webhooks.md carries a true signature', () => {
    const body =
      '{"id":"msg_3q7Yc0ZC3pQ0s0rOQm9X0A","type":"alarm.raised","seq":42,"timestamp":"2026-12-05T07:03:00.000Z","data":{"alarmId":"al-12","siteId":"LC-0101","kind":"site_offline","severity":"critical","count":1}}';
    const h = { id: 'msg_3q7Yc0ZC3pQ0s0rOQm9X0A', timestamp: '1764918180', signature: 'v1,9tXKh9rUV4MdgGC9z/lkto6uyd+OBzQ6g+0gz1grljs=' };
    expect(verify(VECTOR.secret, h, body, 1764918180)).toEqual({ ok: true });
  });

  it('a signature of another length is refused, not thrown on', () => {
    const h = { id: VECTOR.id, timestamp: String(VECTOR.timestamp), signature: 'v1,AAAA' };
    expect(verify(VECTOR.secret, h, VECTOR.body, VECTOR.timestamp)).toEqual({ ok: false, reason: 'no_valid_signature' });
  });

  it('secrets are whsec_ and 24 to 64 bytes of base64', () => {
    expect(secretKey(newSecret()).length).toBe(32);
    expect(() => secretKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(/whsec_/);
    expect(() => secretKey('whsec_c2hvcnQ=')).toThrow(/24 to 64/);
    expect(() => secretKey('whsec_not base64!')).toThrow(/base64/);
  });
});
