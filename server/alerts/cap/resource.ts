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
 * A resource larger than `CAP_LIMITS.resourceBytes` is not decoded at all
 * (judged by the length of its base64 text).
 *
 * Every check is a linear scan: a regular expression with a repeated group
 * over megabytes of base64 made V8 throw "Maximum call stack size exceeded"
 * after seconds of backtracking, and Buffer.from(…, 'base64') decodes without
 * recursion. Pure (hashing is computation, not I/O).
 */
import { createHash } from 'node:crypto';
import { CAP_LIMITS } from './limits.ts';
import type { CapResource } from './model.ts';

export type DecodedResource =
  | { ok: true; bytes: Uint8Array; mimeType: string; warnings: string[] }
  | { ok: false; kind: 'absent' | 'bad_base64' | 'digest_mismatch' | 'too_large'; message: string };

/** True for audio the sites can play: any `audio/*` (IPAWS's `audio/x-ipaws-audio-mp3` included). */
export function isAudioMime(mimeType: string): boolean {
  return /^audio\/[^\s/]+$/i.test(mimeType.trim());
}

/** Decodes and checks `derefUri`; `{ok:false}` when there is none or it does not check out. */
export function decodeDerefUri(r: CapResource, maxBytes: number = CAP_LIMITS.resourceBytes): DecodedResource {
  if (r.derefUri === undefined) return { ok: false, kind: 'absent', message: 'no derefUri' };
  const b64 = stripWhitespace(r.derefUri);
  if (b64.length === 0) return { ok: false, kind: 'bad_base64', message: 'derefUri is empty' };
  if (!isStrictBase64(b64)) return { ok: false, kind: 'bad_base64', message: 'derefUri is not valid base64' };
  const size = decodedLength(b64);
  if (size > maxBytes) {
    return { ok: false, kind: 'too_large', message: `derefUri holds ${size} bytes; embedded resources of at most ${maxBytes} bytes are used` };
  }
  // A Buffer is a Uint8Array: no second copy of megabytes.
  const bytes: Uint8Array = Buffer.from(b64, 'base64');
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
  return new Uint8Array(Buffer.from(stripWhitespace(text), 'base64'));
}

export function isValidBase64(text: string): boolean {
  return isStrictBase64(stripWhitespace(text));
}

/** XML whitespace (and the other \s characters the IPAWS files never use) removed. */
function stripWhitespace(text: string): string {
  return /\s/.test(text) ? text.replace(/\s+/g, '') : text;
}

/** Bytes `b64` (valid, no whitespace) decodes to. */
function decodedLength(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/** xs:base64Binary without whitespace: groups of 4 of A–Z a–z 0–9 + /, "=" padding only at the end. A search for one bad character: linear, no backtracking. */
export function isStrictBase64(b64: string): boolean {
  const n = b64.length;
  if (n % 4 !== 0) return false;
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return !NOT_BASE64.test(pad > 0 ? b64.slice(0, n - pad) : b64);
}

const NOT_BASE64 = /[^A-Za-z0-9+/]/;
