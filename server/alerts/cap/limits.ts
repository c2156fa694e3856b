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
 * - parsing: fast-xml-parser takes ~0.2 s per MB of text and 10–25 µs per
 *   element on this hardware, so a document larger than 64 KiB or with more
 *   than 600 tags is parsed in a worker thread (parse-offthread.ts); a typical
 *   alert (1–15 KB, tens to a few hundred elements) is parsed inline, without
 *   a worker's start-up time (~0.2 s) on the alert path.
 *
 * - tags: at most 20,000 in a document, counted before parsing (a 10 MiB
 *   document of empty elements would otherwise keep a worker busy for tens of
 *   seconds).
 *
 * Geometry (points, polygons, circles) is capped by GEOMETRY_LIMITS in
 * area-match.ts, which the drawn polygon of POST /api/alerts shares.
 */
export const CAP_LIMITS = {
  documentBytes: 10 * 1024 * 1024,
  resourceBytes: 5 * 1024 * 1024,
  inlineParseBytes: 64 * 1024,
  inlineParseTags: 600,
  /** Tags ("<" counted before parsing): real alerts have tens to a few thousand (IPAWS lists of SAME codes). */
  documentTags: 20_000,
} as const;

/** Number of "<" in `xml`, counting stops past `max`. */
export function countTags(xml: string, max: number): number {
  let tags = 0;
  for (let i = xml.indexOf('<'); i >= 0 && tags <= max; i = xml.indexOf('<', i + 1)) tags++;
  return tags;
}

/** Whether a document is small enough to parse on the event loop: few bytes and few tags (counted without parsing). */
export function parsesInline(xml: string): boolean {
  return xml.length <= CAP_LIMITS.inlineParseBytes && countTags(xml, CAP_LIMITS.inlineParseTags) <= CAP_LIMITS.inlineParseTags;
}
