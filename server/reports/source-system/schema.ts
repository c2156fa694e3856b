/**
 * What a provincial or central source information system (hệ thống thông
 * tin nguồn, Thông tư 39/2020/TT-BTTTT) collects from loanet, as one
 * versioned JSON document: the stations and loudspeaker clusters with their
 * status, the broadcasts with their as-run, the alerts with their delivery,
 * the live streams with who started them and where they were heard.
 * No official schema is published (docs/source-system.md): this is loanet's,
 * version 1, and the one place it is defined; docs/source-system-v1.schema.json
 * is generated from it and a test keeps the two equal.
 *
 * Version 1.1 added `live` (optional, so `schema` is unchanged).
 *
 * Versioning: `schema` names the version. Within a version fields are only
 * added (optional ones), never removed, renamed or given another meaning; a
 * receiver ignores fields it does not know. Anything else is version 2, served
 * beside version 1 (its own path) until receivers have moved.
 *
 * Codes, not words: conditions, reasons and statuses are loanet's codes
 * (docs/reports.md, api/coverage.ts), so a receiver words them itself.
 */
import { type Static, Type } from '@sinclair/typebox';

export const SOURCE_SYSTEM_SCHEMA = 'loanet.source-system/1';

// A pattern rather than format 'date-time': every validator checks it without a format plugin.
const Instant = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{3})?Z$', description: 'ISO 8601, UTC (2026-12-01T08:12:00.000Z)' });
const Code = Type.String({ minLength: 1, maxLength: 64 });

const AreaRef = Type.Object(
  {
    code: Type.String({ description: 'the official administrative code (mã đơn vị hành chính), or a village code under its commune' }),
    name: Type.String(),
    level: Type.Union([Type.Literal('province'), Type.Literal('district'), Type.Literal('commune'), Type.Literal('village')]),
  },
  { additionalProperties: false },
);

const Counts = (description: string) =>
  Type.Object(
    {
      played: Type.Integer({ minimum: 0, description: 'on time (within 100 ms)' }),
      late: Type.Integer({ minimum: 0 }),
      early: Type.Integer({ minimum: 0 }),
      unverified: Type.Integer({ minimum: 0, description: 'played on a clock never verified: when is not known' }),
      partial: Type.Integer({ minimum: 0, description: 'cut short' }),
      skipped: Type.Integer({ minimum: 0 }),
      unknown: Type.Integer({ minimum: 0, description: 'the site lost its record of it' }),
      no_receipt: Type.Integer({ minimum: 0, description: 'its end passed without a receipt' }),
      upcoming: Type.Integer({ minimum: 0, description: 'not due yet' }),
    },
    { additionalProperties: false, description },
  );

export const SourceStation = Type.Object(
  {
    id: Type.String({ description: "loanet's site id, stable for the site's life" }),
    name: Type.String(),
    kind: Type.Union([Type.Literal('station'), Type.Literal('cluster')], {
      description: 'station: a commune radio station (đài truyền thanh xã); cluster: a village loudspeaker cluster (cụm loa)',
    }),
    area: AreaRef,
    commune: Type.Union([AreaRef, Type.Null()], { description: 'the commune it belongs to (null above commune level)' }),
    condition: Type.Union(
      [Type.Literal('operational'), Type.Literal('degraded'), Type.Literal('faulty'), Type.Literal('offline'), Type.Literal('unverified'), Type.Literal('retired')],
      { description: 'as the fleet classifies it when the document is made' },
    ),
    reasons: Type.Array(Code, { description: 'why it is not operational: site reason codes (line_open, on_battery, offline…), most important first' }),
    lastSeenAt: Type.Union([Instant, Type.Null()], { description: 'the last message heard from it; null: never' }),
    lat: Type.Union([Type.Number(), Type.Null()]),
    lon: Type.Union([Type.Number(), Type.Null()]),
  },
  { additionalProperties: false },
);

export const SourceBroadcast = Type.Object(
  {
    entryId: Type.String({ description: 'one occurrence of a scheduled bulletin (the same at every site)' }),
    itemId: Type.String(),
    title: Type.String(),
    scheduledAt: Instant,
    sites: Type.Integer({ minimum: 0, description: 'sites asked to play it' }),
    asRun: Counts('those sites by as-run status (nhật ký phát thanh), as GET /api/as-run counts them'),
  },
  { additionalProperties: false },
);

