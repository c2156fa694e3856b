/**
 * The media library's nouns: an item as the API shows it, its describable
 * parts, what it was made for, and who acted on it. Shared by the library
 * (rows) and its ingest jobs (what a job is asked to make).
 */

export interface Actor {
  id: number;
  username: string;
}

export interface MediaMeta {
  title: string;
  lang: string;
  tags: string[];
}

/**
 * What an item was made for, fixed when it is made: `bulletin`, the library
 * operators schedule from, or `alert`, the audio of an emergency alert (its
 * text to speech, an upload or a CAP message's own audio), which the alert
 * reaches by id but which is never offered for a bulletin nor listed with
 * the bulletins (its words are another commune's emergency, often in another
 * language). Not a tag: tags are the operators' to edit.
 */
export type MediaPurpose = 'bulletin' | 'alert';

export interface MediaItem extends MediaMeta {
  id: string;
  status: 'ready';
  origin: 'upload' | 'tts';
  purpose: MediaPurpose;
  originalName: string | null;
  source: Record<string, unknown>;
  transcript: string | null;
  tts: Record<string, unknown> | null;
  sha256: string;
  bytes: number;
  durationMs: number;
  codec: string;
  sampleRate: number;
  channels: number;
  bitrateKbps: number;
  loudness: {
    targetLufs: number;
    inputLufs: number;
    inputTruePeak: number;
    inputRange: number;
    inputThreshold: number;
    gainDb: number;
    outputLufs: number;
    outputTruePeak: number;
  };
  createdBy: string | null;
  createdById: number | null;
  createdAt: number;
  updatedAt: number;
  retiredAt: number | null;
}
