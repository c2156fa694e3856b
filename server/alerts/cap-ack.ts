/**
 * The CAP 1.2 Ack loanet answers for an alert, pure: msgType Ack, the same
 * status as the acknowledged message (a Test is acknowledged as a Test, never
 * as Actual), `references` naming it (sender,identifier,sent, §3.2.1), and a
 * note with the delivery figures. An alert started through loanet's own API
 * is referenced by loanet's sender and the alert id.
 */
import { zoneOffsetMs } from '../time/zone.ts';
import type { DeliveryCounts } from './delivery.ts';
import type { Alert } from './model.ts';

/** CAP dateTime (§3.3.2): numeric zone, no fraction, e.g. 2026-11-27T16:51:46+07:00. */
export function capDateTime(at: number, timeZone: string): string {
  const offset = zoneOffsetMs(at, timeZone);
  const local = new Date(Math.floor(at / 1000) * 1000 + offset);
  const p = (n: number) => String(n).padStart(2, '0');
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset) / 60_000;
  return `${local.getUTCFullYear()}-${p(local.getUTCMonth() + 1)}-${p(local.getUTCDate())}T${p(local.getUTCHours())}:${p(local.getUTCMinutes())}:${p(local.getUTCSeconds())}${sign}${p(Math.floor(abs / 60))}:${p(abs % 60)}`;
}

/** The reference an alert is known by in CAP: its CAP origin, or loanet's own identity. */
export function capReferenceOf(alert: Alert, loanetSender: string, timeZone: string): { sender: string; identifier: string; sent: string } {
  return alert.cap ?? { sender: loanetSender, identifier: alert.id, sent: capDateTime(alert.createdAt, timeZone) };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function capAck(alert: Alert, counts: DeliveryCounts, o: { sender: string; now: number; timeZone: string }): string {
  const ref = capReferenceOf(alert, o.sender, o.timeZone);
  const status = alert.test ? 'Test' : 'Actual';
  const note =
    `loanet delivery of ${alert.id} revision ${alert.revision} (${alert.state}): ` +
    `targeted ${counts.targeted}, received ${counts.received}, confirmed playing ${counts.confirmedPlaying}, completed ${counts.completed}, ` +
    `failed ${counts.failed}, unreached ${counts.unreached}, attention signal only ${counts.attentionOnly}, played but not heard ${counts.notHeard}`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">',
    `  <identifier>${esc(`${alert.id}-ack-${o.now}`)}</identifier>`,
    `  <sender>${esc(o.sender)}</sender>`,
    `  <sent>${capDateTime(o.now, o.timeZone)}</sent>`,
    `  <status>${status}</status>`,
    '  <msgType>Ack</msgType>',
    '  <scope>Public</scope>',
    `  <note>${esc(note)}</note>`,
    `  <references>${esc(`${ref.sender},${ref.identifier},${ref.sent}`)}</references>`,
    '</alert>',
    '',
  ].join('\n');
}
