/**
 * Every error code of the catalogue (api/error-catalogue.ts) worded from its
 * parameters, Vietnamese first (errors-vi.ts, full diacritics) and English
 * (errors-en.ts). The server sends a code and parameters; these words are
 * what the user reads, so Vietnamese mode shows no English from the server.
 * A code added to the catalogue fails the typecheck until both languages
 * word it.
 */
import type { ErrorCode, ErrorParams } from '../../../api/index.ts';
import { en } from './errors-en.ts';
import { vi } from './errors-vi.ts';

export type ErrorWords = { readonly [C in ErrorCode]: (p: ErrorParams[C]) => string };

/** Which language a wording is in (the same as i18n.ts's Lang; this module stays free of the page). */
export type ErrorLang = 'vi' | 'en';

export { en, vi };

const WORDS: Record<ErrorLang, ErrorWords> = { vi, en };

/**
 * An error code and its parameters in language `l`. The parameters are the
 * answer's `params`, over its top-level fields and its message as `text`
 * (answers that predate `params`, or the server's own request-validation
 * answers, carry them there); `fallback` when the code is not the
 * catalogue's or its wording cannot be made from what came.
 */
export function wordError(code: string, details: Record<string, unknown>, fallback: string, l: ErrorLang): string {
  const words = WORDS[l] as unknown as Record<string, ((p: never) => string) | undefined>;
  const f = Object.hasOwn(words, code) ? words[code] : undefined;
  if (!f) return fallback;
  const own = details.params;
  const params = { text: fallback, ...details, ...(typeof own === 'object' && own !== null ? own : {}) };
  try {
    const s = f(params as never);
    return s !== '' && !s.includes('undefined') ? s : fallback;
  } catch {
    return fallback;
  }
}
