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
import type { ServerContext } from '../../context.ts';
import { requirePermission } from '../auth.ts';
import { Errors, LoanetError } from '../../errors.ts';
import { ATTENTION_SIGNALS, DEFAULT_ALERT_REPEATS } from '../../../protocol/index.ts';
import type { Principal } from '../../auth/users.ts';
import type { LatLon } from '../../alerts/cap/model.ts';
import type { Alert } from '../../alerts/model.ts';
import { readyMessage, type PreparedMessage } from '../../alerts/message.ts';
import type { AlertActor, AlertSpec } from '../../alerts/service.ts';
import { DRAWN_POLYGON_MAX_POINTS, polygonProblem, sitesInPolygon } from '../../alerts/targets.ts';
import { CAP_LIMITS } from '../../alerts/cap/limits.ts';
import { reportCsv } from '../../alerts/report.ts';
import { MAX_TEXT_CHARS } from '../../media/tts/engine.ts';

const Point = Type.Tuple([Type.Number({ minimum: -90, maximum: 90 }), Type.Number({ minimum: -180, maximum: 180 })], { description: '[latitude, longitude], WGS 84' });

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
};

const CreateBody = Type.Object({ ...AlertFields, message: Message }, { additionalProperties: false });
/** The `alert` field of a multipart upload: the same, the file being the message. */
const UploadFields = Type.Object(AlertFields, { additionalProperties: false });
const uploadCheck = TypeCompiler.Compile(UploadFields);
const UpdateBody = Type.Object({ ...AlertFields, message: Type.Optional(Message) }, { additionalProperties: false });
type Fields = Static<typeof UploadFields>;

const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const DEFAULT_VALIDITY_MIN = 60;

