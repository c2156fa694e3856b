/**
 * The Telegram Bot API adapter (pure): an event becomes one `sendMessage`
 * (https://core.telegram.org/bots/api#sendmessage) to a chat, worded in
 * Vietnamese first, then English, times in Asia/Ho_Chi_Minh.
 *
 *   POST {baseUrl}/bot<token>/sendMessage   Content-Type: application/json
 *   {"chat_id": -100…, "text": "…"}  →  200 {"ok": true, "result": {…}}
 *
 * Errors come as {"ok": false, "error_code": n, "description": "…"} with the
 * same HTTP status; flood control is 429 with `parameters.retry_after`
 * (seconds), honoured. 400/401/403/404 (no such chat, bot blocked or
 * removed, token revoked) will not change by retrying: the message fails.
 * Telegram has no idempotency key: an answer lost on the way back means a
 * retry posts the message twice, which a chat survives better than a
 * missing alarm.
 */
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { alarmCodeIn, alarmWord } from '../../api/words/alarm-words.ts';
import type { OutboundRequest, OutboxAdapter, ReceiverAnswer } from './adapter.ts';
import { TELEGRAM_API, type TelegramDestination } from './destination.ts';
import { excerpt, type OutboxEnvelope, USER_AGENT } from './model.ts';
import { type AttemptResult, parseRetryAfter, resultOfStatus } from './retry-policy.ts';

/** Telegram's limit on a message's text, in characters after entity parsing (we send none). */
export const TELEGRAM_TEXT_MAX = 4096;

const TelegramAnswer = Type.Object({
  ok: Type.Boolean(),
  error_code: Type.Optional(Type.Integer()),
  description: Type.Optional(Type.String()),
  parameters: Type.Optional(Type.Object({ retry_after: Type.Optional(Type.Integer({ minimum: 0 })) })),
});

const AlarmData = Type.Object({
  siteId: Type.String(),
  siteName: Type.Optional(Type.String()),
  areaName: Type.Optional(Type.String()),
  kind: Type.String(),
  severity: Type.String(),
  count: Type.Optional(Type.Integer()),
  by: Type.Optional(Type.String()),
  note: Type.Optional(Type.String()),
});

/** report.ready as the monthly reports enqueue it (server/reports/monthly.ts ReportReadyData). */
const ReportData = Type.Object({
  period: Type.String(),
  area: Type.Object({ name: Type.String() }),
  files: Type.Array(Type.Object({ fileName: Type.String(), url: Type.String() })),
});

const vnTime = new Intl.DateTimeFormat('vi-VN', {
  timeZone: 'Asia/Ho_Chi_Minh',
  hour: '2-digit',
  minute: '2-digit',
  day: '2-digit',
  month: '2-digit',
  year: 'numeric',
  hourCycle: 'h23',
});

const ALARM_HEAD: Record<string, { vi: string; en: string }> = {
  'alarm.raised': { vi: 'phát sinh', en: 'raised' },
  'alarm.acknowledged': { vi: 'đã xác nhận', en: 'acknowledged' },
  'alarm.cleared': { vi: 'đã xử lý', en: 'cleared' },
};

/** The text of a message about `envelope`: Vietnamese, a blank line, English. */
export function telegramText(envelope: OutboxEnvelope): string {
  const when = vnTime.format(new Date(envelope.timestamp));
  const head = ALARM_HEAD[envelope.type];
  const d = envelope.data;
  let text: string;
  if (head && Value.Check(AlarmData, d)) {
    const site = d.siteName ? `${d.siteName} (${d.siteId})` : d.siteId;
    const place = d.areaName ? `, ${d.areaName}` : '';
    const count =
      d.count && d.count > 1 ? { vi: `, ${alarmWord('vi', 'alarmCount', { n: d.count })}`, en: `, ${alarmWord('en', 'alarmCount', { n: d.count })}` } : { vi: '', en: '' };
    const by = d.by ? { vi: `\nBởi: ${d.by}${d.note ? ` — ${d.note}` : ''}`, en: `\nBy: ${d.by}${d.note ? ` — ${d.note}` : ''}` } : { vi: '', en: '' };
    text =
      `${alarmWord('vi', 'alarm')} ${head.vi}: ${alarmCodeIn('vi', 'kind', d.kind)} (${alarmCodeIn('vi', 'severity', d.severity)})\n` +
      `Trạm: ${site}${place}${count.vi}\nLúc ${when}${by.vi}\n\n` +
      `${alarmWord('en', 'alarm')} ${head.en}: ${alarmCodeIn('en', 'kind', d.kind)} (${alarmCodeIn('en', 'severity', d.severity)})\n` +
      `Site: ${site}${place}${count.en}\nAt ${when} (UTC+7)${by.en}`;
  } else if (envelope.type === 'report.ready' && Value.Check(ReportData, d)) {
    // yyyy-mm as the report names it: Tháng 11/2026.
    const [y, m] = d.period.split('-');
    const month = m && y ? `${Number(m)}/${y}` : d.period;
    const files = d.files.map((f) => `\n${f.url}`).join('');
    text = `Báo cáo tháng ${month} của ${d.area.name} đã sẵn sàng:${files}\nLúc ${when}\n\nReport for ${month}, ${d.area.name}, ready:${files}\nAt ${when} (UTC+7)`;
  } else {
    text = `loanet: ${envelope.type} #${envelope.seq}\nLúc ${when}\n\nloanet: ${envelope.type} #${envelope.seq}\nAt ${when} (UTC+7)`;
  }
  return text.length > TELEGRAM_TEXT_MAX ? `${text.slice(0, TELEGRAM_TEXT_MAX - 1)}…` : text;
}

export const telegramAdapter: OutboxAdapter<TelegramDestination> = {
  kind: 'telegram',
  request(envelope, destination): OutboundRequest {
    const base = (destination.baseUrl ?? TELEGRAM_API).replace(/\/+$/, '');
    return {
      method: 'POST',
      url: `${base}/bot${destination.botToken}/sendMessage`,
      headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT },
      body: JSON.stringify({ chat_id: destination.chatId, text: telegramText(envelope) }),
    };
  },
  interpret(answer: ReceiverAnswer): AttemptResult {
    let parsed: unknown;
    try {
      parsed = answer.truncated ? undefined : JSON.parse(answer.body);
    } catch {
      parsed = undefined;
    }
    const body = Value.Check(TelegramAnswer, parsed) ? parsed : undefined;
    const detail = body?.description ?? excerpt(answer.body);
    if (answer.status === 200) {
      // A 200 that is not Telegram's `ok: true` is not a delivery we can count on (a proxy's page, a captive portal).
      return body?.ok === true ? { kind: 'accepted', status: 200 } : { kind: 'unavailable', status: 200, error: `HTTP 200 without ok: true: ${excerpt(answer.body)}` };
    }
    const retryAfterS = body?.parameters?.retry_after;
    const retryAfterMs = retryAfterS === undefined ? parseRetryAfter(answer.headers['retry-after'], answer.receivedAt) : retryAfterS * 1000;
    return resultOfStatus(answer.status, retryAfterMs, detail);
  },
};
