/**
 * Emergency alerts over HTTP (issue 5): start one (JSON, a multipart upload,
 * or a CAP 1.2 document), follow its delivery live, update or cancel it in
 * flight, answer a CAP Ack, export the delivery report. Starting, updating
 * and cancelling need the `alert.write` permission (emergency officials and
 * admins) inside the user's own area; every step is audited by the service.
 */
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { capSenderDecision, type CapSenderStore } from './cap-senders.ts';
import type { CapAlert } from './cap/model.ts';
import { Errors, fail } from '../errors.ts';
import { ATTENTION_SIGNALS, DEFAULT_ALERT_REPEATS, MAX_ALERT_VERSIONS } from '../../protocol/index.ts';
import type { Principal } from '../auth/users.ts';
import type { LatLon } from './cap/model.ts';
import type { Alert } from './model.ts';
import { checkedVersionLanguages, readyMessage, type PreparedMessage, type PreparedVersion } from './message.ts';
import type { AlertActor, AlertSpec } from './service.ts';
import { DRAWN_POLYGON_MAX_POINTS, polygonProblem, sitesInPolygon } from './targets.ts';
import { CAP_LIMITS } from './cap/limits.ts';
import { capDocumentText } from './cap-ingest.ts';
import { reportCsv } from './report.ts';
import { MAX_TEXT_CHARS } from '../media/tts/engine.ts';
import { AlertCreated, AlertPriority, AlertDetail, AlertList, AlertReport, AlertRevised, CapHandled, CapStarted, LatLon as LatLonSchema, SiteDelivery } from '../../api/alerts.ts';
import { alertReader } from './visibility.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'alerts' | 'areas' | 'audit' | 'config' | 'coverage' | 'media' | 'now' | 'sites' | 'users'>;

const Point = LatLonSchema;

const Message = Type.Union([
  Type.Object({ mediaId: Type.String({ minLength: 1, maxLength: 64, description: 'an item of the media library' }) }, { additionalProperties: false }),
  Type.Object(
    {
      text: Type.String({ minLength: 1, maxLength: MAX_TEXT_CHARS, description: 'spoken by the text-to-speech engine' }),
      lang: Type.Optional(Type.String({ maxLength: 35, description: 'BCP 47, default vi' })),
      voice: Type.Optional(Type.String({ maxLength: 64 })),
    },
    { additionalProperties: false },
  ),
]);

/** The message in other languages: library items recorded or uploaded per language (no TTS exists for most of them). */
const Versions = Type.Array(
  Type.Object(
    {
      language: Type.String({ minLength: 2, maxLength: 35, description: 'BCP 47 tag (hmn, ium, tyz…), not Vietnamese' }),
      mediaId: Type.String({ minLength: 1, maxLength: 64, description: 'a ready item of the media library in that language' }),
    },
    { additionalProperties: false },
  ),
  { maxItems: MAX_ALERT_VERSIONS },
);

const AlertFields = {
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  areas: Type.Optional(Type.Array(Type.String({ minLength: 2, maxLength: 50, description: 'area code (02683) or key (2025.02683)' }), { maxItems: 256 })),
  polygon: Type.Optional(Type.Array(Point, { minItems: 3, maxItems: DRAWN_POLYGON_MAX_POINTS, description: 'a drawn area: the sites inside it' })),
  attention: Type.Optional(Type.Union([...ATTENTION_SIGNALS.map((s) => Type.Literal(s)), Type.Null()], { description: 'signal before the message (default siren)' })),
  repeats: Type.Optional(Type.Integer({ minimum: 1, maximum: 20, description: `times the message is played (default ${DEFAULT_ALERT_REPEATS})` })),
  volume: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 100 }), Type.Null()], { description: 'amplifier volume while the alert plays' })),
  validForMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 60, description: 'validity from now (default 60)' })),
  validUntil: Type.Optional(Type.Integer({ minimum: 0, description: 'end of validity, ms since the epoch (instead of validForMinutes)' })),
  test: Type.Optional(Type.Boolean({ description: 'a test or exercise: never pre-empts a real alert or a live broadcast' })),
  priority: Type.Optional(AlertPriority),
  versions: Type.Optional({
    ...Versions,
    description: `the message in other languages (at most ${MAX_ALERT_VERSIONS}): each site plays, after the Vietnamese message, those of its own languages in its order; on an Update, the versions of the new revision (left out: kept)`,
  }),
};