export const alertRoutes =
  (ctx: ServerContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const service = ctx.alerts.service;
    await app.register(multipart, { limits: { fileSize: ctx.media.library.config.maxBytes, files: 1, fields: 5, fieldSize: 200_000, parts: 6 } });
    app.addContentTypeParser(['application/xml', 'text/xml', 'application/cap+xml'], { parseAs: 'string', bodyLimit: CAP_LIMITS.documentBytes }, (_req, body, done) => done(null, body));

    const actorOf = (p: Principal): AlertActor => ({ id: p.user.id, username: p.user.username, areaId: p.user.areaId });
    const keyOf = (raw: string) => (raw.includes('.') ? raw : `${ctx.config.areaVersion}.${raw}`);

    /** Targets from areas and/or a polygon, checked against the user's scope (403 names what is outside). */
    const targetsOf = (f: Fields, actor: AlertActor, fallback?: Alert) => {
      const keep = fallback !== undefined && f.areas === undefined && f.polygon === undefined;
      const polygon = (f.polygon as LatLon[] | undefined) ?? (keep ? fallback.polygon ?? undefined : undefined);
      const areaKeys = f.areas?.map(keyOf) ?? (keep ? fallback.targetAreas : []);
      if (areaKeys.length === 0 && !polygon && !(keep && fallback.sites)) throw Errors.badRequest('areas or polygon: say where the alert goes', 'areas');
      if (polygon) {
        const why = polygonProblem(polygon);
        if (why) throw Errors.badRequest(`polygon: ${why}`, 'polygon');
      }
      const sites = service.targetSites();
      const siteIds = polygon ? sitesInPolygon(polygon, sites) : keep ? fallback.sites ?? [] : [];
      if (polygon && siteIds.length === 0 && areaKeys.length === 0) throw Errors.badRequest('polygon: no registered site lies inside the drawn area', 'polygon');
      return { targets: service.resolve({ areaKeys, siteIds }, actor, sites), polygon: polygon ?? null, areaKeys };
    };

    const specOf = (f: Fields, title: string, polygon: LatLon[] | null, base?: Alert): AlertSpec => {
      const now = ctx.now();
      if (f.validUntil !== undefined && f.validForMinutes !== undefined) throw Errors.badRequest('validUntil and validForMinutes: give one of them', 'validUntil');
      const validUntil = f.validUntil ?? (f.validForMinutes !== undefined ? now + f.validForMinutes * 60_000 : base?.validUntil ?? now + DEFAULT_VALIDITY_MIN * 60_000);
      if (validUntil <= now) throw Errors.badRequest('validUntil: lies in the past', 'validUntil');
      return {
        title,
        test: f.test ?? base?.test ?? false,
        attention: f.attention !== undefined ? f.attention : base ? base.attention : 'siren',
        repeats: f.repeats ?? base?.repeats ?? DEFAULT_ALERT_REPEATS,
        volume: f.volume !== undefined ? f.volume : base?.volume ?? null,
        validUntil,
        polygon,
      };
    };

    const titleOf = (f: Fields, message: Static<typeof Message> | undefined, fallback: string) =>
      (f.title ?? (message && 'text' in message ? message.text.slice(0, 80) : fallback)).trim() || fallback;

    const messageOf = async (m: Static<typeof Message>, title: string, actor: AlertActor): Promise<PreparedMessage> =>
      'mediaId' in m ? ctx.alerts.messages.existing(m.mediaId) : ctx.alerts.messages.fromText(m.text, { title, lang: m.lang ?? 'vi', ...(m.voice ? { voice: m.voice } : {}), actor });

    /** A multipart request: the `alert` field (JSON) and the audio `file`, streamed to the library's temp folder. */
    const readUpload = async (req: FastifyRequest) => {
      let fieldsJson: string | undefined;
      let file: { path: string; name: string } | undefined;
      try {
        for await (const part of req.parts()) {
          if (part.type === 'file') {
            if (part.fieldname !== 'file') {
              part.file.resume();
              throw Errors.badRequest(`unexpected file field "${part.fieldname}": send the audio as "file"`, part.fieldname);
            }
            const tmp = ctx.alerts.messages.tempPath('.upload');
            await pipeline(part.file, fs.createWriteStream(tmp, { flags: 'wx' }));
            file = { path: tmp, name: part.filename };
            if (part.file.truncated) throw new LoanetError('LOANET_MEDIA_TOO_LARGE', 413, `the file is larger than ${ctx.media.library.config.maxBytes} bytes`);
          } else if (part.fieldname === 'alert') {
            fieldsJson = String(part.value);
          } else {
            throw Errors.badRequest(`unexpected field "${part.fieldname}": send "alert" (JSON) and "file"`, part.fieldname);
          }
        }
        if (!file) throw Errors.badRequest('file: required (multipart field "file", the alert audio)', 'file');
        let parsed: unknown;
        try {
          parsed = JSON.parse(fieldsJson ?? '{}');
        } catch {
          throw Errors.badRequest('alert: not valid JSON', 'alert');
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

    const summary = (a: Alert) => ({ ...a, delivery: service.state(a.id, 0).counts });

    app.post(
      '/api/alerts',
      {
        schema: {
          tags: ['alerts'],
          summary: 'Start an emergency alert: target areas and/or a drawn polygon; the message as a library item or as text spoken by TTS',
          description: '201 with the alert as soon as its control message is published: the sites sound their attention signal at once. Text is spoken afterwards in the alerts\' own media lane: the alert\'s messageState is "preparing" until the audio is published to the sites ("ready"), or "failed" with messageReason (no voice, no engine, ffmpeg error), the alert then standing with its attention signal. 400 names the field at fault; 403 when the target lies outside your area or your role may not start alerts.',
          body: CreateBody,
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'alert.write');
        const actor = actorOf(p);
        const body = req.body;
        const plan = targetsOf(body, actor);
        const title = titleOf(body, body.message, 'Cảnh báo khẩn cấp');
        const spec = specOf(body, title, plan.polygon);
        const message = await messageOf(body.message, title, actor);
        const alert = await service.create(spec, plan.targets, message, actor, null, plan.areaKeys);
        return reply.status(201).header('location', `/api/alerts/${alert.id}`).send({ id: alert.id, alert: summary(alert) });
      },
    );

    app.post(
      '/api/alerts/upload',
      {
        schema: {
          tags: ['alerts'],
          summary: 'Start an emergency alert with an uploaded audio file: multipart, field "alert" (the JSON of POST /api/alerts without message) and field "file" (any audio ffmpeg reads)',
          description: '201 with the alert id; 400 names the field at fault; 403 outside your area; 413 too large; 422 the file is not usable audio (empty, silent, damaged); 503 without ffmpeg.',
          consumes: ['multipart/form-data'],
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'alert.write');
        const actor = actorOf(p);
        if (!req.isMultipart()) throw new LoanetError('LOANET_UNSUPPORTED_MEDIA_TYPE', 415, 'send multipart/form-data with the fields "alert" (JSON) and "file" (curl -F alert=@alert.json -F file=@canh-bao.mp3)');
        const { fields, file } = await readUpload(req);
        let plan: ReturnType<typeof targetsOf>;
        try {
          plan = targetsOf(fields, actor);
        } catch (e) {
          fs.rmSync(file.path, { force: true });
          throw e;
        }
        const title = titleOf(fields, undefined, file.name || 'Cảnh báo khẩn cấp');
        const spec = specOf(fields, title, plan.polygon);
        // An uploaded file is waited for (in the alerts' own media lane): a silent or damaged recording is the uploader's to fix, now.
        const message = await readyMessage(ctx.alerts.messages.fromFile(file.path, { title, lang: 'vi', actor: p.user, originalName: file.name || null }));
        const alert = await service.create(spec, plan.targets, message, actor, null, plan.areaKeys);
        return reply.status(201).header('location', `/api/alerts/${alert.id}`).send({ id: alert.id, alert: summary(alert) });
      },
    );

    app.post(
      '/api/alerts/cap',
      {
        bodyLimit: CAP_LIMITS.documentBytes,
        schema: {
          tags: ['alerts'],
          summary: 'Start, update or cancel an alert from a CAP 1.2 document (Content-Type application/cap+xml or application/xml)',
          description:
            '201 with the alert id for a new alert; 200 for an Update of a live alert (same id, next revision), a Cancel (the ids cancelled), a duplicate (already received) or a message with nothing to play (System, Ack). 400 LOANET_CAP_INVALID names the element at fault; 409 same sender and identifier with other content; 422 Draft, expired, or no <area> in this network. Test and Exercise become test alerts, never Actual.',
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'alert.write');
        if (typeof req.body !== 'string' || !/\bxml\b/i.test(req.headers['content-type'] ?? '')) throw new LoanetError('LOANET_UNSUPPORTED_MEDIA_TYPE', 415, 'send the CAP document as application/cap+xml (or application/xml, text/xml)');
        const r = await ctx.alerts.cap.ingest(req.body, actorOf(p));
        switch (r.outcome) {
          case 'started':
            return reply.status(201).header('location', `/api/alerts/${r.alert.id}`).send({ id: r.alert.id, outcome: r.outcome, lifecycle: r.lifecycle, alert: summary(r.alert), warnings: r.warnings });
          case 'updated':
            return reply.status(200).send({ id: r.alert.id, outcome: r.outcome, revision: r.alert.revision, alert: summary(r.alert), warnings: r.warnings });
          case 'cancelled':
            return reply.status(200).send({ outcome: r.outcome, cancelled: r.cancelled, warnings: r.warnings });
          case 'duplicate':
            return reply.status(200).send({ id: r.alertId, outcome: r.outcome, warnings: r.warnings });
          case 'stored':
            return reply.status(200).send({ id: null, outcome: r.outcome, reason: r.reason, warnings: r.warnings });
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
          summary: 'Alerts, newest first, with their delivery counts',
          querystring: Type.Object({
            state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('cancelled'), Type.Literal('expired')])),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          }),
        },
      },
      async (req) => {
        requirePermission(req, 'read');
        return { alerts: service.list({ ...(req.query.state ? { state: req.query.state } : {}), limit: req.query.limit ?? 100 }).map(summary) };
      },
    );

    app.get(
      '/api/alerts/:id',
      {
        schema: {
          tags: ['alerts'],
          summary: 'An alert and its live delivery: counts (targeted, received, playing, confirmedPlaying, completed, failed, unreached, heard, notHeard), time to first sound, the share confirmed playing over time, the unreached sites with reasons (vi, en), the sites that played but whose monitoring microphone did not hear it (notHeard, with reasons), and each site\'s microphone level (levels)',
          params: IdParams,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, description: 'unreached, not-heard and level sites listed, each (default 500)' })) }),
        },
      },
      async (req) => {
        requirePermission(req, 'read');
        const alert = service.require(req.params.id);
        return { alert, delivery: service.state(alert.id, req.query.limit ?? 500) };
      },
    );

    app.post(
      '/api/alerts/:id/cancel',
      { schema: { tags: ['alerts'], summary: 'Cancel an alert in flight: every site stops at once, sites not reached yet never start it', params: IdParams } },
      async (req) => {
        const p = requirePermission(req, 'alert.write');
        const a = await service.cancel(req.params.id, actorOf(p));
        return { id: a.id, alert: summary(a) };
      },
    );

    app.post(
      '/api/alerts/:id/update',
      {
        schema: {
          tags: ['alerts'],
          summary: 'Update an alert in flight (next revision): any field of the creation; those left out stay as they are',
          description: 'Sites playing the previous revision stop it and play the new one; every targeted site is pending again for the new revision.',
          params: IdParams,
          body: UpdateBody,
        },
      },
      async (req) => {
        const p = requirePermission(req, 'alert.write');
        const actor = actorOf(p);
        const cur = service.require(req.params.id);
        service.mayChange(cur, actor, 'update');
        const body = req.body;
        const plan = targetsOf(body, actor, cur);
        const title = titleOf(body, body.message, cur.title);
        const spec = specOf(body, title, plan.polygon, cur);
        const message = body.message ? await messageOf(body.message, title, actor) : { media: cur.media, source: cur.message, state: cur.messageState, reason: cur.messageReason };
        const a = await service.revise(cur.id, spec, plan.targets, message, actor, null, plan.areaKeys);
        return { id: a.id, revision: a.revision, alert: summary(a) };
      },
    );

    app.get(
      '/api/alerts/:id/cap-ack',
      { schema: { tags: ['alerts'], summary: 'A CAP 1.2 Ack of the alert (msgType Ack, references the alert), with the delivery figures in <note>', params: IdParams } },
      async (req, reply) => {
        requirePermission(req, 'read');
        return reply.type('application/cap+xml; charset=utf-8').send(service.capAck(req.params.id));
      },
    );

    app.get(
      '/api/alerts/:id/report',
      {
        schema: {
          tags: ['alerts'],
          summary: 'The delivery report: one line per targeted site (CSV with Vietnamese headers and local times, or JSON)',
          params: IdParams,
          querystring: Type.Object({ format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('json')], { description: 'default csv' })) }),
        },
      },
      async (req, reply) => {
        requirePermission(req, 'read');
        const r = service.report(req.params.id);
        if (req.query.format === 'json') return { alert: r.alert, delivery: { ...r.state, unreached: undefined }, sites: r.lines };
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="canh-bao-${r.alert.id}.csv"`)
          .send(reportCsv(r.lines, service.timeZone));
      },
    );
  };
