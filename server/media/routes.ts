/**
 * The media library over HTTP: upload audio (multipart, field `file`),
 * make speech from text or a .docx, follow processing, list, download with
 * Range (agents resume over 4G), edit metadata, retire.
 *
 * Creating answers 201 with the ready item, or the 4xx that names what is
 * wrong with the file, when processing ends within `waitMs` (default 5 min);
 * otherwise 202 with the id and a Location to poll (`waitMs=0` always does).
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { requirePermission } from '../http/auth.ts';
import { hiddenAlertMedia } from '../alerts/visibility.ts';
import { Errors, fail, failWithText } from '../errors.ts';
import { MediaRejected, Rejections } from './analysis.ts';
import type { JobView, MediaItem, MediaMeta, SubmitInput } from './library.ts';
import { KNOWN_LANGUAGES, normaliseLanguageTag } from './languages.ts';
import { parseRange } from './range.ts';
import { MAX_DOCX_BYTES } from './docx.ts';
import { docxTextOffThread } from './docx-offthread.ts';
import { checkSpeechText, MAX_TEXT_CHARS, RATE_RANGE } from './tts/engine.ts';
import { pickVoice } from './tts/espeak.ts';
import type { Principal } from '../auth/users.ts';
import { MediaAudio, MediaEntry, MediaItem as MediaItemSchema, MediaJob, MediaLanguages, MediaList, MediaPurpose, TtsVoices } from '../../api/media.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'media' | 'alerts' | 'coverage' | 'sites'>;

const MediaId = Type.Object({ id: Type.String({ maxLength: 64 }) });
const Wait = Type.Object({
  waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'how long to wait for processing before answering 202 (default 300000)' })),
});
const DEFAULT_WAIT_MS = 5 * 60_000;
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: 20 });
/** What a creation answers: the ready item, or its job still processing (a refused file is an error answer). */
const Created = { 201: MediaItemSchema, 202: MediaJob };

const rejected = (e: MediaRejected) => failWithText(e.code, 'LOANET_MEDIA_NOT_AUDIO', e.message, undefined, e.params);

function langOf(raw: string | undefined, field = 'lang'): string {
  const tag = normaliseLanguageTag(raw ?? 'vi');
  if (!tag) throw fail('LOANET_NOT_A_LANGUAGE_TAG', { field, value: raw ?? '' });
  return tag;
}

