/**
 * The key enrolment codes are hashed with (HMAC-SHA-256), kept in the data
 * folder beside the database but not in it: a copy of loanet.db alone (a
 * backup, a leaked file) then gives no way to try the 2^40 codes offline
 * against the stored digests. Made once, 32 random bytes, owner-only,
 * written atomically. Losing it only invalidates the codes not used yet.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StartupError } from '../errors.ts';

export const ENROLMENT_KEY_FILE = 'enrolment.key';
const KEY_BYTES = 32;

export function loadEnrolmentKey(dataDir: string): Buffer {
  const file = path.join(dataDir, ENROLMENT_KEY_FILE);
  try {
    const key = fs.readFileSync(file);
    if (key.length !== KEY_BYTES) {
      throw new StartupError('LOANET_ENROLMENT_KEY_INVALID', `${file} holds ${key.length} bytes, not ${KEY_BYTES}; delete it (codes not used yet stop working) and start again`);
    }
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const key = randomBytes(KEY_BYTES);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, key);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return key;
}

/** The stored form of a code (normalised first: code.ts). */
export function codeDigest(key: Buffer, code: string): string {
  return createHmac('sha256', key).update(code, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests. */
export function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
