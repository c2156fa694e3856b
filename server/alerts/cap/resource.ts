/**
 * Embedded resources: `<derefUri>` carries the resource itself, base64
 * (xs:base64Binary), instead of or beside a `<uri>` (CAP 1.2 §3.2.3).
 * IPAWS puts the EAS announcement there as `audio/x-ipaws-audio-mp3`.
 *
 * Checks: strict base64 (whitespace allowed between groups, as in the IPAWS
 * files, which wrap at 76 columns); `digest` when present is SHA-1 of the
 * decoded bytes, hex (§3.2.3 "SHA-1 per FIPS 180-2") — a mismatch means the
 * content is not what the sender hashed, so it is not used; `size` is
 * "approximate size of the resource file in bytes", so a mismatch is a warning.
 * Pure (hashing is computation, not I/O).
 */
import { createHash } from 'node:crypto';
import type { CapResource } from './model.ts';

export type DecodedResource =
  | { ok: true; bytes: Uint8Array; mimeType: string; warnings: string[] }
  | { ok: false; kind: 'absent' | 'bad_base64' | 'digest_mismatch'; message: string };

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** True for audio the sites can play: any `audio/*` (IPAWS's `audio/x-ipaws-audio-mp3` included). */
export function isAudioMime(mimeType: string): boolean {
  return /^audio\/[^\s/]+$/i.test(mimeType.trim());
}

/** Decodes and checks `derefUri`; `{ok:false}` when there is none or it does not check out. */
export function decodeDerefUri(r: CapResource): DecodedResource {
  if (r.derefUri === undefined) return { ok: false, kind: 'absent', message: 'no derefUri' };
  const b64 = r.derefUri.replace(/[\s]+/g, '');
  if (b64.length === 0) return { ok: false, kind: 'bad_base64', message: 'derefUri is empty' };
  if (!BASE64_RE.test(b64)) return { ok: false, kind: 'bad_base64', message: 'derefUri is not valid base64' };
  const bytes = decodeBase64Strict(b64);
  const warnings: string[] = [];
  if (r.digest !== undefined) {
    const want = r.digest.trim().toLowerCase();
    const got = createHash('sha1').update(bytes).digest('hex');
    if (want !== got) return { ok: false, kind: 'digest_mismatch', message: `digest ${want} does not match the SHA-1 of derefUri (${got})` };
  }
  if (r.size !== undefined && r.size !== bytes.length) {
    warnings.push(`size says ${r.size} bytes, derefUri holds ${bytes.length}`);
  }
  return { ok: true, bytes, mimeType: r.mimeType, warnings };
}

/** Base64 → bytes without the digest and size checks (check `isValidBase64` first: Buffer skips bad characters). */
export function decodeBase64Strict(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'base64'));
}

export function isValidBase64(text: string): boolean {
  return BASE64_RE.test(text.replace(/\s+/g, ''));
}
