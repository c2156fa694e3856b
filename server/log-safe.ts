/**
 * Strings that came from the network (MQTT client ids, usernames, topics,
 * decode errors quoting a payload, hook bodies) go into the log through
 * `logSafe`: cut to a length that keeps a log line readable, with the
 * original length said, and every control or invisible formatting character
 * escaped so a value cannot forge a line, hide text or reorder it on a
 * terminal. Pure: no I/O.
 *
 * pino already writes JSON, so a raw newline could not break its line; what
 * it does not do is bound the size: one refused CONNECT with a 60 KB username
 * became a 60 KB log line, and a flood of them fills the disk.
 */

/** Default cap on what one untrusted value may take in a log line (characters before the suffix). */
export const LOG_SAFE_MAX = 200;

/** C0, DEL, C1, and the Unicode line/paragraph separators and bidirectional or invisible formatting characters. */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  switch (c) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  }
}

/**
 * `value` as a string fit for a log line: control and formatting characters
 * escaped (`\n`, `\x1b`, `\u202e`, lone surrogates as `\ud800`), then cut to
 * `max` characters with `…(N chars)` naming the original length. The result
 * is at most `max + 24` characters and contains no control character. Never
 * throws; non-strings are converted with String() first.
 */
export function logSafe(value: unknown, max = LOG_SAFE_MAX): string {
  let s: string;
  try {
    s = typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  } catch {
    s = '[unprintable]';
  }
  const limit = Math.max(0, Math.floor(max));
  // Escape only the part that can be shown: a 60 KB value costs no more than its first `limit` characters.
  let head = s.length > limit ? s.slice(0, limit) : s;
  if (head.length < s.length && /[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  let escaped = head.replace(UNSAFE, escapeChar);
  if (escaped.length <= limit && head.length === s.length) return escaped;
  if (escaped.length > limit) {
    escaped = escaped.slice(0, limit);
    // Never cut an escape or a surrogate pair in half: drop the partial tail.
    const lastBackslash = escaped.lastIndexOf('\\');
    if (lastBackslash >= 0 && lastBackslash >= limit - 6 && !/^\\(?:[nrt]|x[0-9a-f]{2}|u[0-9a-f]{4})/.test(escaped.slice(lastBackslash))) {
      escaped = escaped.slice(0, lastBackslash);
    }
    if (/[\ud800-\udbff]$/.test(escaped)) escaped = escaped.slice(0, -1);
  }
  return `${escaped}…(${s.length} chars)`;
}
