/** The pure parts behind /metrics, /readyz and request ids: the text format, who may scrape, what is not ready, which ids are kept. */
import { describe, expect, it } from 'vitest';
import { histogramSamples, render } from '../../server/metrics/exposition.ts';
import { forwardedByUntrustedProxy, isLoopback, metricsRefusal } from '../../server/metrics/access.ts';
import { notReady } from '../../server/metrics/readiness.ts';
import { isSafeRequestId } from '../../server/metrics/request-id.ts';
import { loadConfig } from '../../server/config.ts';

describe('the text format', () => {
  it('writes HELP and TYPE before the samples, escapes help and label values', () => {
    const text = render([
      { name: 'loanet_x_total', type: 'counter', help: 'a \\ b\nc', samples: [{ labels: { reason: 'say "hi"\\\n' }, value: 3 }] },
      { name: 'loanet_y', type: 'gauge', help: 'y', samples: [{ value: Number.POSITIVE_INFINITY }, { labels: { a: 'b' }, value: Number.NaN }] },
    ]);
    expect(text).toBe(
      [
        '# HELP loanet_x_total a \\\\ b\\nc',
        '# TYPE loanet_x_total counter',
        'loanet_x_total{reason="say \\"hi\\"\\\\\\n"} 3',
        '# HELP loanet_y y',
        '# TYPE loanet_y gauge',
        'loanet_y +Inf',
        'loanet_y{a="b"} NaN',
        '',
      ].join('\n'),
    );
  });

  it('refuses names outside loanet_, counters without _total, a family twice and bad label names', () => {
    expect(() => render([{ name: 'x', type: 'gauge', help: 'h', samples: [] }])).toThrow(/loanet_/);
    expect(() => render([{ name: 'loanet_x', type: 'counter', help: 'h', samples: [] }])).toThrow(/_total/);
    const g = { name: 'loanet_g', type: 'gauge' as const, help: 'h', samples: [] };
    expect(() => render([g, g])).toThrow(/twice/);
    expect(() => render([{ ...g, samples: [{ labels: { 'site-id': 'x' }, value: 1 }] }])).toThrow(/label name/);
  });

  it('makes histogram buckets cumulative, ending in +Inf equal to the count', () => {
    const s = histogramSamples([1, 5], [2, 0, 3], 40, { test: 'false' });
    expect(s.map((x) => [x.suffix, x.labels?.le, x.value])).toEqual([
      ['_bucket', '1', 2],
      ['_bucket', '5', 2],
      ['_bucket', '+Inf', 5],
      ['_sum', undefined, 40],
      ['_count', undefined, 5],
    ]);
  });
});

describe('who may scrape /metrics', () => {
  it('without a token: loopback clients only (IPv4, IPv6, IPv4-mapped)', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a), a).toBe(true);
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '2001:db8::1', '0.0.0.0']) expect(isLoopback(a), a).toBe(false);
    expect(metricsRefusal(undefined, undefined, '10.1.1.1')).toBe('not_loopback');
    expect(metricsRefusal(undefined, undefined, '127.0.0.1')).toBeNull();
  });

  it('a loopback peer forwarding for someone, through no trusted proxy, is not this machine', () => {
    expect(metricsRefusal(undefined, undefined, '127.0.0.1', true)).toBe('forwarded');
    // Forwarding headers resolved by a trusted proxy: req.ip differs from the peer, and the rule applies to req.ip.
    expect(forwardedByUntrustedProxy({ 'x-forwarded-for': '203.0.113.9' }, '127.0.0.1', '203.0.113.9')).toBe(false);
    expect(forwardedByUntrustedProxy({ 'x-forwarded-for': '203.0.113.9' }, '127.0.0.1', '127.0.0.1')).toBe(true);
    expect(forwardedByUntrustedProxy({ forwarded: 'for=203.0.113.9' }, '::1', '::1')).toBe(true);
    expect(forwardedByUntrustedProxy({ 'x-real-ip': '203.0.113.9' }, '127.0.0.1', '127.0.0.1')).toBe(true);
    expect(forwardedByUntrustedProxy({}, '127.0.0.1', '127.0.0.1')).toBe(false);
    // With a token the rule is the token's, wherever the request comes from.
    expect(metricsRefusal('f00dbabe-0123456789abcdef', 'Bearer f00dbabe-0123456789abcdef', '127.0.0.1', true)).toBeNull();
  });

  it('with a token: that bearer token from anywhere, nothing else (loopback included)', () => {
    const token = 'f00dbabe-0123456789abcdef';
    expect(metricsRefusal(token, `Bearer ${token}`, '203.0.113.5')).toBeNull();
    expect(metricsRefusal(token, `bearer ${token}`, '203.0.113.5')).toBeNull();
    expect(metricsRefusal(token, 'Bearer wrong-token-0123456789', '127.0.0.1')).toBe('token');
    expect(metricsRefusal(token, undefined, '127.0.0.1')).toBe('token');
    expect(metricsRefusal(token, `Basic ${token}`, '127.0.0.1')).toBe('token');
  });

  it('LOANET_METRICS_TOKEN must be long enough and one token', () => {
    expect(loadConfig({ LOANET_METRICS_TOKEN: 'abcdefghijklmnop1234' }).metricsToken).toBe('abcdefghijklmnop1234');
    expect(loadConfig({}).metricsToken).toBeUndefined();
    expect(() => loadConfig({ LOANET_METRICS_TOKEN: 'short' })).toThrow(/LOANET_METRICS_TOKEN must be 16 to 256/);
    expect(() => loadConfig({ LOANET_METRICS_TOKEN: 'has a space in it, long' })).toThrow(/without spaces/);
  });
});

describe('readiness', () => {
  it('names what is not ready, in a fixed order; nothing when ready', () => {
    expect(notReady({ started: true, stopping: false, storeUp: true, brokerUp: true })).toEqual([]);
    expect(notReady({ started: false, stopping: false, storeUp: true, brokerUp: false })).toEqual(['starting', 'broker']);
    expect(notReady({ started: true, stopping: true, storeUp: false, brokerUp: true })).toEqual(['shutting_down', 'store']);
  });
});

describe('request ids', () => {
  it('keeps a short safe token, refuses anything that could break a log line or a header', () => {
    for (const ok of ['abc', 'lb-7f3a.42', 'a:b_c', 'x'.repeat(64)]) expect(isSafeRequestId(ok), ok).toBe(true);
    for (const bad of ['', 'x'.repeat(65), 'a b', 'a"b', 'a\nb', 'é', undefined, ['a']]) expect(isSafeRequestId(bad), String(bad)).toBe(false);
  });
});