export const SourceAlert = Type.Object(
  {
    id: Type.String(),
    title: Type.String(),
    issuedAt: Instant,
    test: Type.Boolean({ description: 'an exercise or test, never a real warning' }),
    priority: Code,
    targeted: Type.Integer({ minimum: 0, description: 'sites told to sound it' }),
    sounded: Type.Integer({ minimum: 0, description: 'made any sound (the attention signal at least)' }),
    message: Type.Integer({ minimum: 0, description: 'played the message itself' }),
    heard: Type.Integer({ minimum: 0, description: "the site's monitoring microphone heard the message" }),
    firstSoundAfterMs: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'from the issue to the first sound anywhere; null: none' }),
    allMessageAfterMs: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'from the issue until every targeted site had played the message; null: some never did',
    }),
  },
  { additionalProperties: false },
);

export const SourceLive = Type.Object(
  {
    id: Type.Integer({ description: "loanet's live stream id" }),
    source: Type.Union([Type.Literal('browser'), Type.Literal('relay'), Type.Literal('media')], {
      description: "browser: live from a station's microphone (a browser or a phone); relay: another radio relayed; media: a library item streamed live",
    }),
    relayOrigin: Type.Union([Type.Literal('national'), Type.Literal('provincial'), Type.Literal('other'), Type.Null()], {
      description: 'for a relay: national radio (VOV), provincial radio or another source, from its URL and the sources the deployer names; null for other sources',
    }),
    label: Type.Union([Type.String(), Type.Null()], { description: 'what the person who started it called it' }),
    url: Type.Union([Type.String(), Type.Null()], { description: "a relay's URL without credentials, query or fragment; null for other sources" }),
    areas: Type.Array(AreaRef, { description: 'the areas it was sent to (each with every site below it)' }),
    startedAt: Instant,
    endedAt: Type.Union([Instant, Type.Null()], { description: 'null: still on air when the document was made' }),
    endReason: Type.Union([Code, Type.Null()], {
      description:
        'why it ended: ended (its source finished), operator (a person stopped it), preempted, source_lost, error, server_… (as GET /api/live/streams says); null while on air',
    }),
    startedBy: Type.String({ description: 'the user who started it (username)' }),
    endedBy: Type.Union([Type.String(), Type.Null()], { description: 'the user who stopped it; null when it ended by itself or is on air' }),
    targeted: Type.Integer({ minimum: 0, description: "sites of the document's area it was sent to" }),
    reported: Type.Integer({ minimum: 0, description: 'sites of the area that reported on it (any site that received it)' }),
    played: Type.Integer({ minimum: 0, description: 'sites of the area that played some of it' }),
    playedMs: Type.Integer({
      minimum: 0,
      description: "its longest play at a site of the area (ms of audio the site says it played): the reports' hours on air count a stream once per commune, for its longest play",
    }),
  },
  { additionalProperties: false },
);

export const SourceSystemDocument = Type.Object(
  {
    schema: Type.Literal(SOURCE_SYSTEM_SCHEMA),
    generatedAt: Instant,
    area: AreaRef,
    period: Type.Object({ from: Instant, to: Instant }, { additionalProperties: false, description: 'half-open: from ≤ t < to' }),
    stations: Type.Array(SourceStation, { description: 'every site of the area in use in the period (retired ones too, as retired)' }),
    broadcasts: Type.Array(SourceBroadcast, { description: 'occurrences scheduled in the period, oldest first' }),
    alerts: Type.Array(SourceAlert, { description: 'alerts issued in the period that reached a site of the area, oldest first' }),
    live: Type.Optional(
      Type.Array(SourceLive, {
        description:
          'live streams (relays, a microphone, a library item streamed) started in the period and sent to or heard at a site of the area, oldest first; added in 1.1 (absent from older documents)',
      }),
    ),
  },
  {
    $id: 'https://loanet.example/schemas/source-system-v1.json',
    title: 'loanet source information system document, version 1',
    description: 'What a provincial or central source information system collects from loanet for an area and a period.',
    additionalProperties: false,
  },
);
export type SourceSystemDocument = Static<typeof SourceSystemDocument>;
