/**
 * Who may open an MQTT connection, decided at the TCP accept before the MQTT
 * broker sees the socket: at most `maxPerAddress` open connections per
 * address, and new connections per address drawn from a token bucket
 * (`connectBurst` at once, refilled at `connectRatePerS`). Pure: the clock is
 * passed in.
 *
 * Why generous: sites reach the server over 4G, and a carrier's NAT can put
 * many sites behind one public address. After a server restart a province's
 * ~1,650–3,000 agents come back within seconds (jittered backoff, edge-agent/
 * backoff.ts), and a site refused here backs off further (up to 5 minutes).
 * The defaults let 1,000 sites share one address and 500 of them reconnect at
 * once, the rest at 50 per second; what they stop is one address holding
 * thousands of idle sockets (the process has a bounded number of file
 * descriptors) or hammering the broker with CONNECTs. Loopback is not exempt:
 * a proxy or tunnel on the same machine is one address for everything behind it.
 *
 * IPv6 clients are counted per /64, the block one subscriber line or one host
 * is given, so one host cannot dodge the cap by changing its interface id.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface ConnectionLimits {
  /** Open connections per address (IPv4) or /64 (IPv6). */
  maxPerAddress: number;
  /** New connections an address may open at once (bucket size). */
  connectBurst: number;
  /** Tokens added per second and address. */
  connectRatePerS: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { maxPerAddress: 1000, connectBurst: 500, connectRatePerS: 50 };

export type Admission = { ok: true; key: string } | { ok: false; key: string; reason: 'per_address' | 'rate'; message: string };

interface Entry {
  open: number;
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

/** The key an address is counted under: IPv4 as is (also when IPv4-mapped in IPv6), IPv6 as its /64 prefix. */
export function addressKey(remote: string | undefined): string {
  if (!remote) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(remote);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (isIPv4(remote)) return remote;
  const addr = remote.split('%')[0]!; // zone id of a link-local address
  if (!isIPv6(addr)) return remote;
  const groups = expandIPv6(addr);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

function expandIPv6(addr: string): string[] {
  const [left, right] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const parse = (s: string | undefined): string[] => {
    if (!s) return [];
    const parts = s.split(':');
    const last = parts[parts.length - 1]!;
    if (last.includes('.')) {
      // An embedded IPv4 address takes two groups.
      const o = last.split('.').map(Number);
      parts.splice(parts.length - 1, 1, ((o[0]! << 8) | o[1]!).toString(16), ((o[2]! << 8) | o[3]!).toString(16));
    }
    return parts.map((p) => parseInt(p, 16).toString(16));
  };
  const l = parse(left);
  const r = parse(right);
  const fill = right === undefined ? [] : Array<string>(8 - l.length - r.length).fill('0');
  return [...l, ...fill, ...r];
}

export class ConnectionAdmission {
  private readonly entries = new Map<string, Entry>();
  private admitsSinceSweep = 0;

  constructor(
    readonly limits: ConnectionLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Admit a new connection from `remote` (counted until `release`), or say why not. */
  admit(remote: string | undefined): Admission {
    const key = addressKey(remote);
    const t = this.now();
    if (++this.admitsSinceSweep >= 1024) this.sweep(t);
    let e = this.entries.get(key);
    if (!e) {
      e = { open: 0, tokens: this.limits.connectBurst, at: t };
      this.entries.set(key, e);
    } else this.refill(e, t);
    if (e.open >= this.limits.maxPerAddress) {
      return {
        ok: false,
        key,
        reason: 'per_address',
        message: `${key} already has ${e.open} open connections (limit ${this.limits.maxPerAddress}, LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS)`,
      };
    }
    if (e.tokens < 1) {
      return {
        ok: false,
        key,
        reason: 'rate',
        message: `${key} connects faster than ${this.limits.connectRatePerS}/s after a burst of ${this.limits.connectBurst} (LOANET_MQTT_CONNECT_RATE, LOANET_MQTT_CONNECT_BURST)`,
      };
    }
    e.tokens -= 1;
    e.open++;
    return { ok: true, key };
  }

  /** A connection admitted under `key` closed. */
  release(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    e.open = Math.max(0, e.open - 1);
  }

  /** Open connections counted for `remote`'s key (for tests and status). */
  openFor(remote: string | undefined): number {
    return this.entries.get(addressKey(remote))?.open ?? 0;
  }

  /** Addresses currently tracked: those with open connections or a bucket not yet full again. */
  get tracked(): number {
    return this.entries.size;
  }

  private refill(e: Entry, t: number): void {
    if (t > e.at) {
      e.tokens = Math.min(this.limits.connectBurst, e.tokens + ((t - e.at) / 1000) * this.limits.connectRatePerS);
      e.at = t;
    }
  }

  /** Forget addresses with nothing open and a full bucket: they are exactly as if never seen. */
  private sweep(t: number): void {
    this.admitsSinceSweep = 0;
    for (const [key, e] of this.entries) {
      if (e.open > 0) continue;
      this.refill(e, t);
      if (e.tokens >= this.limits.connectBurst) this.entries.delete(key);
    }
  }
}
