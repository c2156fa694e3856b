import { describe, expect, it } from 'vitest';
import { interpretFor, type ReceiverAnswer, requestFor } from '../../server/outbox/adapter.ts';
import { type Destination, parseDestinations, urlProblem, wants } from '../../server/outbox/destination.ts';
import { envelopeOf, type OutboxEnvelope } from '../../server/outbox/model.ts';
import { verify } from '../../server/outbox/signature.ts';
import { TELEGRAM_TEXT_MAX, telegramText } from '../../server/outbox/telegram.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const T0 = Date.UTC(2026, 11, 5, 7, 3, 0); // 14:03 in Hà Nội
const webhook: Destination = { name: 'ioc', adapter: 'webhook', url: 'https://ioc.example.vn/hooks/loanet', secret: SECRET };
const telegram: Destination = { name: 'tg-tech', adapter: 'telegram', botToken: '123456:ABCdefGhIJKlmNoPQRsTUVwxyZ0123456789', chatId: -1001234567890 };

const raised: OutboxEnvelope = envelopeOf({
  id: 'msg_abc',
  type: 'alarm.raised',
  seq: 7,
  createdAt: T0,
  payload: { alarmId: 'al-12', siteId: 'LC-0101', siteName: 'Cụm loa thôn Nậm Sài', areaName: 'Xã Bản Hồ', kind: 'site_offline', severity: 'critical', count: 3 },
});

const answer = (status: number, body: unknown, headers: Record<string, string> = {}): ReceiverAnswer => ({
  status,
  headers,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  truncated: false,
  receivedAt: T0,
});

describe('the generic webhook adapter', () => {
  it('posts the envelope as JSON with the Standard Webhooks headers, signed at the time it leaves', () => {
    const req = requestFor(webhook, raised, T0 + 60_000);
    expect(req.method).toBe('POST');
    expect(req.url).toBe('https://ioc.example.vn/hooks/loanet');
    expect(JSON.parse(req.body)).toEqual({ id: 'msg_abc', type: 'alarm.raised', seq: 7, timestamp: '2026-12-05T07:03:00.000Z', data: raised.data });
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['loanet-event']).toBe('alarm.raised');
    expect(req.headers['webhook-id']).toBe('msg_abc');
    expect(req.headers['webhook-timestamp']).toBe(String((T0 + 60_000) / 1000));
    const h = { id: req.headers['webhook-id'], timestamp: req.headers['webhook-timestamp'], signature: req.headers['webhook-signature'] };
    expect(verify(SECRET, h, req.body, (T0 + 60_000) / 1000)).toEqual({ ok: true });
  });

  it('reads the answer by status and Retry-After', () => {
    expect(interpretFor(webhook, answer(204, ''))).toEqual({ kind: 'accepted', status: 204 });
    expect(interpretFor(webhook, answer(400, 'unknown field'))).toEqual({ kind: 'refused', status: 400, error: 'HTTP 400: unknown field' });
    expect(interpretFor(webhook, answer(429, '', { 'retry-after': '30' }))).toEqual({ kind: 'unavailable', status: 429, error: 'HTTP 429', retryAfterMs: 30_000 });
    expect(interpretFor(webhook, answer(500, 'x'.repeat(1000)))).toMatchObject({ kind: 'unavailable', status: 500 });
  });
});

