/**
 * Asks the server what it stored for this site about an alert
 * (`GET {httpUrl}/api/alerts/{id}/sites/{siteId}`, HTTP Basic with the site
 * credential, as the media cache downloads). Used only when the agent's
 * alert memory was lost (decide.ts, askServerFirst): the server's delivery
 * row is the one record of what this site played that survives the board's
 * state folder, because the site reported each step there.
 */
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { httpGet } from '../http-get.ts';
import type { ServerDelivery } from './decide.ts';

const Answer = TypeCompiler.Compile(
  Type.Object({
    revision: Type.Integer({ minimum: 0 }),
    status: Type.Union(['pending', 'received', 'playing', 'completed', 'failed', 'stopped'].map((s) => Type.Literal(s))),
  }),
);

/** null: the server does not know this alert for this site (404). Throws on any other failure. */
export async function askAlertDelivery(o: { httpUrl: string; siteId: string; secret: string; timeoutMs?: number }, alertId: string): Promise<ServerDelivery | null> {
  const url = `${o.httpUrl.replace(/\/+$/, '')}/api/alerts/${encodeURIComponent(alertId)}/sites/${encodeURIComponent(o.siteId)}`;
  const r = await httpGet(url, {
    headers: { authorization: `Basic ${Buffer.from(`${o.siteId}:${o.secret}`).toString('base64')}`, accept: 'application/json' },
    signal: AbortSignal.timeout(o.timeoutMs ?? 5000),
  });
  if (!r.ok) {
    // Not read: dropped, so the connection does not wait on an unread body.
    await r.body?.cancel();
    if (r.status === 404) return null;
    throw new Error(`the server answered ${r.status}`);
  }
  const body = (await r.json()) as unknown;
  if (!Answer.Check(body)) throw new Error('the server answered something that is not a delivery');
  return { revision: body.revision, status: body.status as ServerDelivery['status'] };
}
