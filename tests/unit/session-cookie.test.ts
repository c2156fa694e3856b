/** The console's session cookie and CSRF checks, as pure functions. */
import { describe, expect, it } from 'vitest';
import {
  clearedSessionCookie,
  cookieShouldBeSecure,
  csrfMatches,
  csrfTokenFor,
  isUnsafeMethod,
  originAllowed,
  readCookie,
  sessionCookie,
} from '../../server/http/session-cookie.ts';
import { resolveInside } from '../../server/console/routes.ts';
import { sseFrame } from '../../server/console/stream-routes.ts';
import { MIN_COMPRESS_BYTES, shouldCompress } from '../../server/http/compress.ts';

describe('session cookie', () => {
  it('is HttpOnly and SameSite=Strict, Secure only when asked', () => {
    const c = sessionCookie('lnt_abc', 3600, false);
    expect(c).toBe('loanet_session=lnt_abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict');
    expect(sessionCookie('lnt_abc', 3600, true)).toMatch(/; Secure$/);
    expect(clearedSessionCookie(false)).toMatch(/^loanet_session=; Path=\/; Max-Age=0;/);
  });

  it('reads one cookie among others, and nothing from a malformed header', () => {
    expect(readCookie('a=1; loanet_session=lnt_x%2By; b=2', 'loanet_session')).toBe('lnt_x+y');
    expect(readCookie('xloanet_session=1', 'loanet_session')).toBeUndefined();
    expect(readCookie(undefined, 'loanet_session')).toBeUndefined();
    expect(readCookie('loanet_session=%E0%A4%A', 'loanet_session')).toBeUndefined();
  });

  it('is Secure in auto mode only over TLS, directly or through a proxy that says so', () => {
    expect(cookieShouldBeSecure('auto', 'http', undefined)).toBe(false);
    expect(cookieShouldBeSecure('auto', 'https', undefined)).toBe(true);
    expect(cookieShouldBeSecure('auto', 'http', 'https')).toBe(true);
    expect(cookieShouldBeSecure('auto', 'http', 'HTTPS, http')).toBe(true);
    expect(cookieShouldBeSecure('always', 'http', undefined)).toBe(true);
    expect(cookieShouldBeSecure('never', 'https', 'https')).toBe(false);
  });
});

describe('CSRF', () => {
  it('derives a per-session token that only matches its own session', () => {
    const a = csrfTokenFor('lnt_session_a');
    expect(a).not.toBe(csrfTokenFor('lnt_session_b'));
    expect(a).not.toContain('lnt_session_a');
    expect(csrfMatches('lnt_session_a', a)).toBe(true);
    expect(csrfMatches('lnt_session_b', a)).toBe(false);
    expect(csrfMatches('lnt_session_a', undefined)).toBe(false);
    expect(csrfMatches('lnt_session_a', a.slice(1))).toBe(false);
  });

  it('treats GET, HEAD and OPTIONS as safe, everything else as unsafe', () => {
    expect(['GET', 'head', 'OPTIONS'].map(isUnsafeMethod)).toEqual([false, false, false]);
    expect(['POST', 'PUT', 'PATCH', 'DELETE'].map(isUnsafeMethod)).toEqual([true, true, true, true]);
  });

  it('accepts no Origin or this host, refuses another origin', () => {
    expect(originAllowed(undefined, 'loanet.example:8080')).toBe(true);
    expect(originAllowed('http://loanet.example:8080', 'loanet.example:8080')).toBe(true);
    expect(originAllowed('https://evil.example', 'loanet.example:8080')).toBe(false);
    expect(originAllowed('null', 'loanet.example:8080')).toBe(false);
  });
});

describe('console files', () => {
  it('never resolves a path outside the build folder', () => {
    expect(resolveInside('/srv/dist', '/assets/a.js')).toBe('/srv/dist/assets/a.js');
    expect(resolveInside('/srv/dist', '/../secret')).toBe('/srv/dist/secret');
    expect(resolveInside('/srv/dist', '/%2e%2e/%2e%2e/etc/passwd')).toBe('/srv/dist/etc/passwd');
    expect(resolveInside('/srv/dist', '/a%00b')).toBeUndefined();
    expect(resolveInside('/srv/dist', '/%E0%A4%A')).toBeUndefined();
  });
});

describe('live updates', () => {
  it('frames an event as one SSE message, the JSON on a single data line', () => {
    expect(sseFrame('condition', { siteId: 's1', reason: 'dòng 1\ndòng 2' })).toBe('event: condition\ndata: {"siteId":"s1","reason":"dòng 1\\ndòng 2"}\n\n');
  });
});

describe('API compression', () => {
  const big = MIN_COMPRESS_BYTES;
  it('gzips large JSON and CSV for clients that accept it', () => {
    expect(shouldCompress('gzip, deflate, br', 'application/json; charset=utf-8', false, big)).toBe(true);
    expect(shouldCompress('gzip', 'text/csv; charset=utf-8', false, big)).toBe(true);
  });
  it('leaves small answers, other types, encoded answers and clients without gzip alone', () => {
    expect(shouldCompress('gzip', 'application/json', false, big - 1)).toBe(false);
    expect(shouldCompress('gzip', 'audio/ogg', false, big)).toBe(false);
    expect(shouldCompress('gzip', 'text/html; charset=utf-8', true, big)).toBe(false);
    expect(shouldCompress(undefined, 'application/json', false, big)).toBe(false);
    expect(shouldCompress('identity', 'application/json', false, big)).toBe(false);
  });
});
