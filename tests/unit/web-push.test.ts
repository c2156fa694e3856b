import { createECDH, createPublicKey, verify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encryptPayload, loadVapidKeys, MAX_PUSH_PAYLOAD, pushOutcome, VAPID_FILE, vapidJwt } from '../../server/notifications/web-push.ts';

// RFC 8291 Appendix A.
const RFC = {
  plaintext: 'When I grow up, I want to be a watermelon',
  asPrivate: 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw',
  uaPublic: 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
  salt: 'DGv6ra1nlYgDCS1FRnbzlw',
  auth: 'BTBZMqHH6r4Tts7J_aSIgg',
  body: 'DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN',
};

describe('Web Push message encryption (RFC 8291)', () => {
  it("reproduces Appendix A's body byte for byte", () => {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(RFC.asPrivate, 'base64url'));
    const body = encryptPayload(Buffer.from(RFC.plaintext), { p256dh: RFC.uaPublic, auth: RFC.auth }, { salt: Buffer.from(RFC.salt, 'base64url'), ecdh });
    expect(body.toString('base64url')).toBe(RFC.body);
  });

  it('refuses a payload one record cannot hold, and keys of the wrong size', () => {
    expect(() => encryptPayload(Buffer.alloc(MAX_PUSH_PAYLOAD + 1), { p256dh: RFC.uaPublic, auth: RFC.auth })).toThrow(/at most/);
    expect(encryptPayload(Buffer.alloc(MAX_PUSH_PAYLOAD), { p256dh: RFC.uaPublic, auth: RFC.auth }).length).toBe(4096);
    expect(() => encryptPayload(Buffer.from('x'), { p256dh: RFC.auth, auth: RFC.auth })).toThrow(/p256dh/);
  });
});

describe('VAPID (RFC 8292)', () => {
  it('the key pair is made once, owner-only, and the JWT verifies with its public key for the endpoint origin', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-vapid-'));
    try {
      const keys = loadVapidKeys(dir);
      expect(fs.statSync(path.join(dir, VAPID_FILE)).mode & 0o777).toBe(0o600);
      expect(loadVapidKeys(dir).publicKey).toBe(keys.publicKey);
      const jwt = vapidJwt('https://push.example.net/wpush/v2/abc?x=1', keys, 'mailto:ops@example.vn', 1_700_000_000_000);
      const [h, c, s] = jwt.split('.') as [string, string, string];
      expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ typ: 'JWT', alg: 'ES256' });
      expect(JSON.parse(Buffer.from(c, 'base64url').toString())).toEqual({ aud: 'https://push.example.net', exp: 1_700_000_000 + 12 * 3600, sub: 'mailto:ops@example.vn' });
      const raw = Buffer.from(keys.publicKey, 'base64url');
      const pub = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, format: 'jwk' });
      expect(verify('sha256', Buffer.from(`${h}.${c}`), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads push services' answers", () => {
    expect([201, 410, 404, 429, 503, 413, 400].map(pushOutcome)).toEqual(['delivered', 'gone', 'gone', 'retry', 'retry', 'failed', 'failed']);
  });
});
