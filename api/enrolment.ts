/**
 * Enrolment of a board with a one-time code (server/enrolment/routes.ts):
 * a technician makes a code for a site; the board trades it once for the
 * site's credential and what it needs to connect (edge-agent/enrol.ts reads
 * the answer with these schemas too).
 */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable } from './common.ts';

/** XXXX-XXXX: eight characters of Crockford's base 32 (server/enrolment/code.ts). */
export const ENROLMENT_CODE_PATTERN = '^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$';

/** POST /api/sites/{id}/enrolment: the code, shown once. */
export const EnrolmentCreated = Type.Object({
  siteId: Type.String(),
  code: Type.String({ pattern: ENROLMENT_CODE_PATTERN, description: 'the one-time code, XXXX-XXXX; shown once (only a keyed digest is kept)' }),
  createdAt: EpochMs,
  expiresAt: EpochMs,
  server: Type.String({ description: 'the server address the board enrols with (as this request reached it)' }),
  qr: Type.String({ description: 'what the QR code holds: the lines of a boot-partition enrolment file (server=…, code=…)' }),
  replacesBoard: Type.Boolean({ description: 'a board has been heard from this site: it is disconnected when the code is used' }),
});
export type EnrolmentCreated = Static<typeof EnrolmentCreated>;

/** GET /api/sites/{id}/enrolment: a code waiting to be used (never the code itself) and the last enrolment. */
export const EnrolmentStatus = Type.Object({
  pending: Nullable(
    Type.Object({ createdAt: EpochMs, createdBy: Nullable(Type.String()), expiresAt: EpochMs }, { description: 'the newest code not used, replaced or expired yet' }),
  ),
  lastEnrolledAt: Nullable(EpochMs),
  lastEnrolledFrom: Nullable(Type.String({ description: 'the address the last board enrolled from' })),
});
export type EnrolmentStatus = Static<typeof EnrolmentStatus>;

/** POST /api/enrol: a board's request. Forgiving of case, spaces and look-alikes (O for 0, I or L for 1). */
export const EnrolRequest = Type.Object({ code: Type.String({ minLength: 1, maxLength: 32, description: 'the code as typed, e.g. ABCD-EF12' }) }, { additionalProperties: false });
export type EnrolRequest = Static<typeof EnrolRequest>;

/** POST /api/enrol: the site's new credential and how to reach the server (given ONCE). */
export const Enrolled = Type.Object({
  siteId: Type.String(),
  secret: Type.String({ minLength: 1, maxLength: 256, description: "the site's new secret (MQTT password, HTTP Basic): the board enrolled before is refused from now on" }),
  mqttUrl: Type.String({ pattern: '^(mqtt|mqtts|tcp|ssl|ws|wss)://[^\\s]+$', description: 'the broker as agents reach it' }),
  areaChannels: Type.Array(Type.String(), { maxItems: 16, description: "the site's area and every ancestor: the channels of its alerts and live streams" }),
  heartbeatIntervalS: Type.Integer({ minimum: 1, maximum: 3600 }),
});
export type Enrolled = Static<typeof Enrolled>;

export const ENROL_REFUSAL_REASONS = ['unknown', 'expired', 'used', 'replaced', 'site_retired'] as const;
export type EnrolRefusalReason = (typeof ENROL_REFUSAL_REASONS)[number];

/** POST /api/enrol refused (403): which of the reasons. */
export const EnrolRefused = Type.Object({
  error: Type.Literal('LOANET_ENROL_REFUSED'),
  message: Type.String(),
  reason: Type.Union(
    ENROL_REFUSAL_REASONS.map((r) => Type.Literal(r)),
    {
      description:
        'unknown: no such code (or mistyped); expired; used: already traded (also the loser of two boards racing); replaced: a newer code was made for the site; site_retired',
    },
  ),
});
export type EnrolRefused = Static<typeof EnrolRefused>;
