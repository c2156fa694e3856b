/**
 * Whose radio a relay carried (pure), for hours on air by kind: the live
 * feature records a relay's URL (scheme, host and path: live/store.ts
 * publicUrl), not whether it is national radio (Đài Tiếng nói Việt Nam) or
 * the province's station. The deployer names those sources once, as URL
 * prefixes (LOANET_RELAY_NATIONAL, LOANET_RELAY_PROVINCIAL); any other relay
 * is `other`. A prefix matches from the scheme up to a path boundary, so
 * https://radio.vov.vn/vov1 matches …/vov1 and …/vov1/live but not …/vov10.
 */
import type { RelayOrigin } from './model.ts';

export interface RelayOrigins {
  national: readonly string[];
  provincial: readonly string[];
}

export const NO_RELAY_ORIGINS: RelayOrigins = { national: [], provincial: [] };

function normal(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return undefined;
  }
}

function matches(url: string, prefix: string): boolean {
  const p = normal(prefix);
  return p !== undefined && (url === p || url.startsWith(`${p}/`));
}

export function relayOriginOf(url: string | undefined, origins: RelayOrigins): RelayOrigin {
  const u = url === undefined ? undefined : normal(url);
  if (u === undefined) return 'other';
  if (origins.national.some((p) => matches(u, p))) return 'national';
  if (origins.provincial.some((p) => matches(u, p))) return 'provincial';
  return 'other';
}

/** A comma-separated list of URL prefixes, or the first entry that is not an http(s) URL. */
export function parseRelayPrefixes(raw: string | undefined): { ok: true; prefixes: string[] } | { ok: false; entry: string } {
  const prefixes: string[] = [];
  for (const part of (raw ?? '').split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const n = normal(p);
    if (n === undefined || !/^https?:\/\//.test(n)) return { ok: false, entry: p };
    prefixes.push(p);
  }
  return { ok: true, prefixes };
}