const CreateBody = Type.Object({ ...AlertFields, message: Message }, { additionalProperties: false });
/** The `alert` field of a multipart upload: the same, the file being the message. */
const UploadFields = Type.Object(AlertFields, { additionalProperties: false });
const uploadCheck = TypeCompiler.Compile(UploadFields);
const UpdateBody = Type.Object({ ...AlertFields, message: Type.Optional(Message) }, { additionalProperties: false });
type Fields = Static<typeof UploadFields>;

/** CAP alone, or in the envelopes authorities distribute it in (EDXL-DE has no registered type of its own: application/xml). */
const CAP_CONTENT_TYPES = ['application/cap+xml', 'application/xml', 'text/xml', 'application/atom+xml', 'application/rss+xml'];
const unsupportedCapType = () => fail('LOANET_UNSUPPORTED_MEDIA_TYPE', { expected: [...CAP_CONTENT_TYPES] });

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const DEFAULT_VALIDITY_MIN = 60;

export const alertRoutes =
  (ctx: RouteDeps, senders: CapSenderStore): FastifyPluginAsyncTypebox =>
  async (app) => {
    const service = ctx.alerts.service;
    await app.register(multipart, { limits: { fileSize: ctx.media.library.config.maxBytes, files: 1, fields: 5, fieldSize: 200_000, parts: 6 } });
    // Bytes, read as text by their byte order mark, charset or XML declaration (RFC 7303), never assumed UTF-8.
    app.addContentTypeParser(CAP_CONTENT_TYPES, { parseAs: 'buffer', bodyLimit: CAP_LIMITS.documentBytes }, (req, body, done) => {
      try {
        done(null, capDocumentText(body as Buffer, req.headers['content-type']));
      } catch (e) {
        done(e as Error);
      }
    });

    const actorOf = (p: Principal): AlertActor => ({ id: p.user.id, username: p.user.username, areaId: p.user.areaId });
    const keyOf = (raw: string) => (raw.includes('.') ? raw : `${ctx.config.areaVersion}.${raw}`);

    /** Targets from areas and/or a polygon, checked against the user's scope (403 names what is outside). */
    const targetsOf = async (f: Fields, actor: AlertActor, fallback?: Alert) => {
      const keep = fallback !== undefined && f.areas === undefined && f.polygon === undefined;
      const polygon = (f.polygon as LatLon[] | undefined) ?? (keep ? (fallback.polygon ?? undefined) : undefined);
      const areaKeys = f.areas?.map(keyOf) ?? (keep ? fallback.targetAreas : []);
      if (areaKeys.length === 0 && !polygon && !(keep && fallback.sites)) throw fail('LOANET_TARGET_REQUIRED', { field: 'areas' });
      if (polygon) {
        const why = polygonProblem(polygon);
        if (why) throw Errors.badRequest(`polygon: ${why}`, 'polygon');
      }
      const sites = await service.targetSites();
      const siteIds = polygon ? sitesInPolygon(polygon, sites) : keep ? (fallback.sites ?? []) : [];
      if (polygon && siteIds.length === 0 && areaKeys.length === 0) throw fail('LOANET_POLYGON_NO_SITE', { field: 'polygon' });
      return { targets: await service.resolve({ areaKeys, siteIds }, actor, sites), polygon: polygon ?? null, areaKeys };
    };

    const specOf = (f: Fields, title: string, polygon: LatLon[] | null, base?: Alert): AlertSpec => {
      const now = ctx.now();
      if (f.validUntil !== undefined && f.validForMinutes !== undefined) throw fail('LOANET_ONE_OF', { field: 'validUntil', fields: ['validUntil', 'validForMinutes'] });
      const validUntil = f.validUntil ?? (f.validForMinutes !== undefined ? now + f.validForMinutes * 60_000 : (base?.validUntil ?? now + DEFAULT_VALIDITY_MIN * 60_000));
      if (validUntil <= now) throw fail('LOANET_IN_THE_PAST', { field: 'validUntil' });
      return {
        title,
        test: f.test ?? base?.test ?? false,
        priority: f.priority ?? base?.priority ?? 'emergency',
        attention: f.attention !== undefined ? f.attention : base ? base.attention : 'siren',
        repeats: f.repeats ?? base?.repeats ?? DEFAULT_ALERT_REPEATS,
        volume: f.volume !== undefined ? f.volume : (base?.volume ?? null),
        validUntil,
        polygon,
      };
    };

    const titleOf = (f: Fields, message: Static<typeof Message> | undefined, fallback: string) =>
      (f.title ?? (message && 'text' in message ? message.text.slice(0, 80) : fallback)).trim() || fallback;

    const messageOf = async (m: Static<typeof Message>, title: string, actor: AlertActor): Promise<PreparedMessage> =>
      'mediaId' in m
        ? ctx.alerts.messages.existing(m.mediaId)
        : ctx.alerts.messages.fromText(m.text, { title, lang: m.lang ?? 'vi', ...(m.voice ? { voice: m.voice } : {}), actor });

    /** A multipart request: the `alert` field (JSON) and the audio `file`, streamed to the library's temp folder. */
    const readUpload = async (req: FastifyRequest) => {
      let fieldsJson: string | undefined;
      let file: { path: string; name: string } | undefined;
      try {
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            if (part.fieldname !== 'file') {
              part.file.resume();
              throw fail('LOANET_UNEXPECTED_FIELD', { field: part.fieldname, expected: ['alert', 'file'] });
            }
            const tmp = ctx.alerts.messages.tempPath('.upload');
            await pipeline(part.file, fs.createWriteStream(tmp, { flags: 'wx' }));
            file = { path: tmp, name: part.filename };
            if (part.file.truncated) throw fail('LOANET_MEDIA_TOO_LARGE', { field: 'file', text: `the file is larger than ${ctx.media.library.config.maxBytes} bytes` });
          } else if (part.fieldname === 'alert') {
            fieldsJson = String(part.value);
          } else {
            throw fail('LOANET_UNEXPECTED_FIELD', { field: part.fieldname, expected: ['alert', 'file'] });
          }
        }
        if (!file) throw fail('LOANET_FIELD_REQUIRED', { field: 'file' });
        let parsed: unknown;
        try {
          parsed = JSON.parse(fieldsJson ?? '{}');
        } catch {
          throw fail('LOANET_INVALID_JSON', { field: 'alert' });
        }
        if (!uploadCheck.Check(parsed)) {
          const e = uploadCheck.Errors(parsed).First();
          const field = e?.path.replace(/^\//, '').replace(/\//g, '.') || 'alert';
          throw Errors.badRequest(`alert.${field}: ${e?.message ?? 'invalid'}`, field);
        }
        return { fields: parsed, file };
      } catch (e) {
        if (file) fs.rmSync(file.path, { force: true });
        throw e;
      }
    };

    /** Versions given by library item, checked (languages, then each item exists and is ready); `held`: languages the alert already has. */
    const versionsOf = async (given: Static<typeof Versions> | undefined, held: readonly string[] = []): Promise<PreparedVersion[]> => {
      if (!given || given.length === 0) return [];
      const languages = checkedVersionLanguages(
        given.map((v) => v.language),
        held,
      );
      return Promise.all(given.map(async (v, i) => ({ language: languages[i]!, message: await ctx.alerts.messages.existing(v.mediaId, `versions[${i}].mediaId`) })));
    };

    const readerOf = (p: Principal) => alertReader(ctx, p);
    /** The alert if the caller may see it, else 404; a refused change (`action`) is audited like the other alert refusals. */
    const visibleAlert = async (p: Principal, id: string, action?: 'cancel' | 'update') => {
      const a = await service.find(id);
      const reader = readerOf(p);
      if (!a || !reader.sees(a)) {
        if (a && action) await ctx.audit.record(p.user, 'alert.denied', a.id, { action, why: "outside the caller's area" });
        throw Errors.notFound('alert', id);
      }
      return { alert: a, reader };
    };

    /** The alert as a scoped reader sees it: a drawn alert's site list holds only its own sites. */
    const seenBy = (a: Alert, site?: (id: string) => boolean): Alert => (site && a.sites ? { ...a, sites: a.sites.filter(site) } : a);
    const summary = async (a: Alert, site?: (id: string) => boolean) => ({ ...seenBy(a, site), delivery: (await service.state(a.id, 0, site)).counts });

    app.post(
      '/api/alerts',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'createAlert',
          summary: 'Start an emergency alert: target areas and/or a drawn polygon; the message as a library item or as text spoken by TTS',
          description:
            '201 with the alert as soon as its control message is published: the sites sound their attention signal at once. Text is spoken afterwards in the alerts\' own media lane: the alert\'s messageState is "preparing" until the audio is published to the sites ("ready"), or "failed" with messageReason (no voice, no engine, ffmpeg error), the alert then standing with its attention signal. 400 names the field at fault; 403 when the target lies outside your area or your role may not start alerts.',
          body: CreateBody,
          response: { 201: AlertCreated },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'alert.write');
        const actor = actorOf(p);
        const body = req.body;
        const plan = await targetsOf(body, actor);
        const title = titleOf(body, body.message, 'Cảnh báo khẩn cấp');
        const spec = specOf(body, title, plan.polygon);
        const versions = await versionsOf(body.versions);
        const message = await messageOf(body.message, title, actor);
        const alert = await service.create(spec, plan.targets, message, actor, null, plan.areaKeys, versions);
        return reply
          .status(201)
          .header('location', `/api/alerts/${alert.id}`)
          .send({ id: alert.id, alert: await summary(alert) });
      },
    );

    app.post(
      '/api/alerts/upload',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'uploadAlert',
          summary:
            'Start an emergency alert with an uploaded audio file: multipart, field "alert" (the JSON of POST /api/alerts without message) and field "file" (MP3, WAV, Ogg, WebM, MP4/M4A, AAC or FLAC audio)',
          description:
            '201 with the alert id; 400 names the field at fault; 403 outside your area; 413 too large; 415 not one of those formats (a playlist, an image…), naming it; 422 the file is not usable audio (empty, silent, damaged); 503 without ffmpeg.',
          consumes: ['multipart/form-data'],
          response: { 201: AlertCreated },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'alert.write');
        const actor = actorOf(p);
        if (!req.isMultipart())
          throw fail('LOANET_UNSUPPORTED_MEDIA_TYPE', {
            expected: ['multipart/form-data with the fields "alert" (JSON) and "file" (curl -F alert=@alert.json -F file=@canh-bao.mp3)'],
          });
        const { fields, file } = await readUpload(req);
        let plan: Awaited<ReturnType<typeof targetsOf>>;
        try {
          plan = await targetsOf(fields, actor);
        } catch (e) {
          fs.rmSync(file.path, { force: true });
          throw e;
        }
        const title = titleOf(fields, undefined, file.name || 'Cảnh báo khẩn cấp');
        let versions: PreparedVersion[];
        try {
          versions = await versionsOf(fields.versions);
        } catch (e) {
          fs.rmSync(file.path, { force: true });
          throw e;
        }
        const spec = specOf(fields, title, plan.polygon);
        // An uploaded file is waited for (in the alerts' own media lane): a silent or damaged recording is the uploader's to fix, now.
        const message = await readyMessage(ctx.alerts.messages.fromFile(file.path, { title, lang: 'vi', actor: p.user, originalName: file.name || null }));
        const alert = await service.create(spec, plan.targets, message, actor, null, plan.areaKeys, versions);
        return reply
          .status(201)
          .header('location', `/api/alerts/${alert.id}`)
          .send({ id: alert.id, alert: await summary(alert) });
      },
    );

    app.post(
      '/api/alerts/cap',
      {
        bodyLimit: CAP_LIMITS.documentBytes,
        // Before any body parser runs: a CAP document sent as JSON or form data is the wrong type (415), not bad JSON (400);
        // who may not post alerts hears that first, whatever they sent.
        onRequest: async (req) => {
          requirePermission(req, 'alert.write');
          if (!/\bxml\b/i.test(req.headers['content-type'] ?? '')) throw unsupportedCapType();
        },
        schema: {
          tags: ['alerts'],
          operationId: 'postCapAlert',
          summary:
            'Start, update or cancel an alert from a CAP 1.2 document, alone or in an EDXL-DE, Atom or RSS envelope (Content-Type application/cap+xml, application/xml, text/xml, application/atom+xml or application/rss+xml)',
          description:
            "403 naming alert/sender unless your account is bound to the message's <sender> (GET /api/alerts/cap/senders; a network-wide admin may use any sender); 403 naming alert/info/area when an <area> of the message, whatever its status, lies outside your area or the sender's. A message only ever matches, updates or cancels alerts of its own sender. " +
            '201 with the alert id for a new alert; 200 for an Update of a live alert (same id, next revision), a Cancel (the ids cancelled), a duplicate (already received) or a message with nothing to play (System, Ack). 400 LOANET_CAP_INVALID names the element at fault; 409 same sender and identifier with other content; 422 Draft, expired, or no <area> in this network. Test and Exercise become test alerts, never Actual.',
          // Described per content type, so a body of any other type reaches the handler's own 415.
          body: {
            content: Object.fromEntries(
              CAP_CONTENT_TYPES.map((t) => [t, { schema: Type.String({ description: 'a CAP 1.2 <alert> document, or an EDXL-DE, Atom or RSS document carrying CAP alerts' }) }]),
            ),
          },
          response: { 201: CapStarted, 200: CapHandled },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'alert.write');
        if (typeof req.body !== 'string') throw unsupportedCapType();
        const poster = { userId: p.user.id, role: p.user.role, areaId: p.user.areaId, tokenId: p.tokenId, tokenKind: p.tokenKind };
        const authorize = async (cap: CapAlert) => {
          const d = capSenderDecision(cap.sender, await senders.bySender(cap.sender), poster);
          if (d.ok) return d.senderAreaId;
          await ctx.audit.record(p.user, 'alert.cap.denied', cap.sender, { identifier: cap.identifier, status: cap.status, msgType: cap.msgType });
          throw Errors.forbidden({ rule: 'cap_sender', field: 'alert/sender', sender: cap.sender, text: d.reason }, { sender: cap.sender });
        };
        const r = await ctx.alerts.cap.ingest(req.body, actorOf(p), authorize);
        const envelope = r.envelope ? { envelope: r.envelope } : {};
        switch (r.outcome) {
          case 'started':
            return reply
              .status(201)
              .header('location', `/api/alerts/${r.alert.id}`)
              .send({ id: r.alert.id, outcome: r.outcome, lifecycle: r.lifecycle, alert: await summary(r.alert), warnings: r.warnings, ...envelope });
          case 'updated':
            return reply.status(200).send({ id: r.alert.id, outcome: r.outcome, revision: r.alert.revision, alert: await summary(r.alert), warnings: r.warnings, ...envelope });
          case 'cancelled':
            return reply.status(200).send({ outcome: r.outcome, cancelled: r.cancelled, warnings: r.warnings, ...envelope });
          case 'duplicate':
            return reply.status(200).send({ id: r.alertId, outcome: r.outcome, warnings: r.warnings, ...envelope });
          case 'stored':
            return reply.status(200).send({ id: null, outcome: r.outcome, reason: r.reason, warnings: r.warnings, ...envelope });
          default: {
            const never: never = r;
            return never;
          }
        }
      },
    );

    app.get(
      '/api/alerts',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'listAlerts',
          summary: 'Alerts, newest first, with their delivery counts; a user scoped to an area sees the alerts whose targets intersect it, counted over its own sites',
          querystring: Type.Object({
            state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('cancelled'), Type.Literal('expired')])),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          }),
          response: { 200: AlertList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const limit = req.query.limit ?? 100;
        const state = req.query.state ? { state: req.query.state } : {};
        if (p.user.areaId === null) return { alerts: await Promise.all((await service.list({ ...state, limit })).map((a) => summary(a))) };
        // Alerts are few (hundreds a year): filter the newest few thousand rather than teach SQL the area tree.
        const reader = readerOf(p);
        return {
          alerts: await Promise.all(
            (await service.list({ ...state, limit: 5000 }))
              .filter(reader.sees)
              .slice(0, limit)
              .map((a) => summary(a, reader.site)),
          ),
        };
      },
    );

    app.get(
      '/api/alerts/:id',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'getAlert',
          summary:
            "An alert (404 when its targets do not intersect your area) and its live delivery over the sites of your area: counts (targeted, received, playing, started: any sound, confirmedPlaying: played the message, attentionOnly: the attention signal without the message, completed, failed, unreached: no sound, heard, notHeard), time to first sound and to the message, the share confirmed playing over time, the unreached and the attention-only sites with reasons (vi, en), the sites that played but whose monitoring microphone did not hear it (notHeard, with reasons), and each site's microphone level (levels)",
          params: IdParams,
          querystring: Type.Object({
            limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, description: 'unreached, not-heard and level sites listed, each (default 500)' })),
          }),
          response: { 200: AlertDetail },
        },
      },
      async (req) => {
        const { alert, reader } = await visibleAlert(requirePermission(req, 'read'), req.params.id);
        return { alert: seenBy(alert, reader.site), delivery: await service.state(alert.id, req.query.limit ?? 500, reader.site) };
      },
    );

    app.get(
      '/api/alerts/:id/sites/:siteId',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'getAlertSiteDelivery',
          summary: "One site's delivery of an alert: the revision the server holds for it and the status it stored (pending, received, playing, completed, failed, stopped)",
          description:
            'Also a site with its own credential (HTTP Basic siteId:secret), for itself only: an agent that lost its alert memory (a wiped or damaged state folder) asks here before playing an alert again that it may already have played (edge-agent/alerts/handler.ts).',
          params: Type.Object({ id: IdParams.properties.id, siteId: Type.String({ minLength: 1, maxLength: 64 }) }),
          response: { 200: SiteDelivery },
        },
        config: { siteAccess: true },
      },
      async (req) => {
        const { id, siteId } = req.params;
        if (req.site) {
          if (req.site.siteId !== siteId) throw Errors.notFound('site', siteId);
        } else {
          const { reader } = await visibleAlert(requirePermission(req, 'read'), id);
          if (reader.site && !reader.site(siteId)) throw Errors.notFound('site', siteId);
        }
        const alert = await service.find(id);
        const row = await service.siteDelivery(id, siteId);
        if (!alert || !row) throw Errors.notFound('alert_delivery', id, siteId);
        return { alertId: id, siteId, alertRevision: alert.revision, revision: row.revision, status: row.status, state: alert.state, validUntil: alert.validUntil };
      },
    );

    app.post(
      '/api/alerts/:id/cancel',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'cancelAlert',
          summary: 'Cancel an alert in flight: every site stops at once, sites not reached yet never start it',
          params: IdParams,
          response: { 200: AlertCreated },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'alert.write');
        await visibleAlert(p, req.params.id, 'cancel');
        const a = await service.cancel(req.params.id, actorOf(p));
        return { id: a.id, alert: await summary(a) };
      },
    );

    app.post(
      '/api/alerts/:id/update',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'updateAlert',
          summary: 'Update an alert in flight (next revision): any field of the creation; those left out stay as they are',
          description: 'Sites playing the previous revision stop it and play the new one; every targeted site is pending again for the new revision.',
          params: IdParams,
          body: UpdateBody,
          response: { 200: AlertRevised },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'alert.write');
        const actor = actorOf(p);
        const cur = (await visibleAlert(p, req.params.id, 'update')).alert;
        await service.mayChange(cur, actor, 'update');
        const body = req.body;
        const plan = await targetsOf(body, actor, cur);
        const title = titleOf(body, body.message, cur.title);
        const spec = specOf(body, title, plan.polygon, cur);
        const versions = body.versions ? await versionsOf(body.versions) : undefined;
        const message = body.message ? await messageOf(body.message, title, actor) : { media: cur.media, source: cur.message, state: cur.messageState, reason: cur.messageReason };
        const a = await service.revise(cur.id, spec, plan.targets, message, actor, null, plan.areaKeys, versions);
        return { id: a.id, revision: a.revision, alert: await summary(a) };
      },
    );

    app.post(
      '/api/alerts/:id/versions',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'addAlertVersions',
          summary: 'Add the message in other languages to an alert in flight, without restarting it: library items recorded or uploaded per language',
          description:
            "Same revision: the sites playing it take each version for the repeats still to come, after the Vietnamese message, in their own languages' order; the Vietnamese message never waits for a version. 400 naming versions[i]: not a language tag, Vietnamese, a language the alert already has (problem version_duplicate), more than 7 in all, or an item that is not ready; 409 when the alert is no longer active.",
          params: IdParams,
          body: Type.Object({ versions: { ...Versions, minItems: 1 } }, { additionalProperties: false }),
          response: { 200: AlertCreated },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'alert.write');
        const cur = (await visibleAlert(p, req.params.id, 'update')).alert;
        const held = (cur.versions ?? []).filter((v) => v.state !== 'failed').map((v) => v.language);
        const a = await service.addVersions(cur.id, await versionsOf(req.body.versions, held), actorOf(p));
        return { id: a.id, alert: await summary(a) };
      },
    );

    app.get(
      '/api/alerts/:id/cap-ack',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'getAlertCapAck',
          summary: "A CAP 1.2 Ack of the alert (msgType Ack, references the alert), with the delivery figures of your area's sites in <note> (404 outside your area)",
          params: IdParams,
          response: { 200: { description: 'a CAP 1.2 Ack', content: { 'application/cap+xml': { schema: Type.String() } } } },
        },
      },
      async (req, reply) => {
        const { reader } = await visibleAlert(requirePermission(req, 'read'), req.params.id);
        return reply.type('application/cap+xml; charset=utf-8').send(await service.capAck(req.params.id, reader.site));
      },
    );

    app.get(
      '/api/alerts/:id/report',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'getAlertReport',
          summary: 'The delivery report: one line per targeted site of your area (CSV with Vietnamese headers and local times, or JSON; 404 outside your area)',
          params: IdParams,
          querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('json')], { description: 'default csv' })) }),
          response: { 200: { description: 'one line per site', content: { 'text/csv': { schema: Type.String() }, 'application/json': { schema: AlertReport } } } },
        },
      },
      async (req, reply) => {
        const { reader } = await visibleAlert(requirePermission(req, 'read'), req.params.id);
        const r = await service.report(req.params.id, reader.site);
        if (req.query.format === 'json') return { alert: seenBy(r.alert, reader.site), delivery: { ...r.state, unreached: undefined }, sites: r.lines };
        return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="canh-bao-${r.alert.id}.csv"`).send(reportCsv(r.lines, service.timeZone));
      },
    );
  };
