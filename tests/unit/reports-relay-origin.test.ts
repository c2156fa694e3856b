/** Whose radio a relay carried, from its URL and the configured prefixes (server/reports/relay-origin.ts). */
import { describe, expect, it } from 'vitest';
import { NO_RELAY_ORIGINS, parseRelayPrefixes, relayOriginOf } from '../../server/reports/relay-origin.ts';

const ORIGINS = { national: ['https://radio.vov.vn/vov1', 'https://str.vov.gov.vn'], provincial: ['http://laocaitv.vn/radio/'] };

describe('relay origin', () => {
  it('matches a prefix up to a path boundary, the host in any case', () => {
    expect(relayOriginOf('https://radio.vov.vn/vov1', ORIGINS)).toBe('national');
    expect(relayOriginOf('https://RADIO.vov.vn/vov1/live.mp3', ORIGINS)).toBe('national');
    expect(relayOriginOf('https://radio.vov.vn/vov10', ORIGINS)).toBe('other');
    expect(relayOriginOf('https://str.vov.gov.vn/anything', ORIGINS)).toBe('national');
    expect(relayOriginOf('http://laocaitv.vn/radio/fm', ORIGINS)).toBe('provincial');
    expect(relayOriginOf('https://laocaitv.vn/radio/fm', ORIGINS)).toBe('other');
  });

  it('a relay with no URL, or none configured, is other', () => {
    expect(relayOriginOf(undefined, ORIGINS)).toBe('other');
    expect(relayOriginOf('https://radio.vov.vn/vov1', NO_RELAY_ORIGINS)).toBe('other');
    expect(relayOriginOf('not a url', ORIGINS)).toBe('other');
  });

  it('parses a comma-separated list and names the first entry that is not an http(s) URL', () => {
    expect(parseRelayPrefixes(' https://radio.vov.vn/vov1 , http://laocaitv.vn/radio ,')).toEqual({
      ok: true,
      prefixes: ['https://radio.vov.vn/vov1', 'http://laocaitv.vn/radio'],
    });
    expect(parseRelayPrefixes(undefined)).toEqual({ ok: true, prefixes: [] });
    expect(parseRelayPrefixes('https://ok.vn, rtsp://cam.vn/x')).toEqual({ ok: false, entry: 'rtsp://cam.vn/x' });
    expect(parseRelayPrefixes('vov1')).toEqual({ ok: false, entry: 'vov1' });
  });
});
