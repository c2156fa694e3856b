/**
 * The media library over HTTP (server/media/routes.ts): a ready item,
 * the job that is making one (processing, or failed with why), the list,
 * the languages offered and the text-to-speech voices. Creating answers 201
 * with the item or 202 with its job; a refused file is an error answer
 * (api/errors.ts) that also carries the job's `id`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { EpochMs, Nullable, OpenMap } from './common.ts';

export const MediaOrigin = Type.Union([Type.Literal('upload'), Type.Literal('tts')]);
/** server/media/library.ts MediaPurpose: `alert` audio is reached through its alert, never listed with the bulletins. */
export const MediaPurpose = Type.Union([Type.Literal('bulletin'), Type.Literal('alert')], {
  description: 'bulletin: the library operators schedule from; alert: the audio of an emergency alert',
});
export type MediaPurpose = Static<typeof MediaPurpose>;
export const JobStage = Type.Union(
  ['queued', 'receiving', 'synthesizing', 'probing', 'measuring', 'encoding', 'verifying'].map((s) => Type.Literal(s)),
  { description: 'where processing stands' },
);

export const Loudness = Type.Object({
  targetLufs: Type.Number(),
  inputLufs: Type.Number({ description: 'EBU R128 integrated loudness of what was given' }),
  inputTruePeak: Type.Number(),
  inputRange: Type.Number(),
  inputThreshold: Type.Number(),
  gainDb: Type.Number({ description: 'the one gain applied' }),
  outputLufs: Type.Number({ description: 'measured on the stored file' }),
  outputTruePeak: Type.Number(),
});

export const MediaItem = Type.Object({
  id: Type.String(),
  status: Type.Literal('ready'),
  title: Type.String(),
  lang: Type.String({ description: 'BCP 47' }),
  tags: Type.Array(Type.String()),
  origin: MediaOrigin,
  purpose: MediaPurpose,
  originalName: Nullable(Type.String()),
  source: OpenMap,
  transcript: Nullable(Type.String({ description: 'the text spoken, for an item made by text to speech' })),
  tts: Nullable(OpenMap),
  sha256: Type.String(),
  bytes: Type.Integer(),
  durationMs: Type.Integer(),
  codec: Type.String(),
  sampleRate: Type.Integer(),
  channels: Type.Integer(),
  bitrateKbps: Type.Integer(),
  loudness: Loudness,
  createdBy: Nullable(Type.String()),
  createdById: Nullable(Type.Integer()),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  retiredAt: Nullable(EpochMs),
});
export type MediaItem = Static<typeof MediaItem>;

/** An item being made, or one whose making failed (kept a day, so its id still says why). */
export const MediaJob = Type.Object({
  id: Type.String({ description: "the item's id once ready" }),
  status: Type.Union([Type.Literal('processing'), Type.Literal('failed')]),
  stage: JobStage,
  percent: Type.Integer({ minimum: 0, maximum: 100 }),
  title: Type.String(),
  lang: Type.String(),
  origin: MediaOrigin,
  purpose: MediaPurpose,
  createdAt: EpochMs,
  finishedAt: Nullable(EpochMs),
  code: Nullable(Type.String({ description: 'why it failed: a stable error code' })),
  params: Nullable(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()]), { description: "the code's parameters, that the console words the failure from" })),
  reason: Nullable(Type.String({ description: 'English, technical detail' })),
  statusCode: Nullable(Type.Integer()),
});
export type MediaJob = Static<typeof MediaJob>;

/** GET /api/media/{id}: the item, or its job. */
export const MediaEntry = Type.Union([MediaItem, MediaJob]);
export type MediaEntry = Static<typeof MediaEntry>;

export const MediaList = Type.Object({
  total: Type.Integer({ description: 'items matching, over every page' }),
  items: Type.Array(MediaItem),
  processing: Type.Array(MediaJob, { description: 'jobs of the same purpose still processing, or failed within the last day' }),
});
export type MediaList = Static<typeof MediaList>;

export const MediaLanguages = Type.Object({
  languages: Type.Array(
    Type.Object({
      tag: Type.String(),
      name: Type.String({ description: 'in Vietnamese' }),
      nameEn: Type.String({ description: 'in English' }),
      note: Type.Optional(Type.String()),
    }),
  ),
});
export type MediaLanguages = Static<typeof MediaLanguages>;

export const TtsVoices = Type.Object({
  engine: Type.String(),
  voices: Type.Array(Type.Object({ id: Type.String({ description: 'what `voice` takes' }), lang: Type.String({ description: 'BCP 47' }), name: Type.String() })),
});
export type TtsVoices = Static<typeof TtsVoices>;

/** The stored Ogg Opus file, whole (200) or a range of it (206). */
export const MediaAudio = {
  description: 'Ogg Opus, mono 48 kHz',
  // Streamed from the file, never serialised: the type says what the route sends.
  content: { 'audio/ogg': { schema: Type.Unsafe<unknown>({ type: 'string', format: 'binary' }) } },
};