describe('the Telegram Bot API adapter', () => {
  it('makes a sendMessage request as the Bot API takes it', () => {
    const req = requestFor({ ...telegram, baseUrl: 'http://127.0.0.1:8081/' }, raised, T0);
    expect(req.method).toBe('POST');
    expect(req.url).toBe('http://127.0.0.1:8081/bot123456:ABCdefGhIJKlmNoPQRsTUVwxyZ0123456789/sendMessage');
    expect(req.headers['content-type']).toBe('application/json');
    const body = JSON.parse(req.body) as { chat_id: number; text: string };
    expect(Object.keys(body).sort()).toEqual(['chat_id', 'text']);
    expect(body.chat_id).toBe(-1001234567890);
    expect(requestFor(telegram, raised, T0).url.startsWith('https://api.telegram.org/bot')).toBe(true);
  });

  it('words an alarm in Vietnamese first, then English, at Hà Nội time', () => {
    const text = telegramText(raised);
    const [vi, en] = text.split('\n\n');
    expect(vi).toContain('Cảnh báo kỹ thuật phát sinh: Mất kết nối (Nghiêm trọng)');
    expect(vi).toContain('Trạm: Cụm loa thôn Nậm Sài (LC-0101), Xã Bản Hồ, lặp lại 3 lần');
    expect(vi).toContain('14:03');
    expect(en).toContain('Technical alarm raised: Offline');
    expect(en).toContain('(UTC+7)');
  });

  it('words an acknowledgement with who and their note, and anything else by its type', () => {
    const ack = telegramText({ ...raised, type: 'alarm.acknowledged', data: { ...(raised.data as object), by: 'kt.hoa', note: 'đang lên đường' } });
    expect(ack).toContain('Bởi: kt.hoa — đang lên đường');
    expect(telegramText({ ...raised, type: 'source_system.record', data: { x: 1 } })).toContain('loanet: source_system.record #7');
  });

  it('keeps the text within Telegram’s 4096 characters', () => {
    const long = telegramText({ ...raised, type: 'report.ready', data: { period: '2026-11', area: { name: 'x'.repeat(10_000) }, files: [] } });
    expect(long.length).toBe(TELEGRAM_TEXT_MAX);
  });

  it('counts only ok: true as delivered, honours retry_after, and fails what retrying cannot fix', () => {
    expect(interpretFor(telegram, answer(200, { ok: true, result: { message_id: 1 } }))).toEqual({ kind: 'accepted', status: 200 });
    expect(interpretFor(telegram, answer(200, '<html>captive portal</html>')).kind).toBe('unavailable');
    expect(interpretFor(telegram, answer(429, { ok: false, error_code: 429, description: 'Too Many Requests: retry after 17', parameters: { retry_after: 17 } }))).toEqual({
      kind: 'unavailable',
      status: 429,
      error: 'HTTP 429: Too Many Requests: retry after 17',
      retryAfterMs: 17_000,
    });
    expect(interpretFor(telegram, answer(403, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' }))).toEqual({
      kind: 'refused',
      status: 403,
      error: 'HTTP 403: Forbidden: bot was blocked by the user',
    });
    expect(interpretFor(telegram, answer(502, 'Bad Gateway')).kind).toBe('unavailable');
  });
});

describe('destinations as configured', () => {
  it('https, or http to loopback, or http by explicit opt-in; never credentials in the URL', () => {
    expect(urlProblem('https://ioc.example.vn/x')).toBeNull();
    expect(urlProblem('http://127.0.0.1:9000/x')).toBeNull();
    expect(urlProblem('http://localhost:9000/x')).toBeNull();
    expect(urlProblem('http://[::1]:9000/x')).toBeNull();
    expect(urlProblem('http://10.0.0.5/x')).toMatch(/https/);
    expect(urlProblem('http://10.0.0.5/x', true)).toBeNull();
    expect(urlProblem('https://user:pw@ioc.example.vn/x')).toMatch(/credentials/);
    expect(urlProblem('ftp://ioc.example.vn/x')).toMatch(/https/);
    expect(urlProblem('not a url')).toMatch(/not a URL/);
  });

  it('parses a configuration and names the first thing wrong', () => {
    expect(parseDestinations([webhook, telegram])).toEqual({ ok: true, destinations: [webhook, telegram] });
    expect(parseDestinations([webhook, webhook])).toEqual({ ok: false, error: 'outbox destination ioc is named twice' });
    expect(parseDestinations([{ ...webhook, secret: 'hunter2' }])).toMatchObject({ ok: false, error: expect.stringMatching(/ioc: .*whsec_/) });
    expect(parseDestinations([{ ...webhook, url: 'http://ioc.example.vn' }])).toMatchObject({ ok: false, error: expect.stringMatching(/ioc: .*https/) });
    expect(parseDestinations([{ ...telegram, botToken: 'nope' }])).toMatchObject({ ok: false, error: expect.stringMatching(/^outbox destination 0: \/botToken/) });
    expect(parseDestinations([{ ...webhook, extra: 1 }]).ok).toBe(false);
    expect(parseDestinations({}).ok).toBe(false);
  });

  it('words report.ready with its month, its area and its files', () => {
    const text = telegramText({
      ...raised,
      type: 'report.ready',
      data: {
        period: '2026-11',
        area: { key: '2025.02683', code: '02683', name: 'Xã Bát Xát', level: 'commune' },
        files: [{ format: 'pdf', fileName: 'bao-cao_02683_2026-11.pdf', bytes: 1, url: '/api/reports/kept/2026-11/bao-cao_02683_2026-11.pdf' }],
      },
    });
    const [vi, en] = text.split('\n\n');
    expect(vi).toContain('Báo cáo tháng 11/2026 của Xã Bát Xát đã sẵn sàng:\n/api/reports/kept/2026-11/bao-cao_02683_2026-11.pdf');
    expect(en).toContain('Report for 11/2026, Xã Bát Xát, ready:');
  });

  it('a webhook with no event list wants every event, a Telegram chat those for people; with a list, only those', () => {
    expect(wants(webhook, 'report.ready')).toBe(true);
    expect(wants(webhook, 'source_system.record')).toBe(true);
    expect(wants(telegram, 'alarm.raised')).toBe(true);
    expect(wants(telegram, 'report.ready')).toBe(true);
    expect(wants(telegram, 'source_system.record')).toBe(false);
    expect(wants({ ...telegram, events: ['source_system.record'] }, 'source_system.record')).toBe(true);
    const only: Destination = { ...telegram, events: ['alarm.raised'] };
    expect(wants(only, 'alarm.raised')).toBe(true);
    expect(wants(only, 'alarm.cleared')).toBe(false);
  });
});