function tagsOf(raw: string[]): string[] {
  const tags = [
    ...new Set(
      raw
        .flatMap((t) => t.split(','))
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ];
  if (tags.length > 20 || tags.some((t) => t.length > 40)) throw fail('LOANET_TOO_MANY_TAGS', { field: 'tags', max: 20, maxLength: 40 });
  return tags;
}

function titleOf(raw: string | undefined, fallbackName: string | undefined): string {
  const title = (raw ?? '').trim() || (fallbackName ? path.parse(fallbackName).name.trim() : '');
  if (!title) throw fail('LOANET_FIELD_REQUIRED', { field: 'title' });
  if (title.length > 200) throw fail('LOANET_TEXT_TOO_LONG', { field: 'title', max: 200 });
  return title;
}

export const mediaRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const lib = ctx.media.library;
    const tts = ctx.media.tts;

    await app.register(multipart, {
      // Uploads stream to disk; the limit cuts them off, nothing is held in memory.
      limits: { fileSize: lib.config.maxBytes, files: 1, fields: 20, fieldSize: 10_000, parts: 25 },
    });

    const needTools = () => {
      const t = lib.mediaTools();
      if (!('tools' in t)) throw Errors.unavailable('tool_missing', `cannot process audio: ${t.missing}`);
    };
    const needTts = () => {
      const a = tts.available();
      if (!a.ok) throw Errors.unavailable('tool_missing', a.reason);
    };

    /** Answer a creation: 201 ready, 4xx refused, 202 still processing. */
    const answer = async (reply: FastifyReply, job: JobView, waitMs: number) => {
      const x = await lib.settle(job.id, waitMs);
      if (!x) throw Errors.notFound('media', job.id);
      if (x.status === 'ready') return reply.status(201).header('location', `/api/media/${x.id}`).send(x);
      if (x.status === 'failed') return reply.status(x.statusCode ?? 422).send({ error: x.code, message: x.reason, id: x.id });
      return reply.status(202).header('location', `/api/media/${x.id}`).send(x);
    };

    /** Fields and the one file of a multipart request; the file streams to `into` (limit enforced while streaming). */
    const readMultipart = async (req: FastifyRequest, into: (part: MultipartFile) => Promise<void>) => {
      if (!req.isMultipart()) throw fail('LOANET_UNSUPPORTED_MEDIA_TYPE', { expected: ['multipart/form-data with the field "file" (curl -F file=@bulletin.mp3)'] });
      const fields: Record<string, string[]> = {};
      let file: { filename: string; mimetype: string } | undefined;
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file') {
            part.file.resume();
            throw fail('LOANET_UNEXPECTED_FIELD', { field: part.fieldname, expected: ['file'] });
          }
          file = { filename: part.filename, mimetype: part.mimetype };
          await into(part);
        } else {
          (fields[part.fieldname] ??= []).push(String(part.value));
        }
      }
      if (!file) throw fail('LOANET_FIELD_REQUIRED', { field: 'file' });
      return { fields, file };
    };

    const mayChange = (p: Principal, item: MediaItem) => {
      // An alert's audio is part of the alert's record (what the sites played, what the report names): retiring it
      // would take the file from sites still fetching it, and its purpose decides who may see it (hiddenAlertMedia).
      if (item.purpose === 'alert') throw fail('LOANET_MEDIA_OF_ALERT', { id: item.id });
      const u = p.user;
      if (u.role === 'admin' || u.areaId === null || item.createdById === u.id) return;
      throw Errors.forbidden({ rule: 'own_media', username: u.username });
    };

    const ttsFields = Type.Object(
      {
        // The length is checked by checkSpeechText, the same check as a .docx's text (413 naming the limit).
        text: Type.String({ minLength: 1, description: `at most ${MAX_TEXT_CHARS} characters` }),
        title: Type.String({ minLength: 1, maxLength: 200 }),
        lang: Type.Optional(Type.String({ maxLength: 35, description: 'BCP 47 tag; default vi' })),
        voice: Type.Optional(Type.String({ maxLength: 64, description: 'an engine voice, e.g. vi, vi-vn-x-central, vi-vn-x-south' })),
        rate: Type.Optional(Type.Integer({ minimum: RATE_RANGE.min, maximum: RATE_RANGE.max, description: 'words per minute (default 145)' })),
        tags: Type.Optional(Tags),
      },
      { additionalProperties: false },
    );

    /** Check the voice now (a wrong one is a 422 at once), then synthesise inside the job. */
    const submitSpeech = async (
      p: Principal,
      o: {
        text: string;
        field: string;
        title: string;
        lang: string;
        voice?: string | undefined;
        rate?: number | undefined;
        tags: string[];
        originalName?: string;
        source?: Record<string, unknown>;
      },
    ) => {
      needTts();
      needTools();
      const text = o.text.normalize('NFC').trim();
      if (!text) throw fail('LOANET_TTS_NO_TEXT', { source: 'text' });
      checkSpeechText(text, o.field);
      const voice = pickVoice(await tts.voices(), o.lang, o.voice);
      if (typeof voice === 'string') throw fail('LOANET_TTS_NO_VOICE', { text: voice });
      const input: SubmitInput = {
        meta: { title: o.title, lang: o.lang, tags: o.tags },
        origin: 'tts',
        originalName: o.originalName ?? null,
        source: o.source,
        transcript: text,
        tts: { engine: tts.name, voice: voice.id, rate: o.rate ?? null },
        actor: p.user,
        inputStage: 'synthesizing',
        input: async (signal) => (await tts.synthesize(text, { lang: o.lang, voice: voice.id, rate: o.rate }, lib.tmpDir, signal)).file,
      };
      return lib.submit(input);
    };

    app.get(
      '/api/media',
      {
        schema: {
          tags: ['media'],
          operationId: 'listMedia',
          summary: 'The media library: ready items (newest first) and the uploads still processing; bulletins unless purpose=alert',
          description:
            'Alert audio (made for an emergency alert: its text to speech, upload or CAP audio) is kept apart from the bulletins operators schedule: it is listed only with purpose=alert, and reached by id from its alert.',
          querystring: Type.Object({
            q: Type.Optional(Type.String({ maxLength: 100, description: 'text in the title or transcript' })),
            lang: Type.Optional(Type.String({ maxLength: 35 })),
            tag: Type.Optional(Type.String({ maxLength: 40 })),
            origin: Type.Optional(Type.Union([Type.Literal('upload'), Type.Literal('tts')])),
            purpose: Type.Optional(MediaPurpose),
            includeRetired: Type.Optional(Type.Boolean()),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
            offset: Type.Optional(Type.Integer({ minimum: 0 })),
          }),
          response: { 200: MediaList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const q = req.query;
        // The audio made for another commune's alert carries its words: a scoped user does not see it.
        const hide = await hiddenAlertMedia(ctx, p);
        const purpose = q.purpose ?? 'bulletin';
        const { total, items } = await lib.list({ ...q, purpose, lang: q.lang ? langOf(q.lang) : undefined, hide });
        return { total, items, processing: lib.processing(purpose).filter((j) => !hide.has(j.id)) };
      },
    );

    app.get(
      '/api/media/languages',
      {
        schema: {
          tags: ['media'],
          operationId: 'listMediaLanguages',
          summary: "Language tags (BCP 47) of the province's peoples; any well-formed tag is accepted",
          response: { 200: MediaLanguages },
        },
      },
      async (req) => {
        requirePermission(req, 'read');
        return { languages: [...KNOWN_LANGUAGES] };
      },
    );

    app.get(
      '/api/media/tts/voices',
      { schema: { tags: ['media'], operationId: 'listTtsVoices', summary: 'The text-to-speech engine and its voices (503 when none is installed)', response: { 200: TtsVoices } } },
      async (req) => {
        requirePermission(req, 'read');
        needTts();
        return { engine: tts.name, voices: await tts.voices() };
      },
    );

    app.get(
      '/api/media/:id',
      {
        schema: {
          tags: ['media'],
          operationId: 'getMedia',
          summary: 'One item (status ready), or its processing job (processing with percent, or failed with the reason)',
          params: MediaId,
          response: { 200: MediaEntry },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'read');
        const x = await lib.get(req.params.id);
        if (!x || (await hiddenAlertMedia(ctx, p)).has(x.id)) throw Errors.notFound('media', req.params.id);
        return x;
      },
    );

    app.get(
      '/api/media/:id/audio',
      {
        schema: {
          tags: ['media'],
          operationId: 'getMediaAudio',
          summary: 'The stored Ogg Opus file (audio/ogg); supports Range (206, 416) and If-Range for resumed downloads',
          description:
            "Users with a bearer token, and sites with their own credential (HTTP Basic siteId:secret): the agents download their playlists' media here, the only route a site may call.",
          params: MediaId,
          response: { 200: MediaAudio, 206: { ...MediaAudio, description: 'the range asked for (Content-Range)' } },
        },
        config: { siteAccess: true },
      },
      async (req, reply) => {
        // A site downloads any ready item: the library is province-wide, and the schedule decides what plays where.
        const p = req.site ? undefined : requirePermission(req, 'read');
        const x = await lib.get(req.params.id);
        if (!x || (p && (await hiddenAlertMedia(ctx, p)).has(x.id))) throw Errors.notFound('media', req.params.id);
        if (x.status !== 'ready') throw fail('LOANET_MEDIA_NOT_READY', { id: x.id, status: x.status });
        if (x.retiredAt !== null) throw fail('LOANET_GONE', { thing: 'media', id: x.id });
        const file = lib.fileOf(x.sha256);
        let size: number;
        try {
          size = fs.statSync(file).size;
        } catch {
          throw fail('LOANET_MEDIA_FILE_MISSING', { id: x.id });
        }
        const etag = `"${x.sha256}"`;
        reply.header('accept-ranges', 'bytes').header('etag', etag);
        const ifRange = req.headers['if-range'];
        const range = ifRange !== undefined && ifRange !== etag ? { kind: 'whole' as const } : parseRange(req.headers.range, size);
        if (range.kind === 'unsatisfiable') {
          // The error handler keeps the header: the client learns the file's size (RFC 9110 §15.5.17).
          reply.header('content-range', `bytes */${size}`);
          throw fail('LOANET_RANGE_NOT_SATISFIABLE', { size });
        }
        reply
          .header('cache-control', 'private, max-age=86400')
          .header('content-type', 'audio/ogg')
          .header('content-disposition', `inline; filename="${x.id}.opus"`)
          .header('x-content-sha256', x.sha256);
        if (range.kind === 'partial') {
          reply
            .status(206)
            .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
            .header('content-length', range.end - range.start + 1);
          return reply.send(fs.createReadStream(file, { start: range.start, end: range.end }));
        }
        reply.header('content-length', size);
        return reply.send(fs.createReadStream(file));
      },
    );

    app.post(
      '/api/media',
      {
        schema: {
          tags: ['media'],
          operationId: 'uploadMedia',
          summary:
            'Upload audio (MP3, WAV, Ogg, WebM/MKV, MP4/M4A/MOV/3GP, AAC, FLAC): multipart field "file", optional fields title, lang (BCP 47, default vi), tags (comma-separated)',
          description:
            'Stored as Ogg Opus mono 48 kHz, normalised to the loudness target. 201 with the item when ready within waitMs; 202 with its id while processing; 413 too large; 415 another format (a playlist, a concat list, an image…), naming it; 422 empty, not audio, damaged, silent or too long; 503 without ffmpeg.',
          querystring: Wait,
          consumes: ['multipart/form-data'],
          response: Created,
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'media.write');
        needTools();
        const tmp = lib.tempPath('.upload');
        let size = 0;
        try {
          const { fields, file } = await readMultipart(req, async (part) => {
            await pipeline(part.file, fs.createWriteStream(tmp, { flags: 'wx' }));
            if (part.file.truncated) throw Rejections.tooLarge(lib.config.maxBytes);
            size = fs.statSync(tmp).size;
          });
          const meta: MediaMeta = { title: titleOf(fields.title?.[0], file.filename), lang: langOf(fields.lang?.[0]), tags: tagsOf(fields.tags ?? []) };
          if (size === 0) throw Rejections.empty();
          const job = lib.submit({ meta, origin: 'upload', originalName: file.filename || null, source: { bytes: size, contentType: file.mimetype }, actor: p.user, input: tmp });
          return await answer(reply, job, req.query.waitMs ?? DEFAULT_WAIT_MS);
        } catch (e) {
          fs.rmSync(tmp, { force: true });
          if (e instanceof MediaRejected) throw rejected(e);
          if ((e as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw rejected(Rejections.tooLarge(lib.config.maxBytes));
          throw e;
        }
      },
    );

    app.post(
      '/api/media/tts',
      {
        schema: {
          tags: ['media'],
          operationId: 'createTtsMedia',
          summary: 'Speak a text (full Vietnamese diacritics) into a new item with the text-to-speech engine',
          description: '201 ready / 202 processing as for uploads; 422 when the engine has no voice for the language; 503 when no engine is installed.',
          querystring: Wait,
          body: ttsFields,
          response: Created,
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'media.write');
        const b = req.body;
        try {
          const job = await submitSpeech(p, { text: b.text, field: 'text', title: b.title.trim(), lang: langOf(b.lang), voice: b.voice, rate: b.rate, tags: tagsOf(b.tags ?? []) });
          return await answer(reply, job, req.query.waitMs ?? DEFAULT_WAIT_MS);
        } catch (e) {
          if (e instanceof MediaRejected) throw rejected(e);
          throw e;
        }
      },
    );

    app.post(
      '/api/media/tts/docx',
      {
        schema: {
          tags: ['media'],
          operationId: 'createTtsMediaFromDocx',
          summary: 'Speak a Word document (.docx, multipart field "file"; fields title, lang, voice, rate, tags)',
          querystring: Wait,
          consumes: ['multipart/form-data'],
          response: Created,
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'media.write');
        needTts();
        try {
          let buf: Buffer | undefined;
          const { fields, file } = await readMultipart(req, async (part) => {
            const chunks: Buffer[] = [];
            let n = 0;
            for await (const c of part.file) {
              n += (c as Buffer).length;
              if (n > MAX_DOCX_BYTES)
                throw fail('LOANET_DOCX_TOO_LARGE', { text: `the document is larger than ${MAX_DOCX_BYTES / 1024 / 1024} MB`, limitMb: MAX_DOCX_BYTES / 1024 / 1024 });
              chunks.push(c as Buffer);
            }
            buf = Buffer.concat(chunks);
          });
          // Unzipped and read in a worker thread, within limits on what it produces (docx.ts).
          const text = await docxTextOffThread(buf ?? new Uint8Array());
          if (!text) throw fail('LOANET_TTS_NO_TEXT', { source: 'document' });
          const rate = fields.rate?.[0] !== undefined ? Number(fields.rate[0]) : undefined;
          if (rate !== undefined && !(Number.isInteger(rate) && rate >= RATE_RANGE.min && rate <= RATE_RANGE.max)) {
            throw fail('LOANET_OUT_OF_RANGE', { field: 'rate', min: RATE_RANGE.min, max: RATE_RANGE.max, unit: 'words_per_minute' });
          }
          const job = await submitSpeech(p, {
            text,
            field: 'file',
            title: titleOf(fields.title?.[0], file.filename),
            lang: langOf(fields.lang?.[0]),
            voice: fields.voice?.[0] || undefined,
            rate,
            tags: tagsOf(fields.tags ?? []),
            originalName: file.filename,
            source: { document: file.filename, bytes: buf?.length ?? 0 },
          });
          return await answer(reply, job, req.query.waitMs ?? DEFAULT_WAIT_MS);
        } catch (e) {
          if (e instanceof MediaRejected) throw rejected(e);
          if ((e as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw rejected(Rejections.tooLarge(lib.config.maxBytes));
          throw e;
        }
      },
    );

    app.patch(
      '/api/media/:id',
      {
        schema: {
          tags: ['media'],
          operationId: 'updateMedia',
          summary: 'Change the title, language or tags of an item',
          params: MediaId,
          body: Type.Object(
            { title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), lang: Type.Optional(Type.String({ maxLength: 35 })), tags: Type.Optional(Tags) },
            { additionalProperties: false },
          ),
          response: { 200: MediaItemSchema },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'media.write');
        const item = await lib.item(req.params.id);
        if (!item) throw Errors.notFound('media', req.params.id);
        mayChange(p, item);
        if (item.retiredAt !== null) throw fail('LOANET_RETIRED', { thing: 'media', id: item.id });
        const b = req.body;
        return await lib.update(item.id, { title: b.title?.trim(), lang: b.lang !== undefined ? langOf(b.lang) : undefined, tags: b.tags ? tagsOf(b.tags) : undefined }, p.user);
      },
    );

    app.delete(
      '/api/media/:id',
      {
        schema: {
          tags: ['media'],
          operationId: 'retireMedia',
          summary: 'Retire an item: refused while it is scheduled; the record stays, the file goes',
          params: MediaId,
          response: { 200: MediaItemSchema },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'media.write');
        const item = await lib.item(req.params.id);
        if (!item) throw Errors.notFound('media', req.params.id);
        mayChange(p, item);
        if (item.retiredAt !== null) return item;
        const blocker = await lib.retireBlocker(item.id);
        if (blocker) throw fail('LOANET_MEDIA_IN_USE', { id: item.id, text: blocker });
        return await lib.retire(item.id, p.user);
      },
    );
  };
