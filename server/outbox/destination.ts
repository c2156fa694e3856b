/**
 * The outbox's destinations as configured (pure): each a name, the adapter
 * that speaks its receiver's API, where it is, its secret, and the events it
 * wants. Validated once at start-up (TypeBox), so the delivery loop never
 * meets a destination it cannot send to.
 *
 * A destination's URL must be https: what leaves carries alarms about named
 * sites and, for Telegram, the bot's token in the path. Plain http is
 * accepted for a loopback receiver (nothing crosses a network) or when the
 * destination opts in with `allowInsecureHttp` (a dashboard on a closed
 * provincial network without TLS); credentials in the URL never are.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { OUTBOX_EVENT_TYPES, type OutboxEventType } from './model.ts';
import { secretKey } from './signature.ts';

const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'lower-case letters, digits, - and _: it is a metrics label and a log field' });
const Events = Type.Array(Type.Union(OUTBOX_EVENT_TYPES.map((t) => Type.Literal(t))), { minItems: 1, uniqueItems: true });

export const WebhookDestinationSchema = Type.Object(
  {
    name: Name,
    adapter: Type.Literal('webhook'),
    url: Type.String({ minLength: 1, maxLength: 2048 }),
    /** whsec_… (signature.ts). */
    secret: Type.String({ minLength: 1 }),
    events: Type.Optional(Events),
    allowInsecureHttp: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const TelegramDestinationSchema = Type.Object(
  {
    name: Name,
    adapter: Type.Literal('telegram'),
    /** The bot's token from @BotFather: 123456:ABC… */
    botToken: Type.String({ pattern: '^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$' }),
    /** A chat id (negative for groups) or @channelusername. */
    chatId: Type.Union([Type.Integer(), Type.String({ pattern: '^@[A-Za-z0-9_]{5,32}$' })]),
    /** https://api.telegram.org unless set (tests: a local receiver; or a self-hosted Bot API server). */
    baseUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    events: Type.Optional(Events),
    allowInsecureHttp: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const DestinationSchema = Type.Union([WebhookDestinationSchema, TelegramDestinationSchema]);
export type WebhookDestination = Static<typeof WebhookDestinationSchema>;
export type TelegramDestination = Static<typeof TelegramDestinationSchema>;
export type Destination = Static<typeof DestinationSchema>;

export const TELEGRAM_API = 'https://api.telegram.org';

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** Why `url` may not be a destination's, or null when it may. */
export function urlProblem(url: string, allowInsecureHttp = false): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not repeated: a URL may carry a token in its path or query, and this error is logged at start.
    return 'its URL is not a URL';
  }
  if (u.username || u.password) return 'a destination URL carries no credentials (they would be logged); use the destination secret';
  if (u.protocol === 'https:') return null;
  if (u.protocol !== 'http:') return `a destination URL is https (got ${u.protocol})`;
  if (LOOPBACK.test(u.hostname) || allowInsecureHttp) return null;
  return `a destination URL is https (${u.hostname} is not loopback; set allowInsecureHttp to send in the clear)`;
}

/**
 * The events a destination that names none gets: a webhook every one; a
 * Telegram chat those meant for people (alarms, reports ready), never the
 * source information system's daily documents, one per commune, which are
 * for machines and would flood the chat.
 */
export const TELEGRAM_DEFAULT_EVENTS: readonly OutboxEventType[] = OUTBOX_EVENT_TYPES.filter((t) => t !== 'source_system.record');

/** Whether `d` wants events of `type`: those it names, else its kind's default (TELEGRAM_DEFAULT_EVENTS; every event for a webhook). */
export function wants(d: Destination, type: OutboxEventType): boolean {
  if (d.events !== undefined) return d.events.includes(type);
  return d.adapter === 'telegram' ? TELEGRAM_DEFAULT_EVENTS.includes(type) : true;
}

/**
 * The destinations of a configuration, or an error naming the first thing
 * wrong: shape, a repeated name, a URL, a secret.
 */
export function parseDestinations(raw: unknown): { ok: true; destinations: Destination[] } | { ok: false; error: string } {
  if (!Array.isArray(raw)) return { ok: false, error: 'outbox destinations are a JSON array' };
  const seen = new Set<string>();
  const out: Destination[] = [];
  for (const [i, d] of raw.entries()) {
    // The schema of the kind it names, so the error names the field rather than "expected union value".
    const kind = typeof d === 'object' && d !== null ? (d as { adapter?: unknown }).adapter : undefined;
    const schema = kind === 'webhook' ? WebhookDestinationSchema : kind === 'telegram' ? TelegramDestinationSchema : undefined;
    if (!schema) return { ok: false, error: `outbox destination ${i}: /adapter is "webhook" or "telegram"` };
    if (!Value.Check(schema, d)) {
      const first = [...Value.Errors(schema, d)][0];
      return { ok: false, error: `outbox destination ${i}: ${first ? `${first.path || '/'} ${first.message}` : 'not a destination'}` };
    }
    if (!Value.Check(DestinationSchema, d)) return { ok: false, error: `outbox destination ${i}: not a destination` };
    if (seen.has(d.name)) return { ok: false, error: `outbox destination ${d.name} is named twice` };
    seen.add(d.name);
    const url = d.adapter === 'webhook' ? d.url : (d.baseUrl ?? TELEGRAM_API);
    const problem = urlProblem(url, d.allowInsecureHttp);
    if (problem) return { ok: false, error: `outbox destination ${d.name}: ${problem}` };
    if (d.adapter === 'webhook') {
      try {
        secretKey(d.secret);
      } catch (e) {
        return { ok: false, error: `outbox destination ${d.name}: ${(e as Error).message}` };
      }
    }
    out.push(d);
  }
  return { ok: true, destinations: out };
}
