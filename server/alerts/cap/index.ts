/**
 * The pure CAP 1.2 core. Its shell (`server/alerts/cap-ingest.ts`, behind the
 * alert routes and store) runs: parseCap (in a worker when the document is
 * large) → matchAlertAreas (with the AreaIndex and site coordinates; refused
 * when `matchesNothing`) → classifyIncoming (with its store's lookup) →
 * chooseSpeech (audio bytes, or text for the TTS engine).
 */
export * from './model.ts';
export { parseCap, splitQuotedList, CAP11_NAMESPACE, CAP10_NAMESPACE, type CapParseOptions, type CapParseResult } from './parse.ts';
export { detectSignature, type SignatureReport } from './signature.ts';
export { decodeDerefUri, isAudioMime, type DecodedResource } from './resource.ts';
export {
  capContentHash,
  classifyIncoming,
  statusHandling,
  type BroadcastDecision,
  type Handling,
  type KnownAlert,
  type LifecycleKind,
  type LifecycleOutcome,
} from './lifecycle.ts';
export {
  VN_ADMIN_GEOCODE_NAMES,
  haversineKm,
  isVnAdminValueName,
  matchAlertAreas,
  pointInPolygon,
  type AreaMatch,
  type AreaMatchContext,
  type SiteLocation,
  type Unmatched,
} from './area-match.ts';
export { chooseSpeech, isVietnamese, pickInfo, type SpeechChoice } from './speech.ts';
