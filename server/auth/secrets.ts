/**
 * Hashing of passwords and site secrets with scrypt (Node's crypto, no native
 * add-on). Stored form: `scrypt$N$r$p$saltB64$hashB64`, so parameters can be
 * raised later without breaking stored hashes.
 *
 * Two cost profiles, on purpose:
 * - people's passwords are low-entropy, so they get a high cost (N=2^15);
 * - site secrets are 256 random bits issued by loanet, which no amount of
 *   stretching makes stronger, and a province of 3,000 agents reconnecting
 *   after a server restart must not cost minutes of CPU; they get N=2^12.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual, createHash } from 'node:crypto';

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}
export const PASSWORD_COST: ScryptCost = { N: 2 ** 15, r: 8, p: 1 };
export const SITE_SECRET_COST: ScryptCost = { N: 2 ** 12, r: 8, p: 1 };
const KEY_LEN = 32;

function maxmem(c: ScryptCost): number {
  return 256 * c.N * c.r + 1024 * 1024;
}

/**
 * Synchronous: it holds the event loop for the whole scrypt run (~100 ms at
 * PASSWORD_COST), so nothing on a request path uses it for passwords
 * (hashSecretAsync); site secrets at SITE_SECRET_COST take a few ms.
 */
export function hashSecret(secret: string, cost: ScryptCost): string {
  const salt = randomBytes(16);
  const hash = scryptSync(secret, salt, KEY_LEN, { ...c(cost), maxmem: maxmem(cost) });
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** The same hash computed on libuv's thread pool, so a burst of password changes cannot block the event loop. */
export function hashSecretAsync(secret: string, cost: ScryptCost): Promise<string> {
  const salt = randomBytes(16);
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_LEN, { ...c(cost), maxmem: maxmem(cost) }, (err, hash) => {
      if (err) reject(err);
      else resolve(`scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${hash.toString('base64')}`);
    });
  });
}

function c(cost: ScryptCost) {
  return { N: cost.N, r: cost.r, p: cost.p };
}

function parse(stored: string): { cost: ScryptCost; salt: Buffer; hash: Buffer } | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((x) => Number.isInteger(x) && x > 0)) return undefined;
  return { cost: { N, r, p }, salt: Buffer.from(parts[4]!, 'base64'), hash: Buffer.from(parts[5]!, 'base64') };
}

/** Verify without blocking the event loop (scrypt runs on libuv's thread pool). */
export function verifySecret(secret: string, stored: string): Promise<boolean> {
  const p = parse(stored);
  if (!p) return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(secret, p.salt, p.hash.length, { ...c(p.cost), maxmem: maxmem(p.cost) }, (err, derived) => {
      resolve(!err && derived.length === p.hash.length && timingSafeEqual(derived, p.hash));
    });
  });
}

/** A new random secret for a site or an API token: 32 bytes, base64url (43 characters). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Tokens are looked up on every API call, so they are stored as SHA-256 (they
 * are random 256-bit values; a slow hash would add nothing but latency).
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Thrown by PasswordSlots.run when its queue is full. */
export class SlotsBusyError extends Error {
  constructor(readonly waiting: number) {
    super(`password checks are busy (${waiting} waiting)`);
    this.name = 'SlotsBusyError';
  }
}

/**
 * At most `max` password-cost scrypt runs at once, `queue` more waiting, the
 * rest refused at once. Each run holds one of libuv's 4 thread-pool threads
 * for ~100 ms, and that pool also does the server's file reads (media served
 * to sites, uploads): a burst of logins from many addresses, each within its
 * own limits, must not take all of it.
 */
export class PasswordSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly max = 2,
    readonly queue = 64,
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running < this.max) this.running++;
    else {
      if (this.waiting.length >= this.queue) throw new SlotsBusyError(this.waiting.length);
      // The finishing run hands its slot over, so `running` stays as it is.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Runs now and waiting (for tests and health). */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
