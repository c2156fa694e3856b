/**
 * The console's browser session: the session token travels in an HttpOnly
 * cookie (scripts on the page never see it), and every unsafe request
 * authenticated by that cookie must prove it comes from the console itself.
 *
 * CSRF defence, chosen and why: a token derived from the session
 * (SHA-256 of "csrf:" + session token, so nothing more is stored and it dies
 * with the session), answered by login and GET /api/auth/me, sent back by the
 * page in X-CSRF-Token. A forged cross-site form or fetch cannot read it. On
 * top, the cookie is SameSite=Strict and a request whose Origin header names
 * another host is refused. Bearer-token calls (scripts, integrations) carry no
 * ambient credential, so they need neither.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'loanet_session';
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isUnsafeMethod(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/** The value of one cookie in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export function csrfTokenFor(sessionToken: string): string {
  return createHash('sha256').update('csrf:').update(sessionToken).digest('base64url');
}

export function csrfMatches(sessionToken: string, sent: string | undefined): boolean {
  if (!sent) return false;
  const want = Buffer.from(csrfTokenFor(sessionToken));
  const got = Buffer.from(sent);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** True when the Origin header is absent (same-origin GETs, old browsers) or names the host the request was sent to. */
export function originAllowed(origin: string | undefined, host: string | undefined): boolean {
  if (!origin) return true;
  if (!host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

export function sessionCookie(token: string, maxAgeS: number, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${encodeURIComponent(token)}`,
    'Path=/',
    `Max-Age=${Math.max(0, Math.floor(maxAgeS))}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
}

export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie('', 0, secure);
}

/** Whether the cookie gets the Secure flag: configured, or (auto) when the request came over TLS, directly or through a proxy that says so. */
export function cookieShouldBeSecure(mode: 'auto' | 'always' | 'never', protocol: string, forwardedProto: string | string[] | undefined): boolean {
  if (mode !== 'auto') return mode === 'always';
  const fwd = Array.isArray(forwardedProto) ? forwardedProto[0] : forwardedProto;
  return protocol === 'https' || fwd?.split(',')[0]?.trim().toLowerCase() === 'https';
}
