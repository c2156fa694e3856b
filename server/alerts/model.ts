/**
 * Emergency alerts as the server keeps them: the alert (its current
 * revision), where it goes, what it plays, and one delivery row per targeted
 * site. Pure types; `store.ts` persists them, `service.ts` runs them, the pure
 * modules beside them decide (targets, delivery, retained slots, CAP Ack, report).
 */
import type { AlertDeliveryStatus, AlertFailureReason, AlertMedia, AlertPriority, AttentionSignal } from '../../protocol/index.ts';
import type { LatLon } from './cap/model.ts';

export type AlertState = 'active' | 'cancelled' | 'expired';

/** How the message was given: an existing library item, an uploaded file, text spoken by TTS, or a CAP message's audio or text. */
export type AlertMessageSource =
  | { kind: 'media'; mediaId: string }
  | { kind: 'upload'; mediaId: string; originalName: string | null }
  | { kind: 'tts'; mediaId: string; text: string; lang: string }
  | { kind: 'cap_audio'; mediaId: string; mimeType: string };

/**
 * Where the message audio stands. An alert is dispatched (the sites sound
 * their attention signal) before its audio exists: `preparing` while the
 * library makes it, `ready` once `media` is set and published, `failed` when
 * it could not be made (the alert stands with the attention signal alone;
 * `messageReason` says why).
 */
export type MessageState = 'preparing' | 'ready' | 'failed';

/**
 * The alert's message in another language (Decree 49/2024/NĐ-CP): a library
 * item given by the official, or a CAP `<info>` in that language (its audio,
 * or its text spoken). Like the message it may still be being made
 * (`preparing`) or have failed (`reason`); a CAP info that cannot be voiced
 * at all is kept as `failed` too, so the alert says which language is
 * missing. Only `ready` ones go to the sites.
 */
export interface AlertVersionRecord {
  /** BCP 47, the library's canonical case. */
  language: string;
  source: 'media' | 'upload' | 'tts' | 'cap_audio';
  /** The library item made or given for it; null when nothing could be started. */
  mediaId: string | null;
  media: AlertMedia | null;
  state: MessageState;
  reason: string | null;
}

export interface CapOrigin {
  sender: string;
  identifier: string;
  sent: string;
}

export interface Alert {
  id: string;
  revision: number;
  state: AlertState;
  /** CAP Test/Exercise or an API test: played at test priority, never Actual. */
  test: boolean;
  /** How it ranks against what else plays (a test plays at priority whatever this says). */
  priority: AlertPriority;
  origin: 'api' | 'cap';
  title: string;
  /** The target areas as given (area keys); the sites of a drawn area or CAP geometry are in `sites`. */
  targetAreas: string[];
  /** Area keys the control message is published on (a minimal cover: no key lies below another). */
  areas: string[];
  /** The sites of a drawn area (or CAP polygon/circle); null: every site of `areas`. */
  sites: string[] | null;
  polygon: LatLon[] | null;
  /** The message audio; null while `messageState` is preparing or failed. */
  media: AlertMedia | null;
  message: AlertMessageSource;
  messageState: MessageState;
  messageReason: string | null;
  /** The message in other languages, in the order given; absent or empty: Vietnamese alone. */
  versions?: AlertVersionRecord[];
  attention: AttentionSignal | null;
  repeats: number;
  volume: number | null;
  validUntil: number;
  createdBy: number | null;
  createdByName: string | null;
  createdAt: number;
  /** When the current revision was issued: time to first sound counts from here. */
  revisedAt: number;
  endedAt: number | null;
  endedByName: string | null;
  cap: CapOrigin | null;
}

/** `pending`: sent, nothing heard back yet. The rest as the site reports (protocol/alert.ts). */
export type DeliveryStatus = 'pending' | AlertDeliveryStatus;

export interface Delivery {
  alertId: string;
  siteId: string;
  revision: number;
  status: DeliveryStatus;
  /** Site times: the server clock as the agent estimates it. */
  receivedAt: number | null;
  firstSoundAt: number | null;
  completedAt: number | null;
  failedAt: number | null;
  reason: AlertFailureReason | null;
  detail: string | null;
  /** The highest repeat reported playing (0 = attention signal). */
  repeat: number | null;
  /**
   * When the message itself first came out at the site; null: it has not
   * (with `firstSoundAt`, the site sounded the attention signal only).
   */
  messageAt: number | null;
  /** Repeats of the message the site says it played to their end; null: not reported. */
  messageRepeats: number | null;
  /** The loudest level the monitoring microphone reported (dBFS); null: no microphone, or not measured yet. */
  levelDb: number | null;
  /** The site's sound-check threshold sent with the level: below it, the alert played but was not heard. */
  levelThresholdDb: number | null;
  /** The language versions the site said came out there, in the order first heard; null: it said nothing of versions (none due, or an older agent). */
  languagesPlayed: string[] | null;
  /** Versions of the site's languages whose turn came there without their file, and that have not played; null: none reported. */
  languagesMissed: string[] | null;
  /** Server clock, when the last status arrived. */
  reportedAt: number | null;
}

export function pendingDelivery(alertId: string, siteId: string, revision: number): Delivery {
  return {
    alertId,
    siteId,
    revision,
    status: 'pending',
    receivedAt: null,
    firstSoundAt: null,
    completedAt: null,
    failedAt: null,
    reason: null,
    detail: null,
    repeat: null,
    messageAt: null,
    messageRepeats: null,
    levelDb: null,
    levelThresholdDb: null,
    languagesPlayed: null,
    languagesMissed: null,
    reportedAt: null,
  };
}
