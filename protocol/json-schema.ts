/**
 * The wire contract as plain JSON Schema documents, for teams that implement
 * a side in another language (device firmware in C, a broker plugin in
 * Erlang). Generated from the TypeBox schemas; `npm run schemas` writes them
 * to protocol/json-schema/, and a unit test fails when the committed files
 * drift from the code.
 */
import type { TSchema } from '@sinclair/typebox';
import { CommandMessage, SiteEventMessage, SiteStateMessage, TelemetryMessage } from './messages.ts';
import { ClockRequest, ClockResponse } from './audio-control.ts';
import { PlaylistMessage } from './playlist.ts';
import { AlertControlMessage } from './alert.ts';
import { EventAck } from './event-ack.ts';
import { SiteConfigMessage } from './site-config.ts';
import { UpdateOrder } from './update.ts';
import { DeviceEvent, DeviceReply, DeviceRequest } from './device.ts';
import { PROTOCOL_VERSION } from './version.ts';

export const SCHEMA_DOCUMENTS: Record<string, { title: string; schema: TSchema }> = {
  'state.json': { title: 'loanet/v1 sites/{siteId}/state', schema: SiteStateMessage },
  'telemetry.json': { title: 'loanet/v1 sites/{siteId}/telemetry', schema: TelemetryMessage },
  'event.json': { title: 'loanet/v1 sites/{siteId}/event', schema: SiteEventMessage },
  'cmd.json': { title: 'loanet/v1 sites/{siteId}/cmd', schema: CommandMessage },
  'clock.json': { title: 'loanet/v1 sites/{siteId}/clock', schema: ClockRequest },
  'time.json': { title: 'loanet/v1 sites/{siteId}/time', schema: ClockResponse },
  'playlist.json': { title: 'loanet/v1 sites/{siteId}/playlist', schema: PlaylistMessage },
  'ack.json': { title: 'loanet/v1 sites/{siteId}/ack', schema: EventAck },
  'config.json': { title: 'loanet/v1 sites/{siteId}/config', schema: SiteConfigMessage },
  'update.json': { title: 'loanet/v1 sites/{siteId}/update', schema: UpdateOrder },
  'alert-control.json': { title: 'loanet/v1 areas/{areaKey}/control: alert_start, alert_cancel', schema: AlertControlMessage },
  'device-request.json': { title: 'device protocol: agent → device', schema: DeviceRequest },
  'device-reply.json': { title: 'device protocol: device → agent reply', schema: DeviceReply },
  'device-event.json': { title: 'device protocol: device → agent event', schema: DeviceEvent },
};

/** JSON text of one document: TypeBox's symbols dropped, keys as TypeBox wrote them. */
export function schemaDocument(name: string): string {
  const d = SCHEMA_DOCUMENTS[name];
  if (!d) throw new Error(`no schema document ${name}`);
  const { $id: _id, ...rest } = JSON.parse(JSON.stringify(d.schema)) as Record<string, unknown>;
  const doc = { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: `loanet/v${PROTOCOL_VERSION}/${name}`, title: d.title, ...rest };
  return `${JSON.stringify(doc, null, 2)}\n`;
}
