/**
 * Size limits of a CAP document, pure. A CAP message is text that comes from
 * outside (an upstream feed, an operator's tool), so what it may make loanet
 * hold and parse is bounded before any parsing:
 *
 * - the document: 10 MiB, also the body limit of POST /api/alerts/cap. The
 *   largest real message among the samples (IPAWS, with its MP3
 *   announcement) is 0.45 MB; 10 MiB leaves room for several minutes of
 *   embedded audio.
 * - an embedded resource (`derefUri`): 5 MiB once decoded (about 11 minutes of
 *   64 kbit/s MP3; IPAWS announcements last at most 2 minutes). A larger one
 *   is not used, as a resource whose digest does not match is not: the alert
 *   still goes out, its text spoken, with a warning naming the limit. It is
 *   judged by the length of its base64 text, before decoding anything.
 * - parsing: fast-xml-parser takes ~0.2 s per MB of document on this hardware,
 *   so a document larger than 64 KiB is parsed in a worker thread
 *   (parse-offthread.ts); a typical alert (1–5 KB) is parsed inline, without
 *   a worker's start-up time on the alert path.
 *
 * Geometry (points, polygons, circles) is capped by GEOMETRY_LIMITS in
 * area-match.ts, which the drawn polygon of POST /api/alerts shares.
 */
export const CAP_LIMITS = {
  documentBytes: 10 * 1024 * 1024,
  resourceBytes: 5 * 1024 * 1024,
  inlineParseBytes: 64 * 1024,
} as const;
