/**
 * Which installed voice speaks a language tag, pure. Alerts arrive tagged by
 * their authority (BCP 47 / RFC 3066: `zh-TW`, `es-MX`, `en-AU`, `pt-BR`),
 * and espeak-ng names its voices its own way (`cmn`, `yue`, `es-419`,
 * `en-gb`, `pt-br`; no bare `en`, `fr` or `zh`). Matching only the primary
 * subtag refused zh-TW although `cmn` speaks it.
 *
 * The order of the candidates for a tag:
 * 1. a voice named exactly as the tag (case-insensitive);
 * 2. the table below, for the macrolanguage, script and region choices
 *    that a primary-subtag match gets wrong (Chinese: Mandarin `cmn` for
 *    zh, zh-CN, zh-TW, zh-SG, zh-Hans, zh-Hant; Cantonese `yue` for zh-HK,
 *    zh-MO and yue; Latin-American Spanish `es-419` for es-MX, es-SV…;
 *    deprecated codes iw, in, no → he, id, nb);
 * 3. a voice of the same primary language and region (`fr-CH` → `fr-ch`),
 *    then the primary language's preferred voice (PREFERRED), then any
 *    voice of that primary language.
 * No candidate: undefined. A caller that must speak anyway (an alert) picks
 * the best available language itself (server/alerts/cap/speech.ts).
 */
import type { TtsVoice } from './engine.ts';

/** Regions of Latin America and the Caribbean (UN M.49 419 and its countries). */
const LATAM = new Set(['419', 'AR', 'BO', 'CL', 'CO', 'CR', 'CU', 'DO', 'EC', 'GT', 'HN', 'MX', 'NI', 'PA', 'PE', 'PR', 'PY', 'SV', 'US', 'UY', 'VE']);
/** English regions that speak nearer British than American English; the Caribbean has its own voice. */
const EN_GB = new Set(['GB', 'UK', 'AU', 'NZ', 'IE', 'ZA', 'IN', 'SG', 'HK', 'MY', 'PK', 'NG', 'KE']);
const EN_CARIBBEAN = new Set(['029', 'JM', 'TT', 'BB', 'BS', 'BZ', 'GY', 'AG', 'DM', 'GD', 'KN', 'LC', 'VC']);

/** A primary language's voice when the tag names no region espeak-ng has. */
export const PREFERRED: Readonly<Record<string, string>> = {
  en: 'en-us', // CAP's default language is en-US (§3.2.2)
  fr: 'fr-fr',
  es: 'es',
  pt: 'pt',
  vi: 'vi',
  zh: 'cmn',
  cmn: 'cmn',
  yue: 'yue',
  no: 'nb',
  nb: 'nb',
  nn: 'nb',
  iw: 'he',
  in: 'id',
};

interface Tag {
  language: string;
  script?: string;
  region?: string;
}

/** language, script and region of a tag; extensions and private use ignored. */
export function splitTag(tag: string): Tag {
  const parts = tag.trim().replace(/_/g, '-').split('-');
  const out: Tag = { language: (parts[0] ?? '').toLowerCase() };
  for (const p of parts.slice(1)) {
    if (p.length === 1) break;
    if (/^[A-Za-z]{4}$/.test(p) && !out.script && !out.region) out.script = p[0]!.toUpperCase() + p.slice(1).toLowerCase();
    else if (/^(?:[A-Za-z]{2}|\d{3})$/.test(p) && !out.region) out.region = p.toUpperCase();
  }
  return out;
}

/** Voice ids to try for a tag, best first (without checking which are installed). */
export function voiceCandidates(tag: string): string[] {
  const t = splitTag(tag);
  const out: string[] = [tag.trim().toLowerCase()];
  const add = (...ids: string[]) => out.push(...ids);
  switch (t.language) {
    case 'zh':
    case 'cmn':
      if (t.region === 'HK' || t.region === 'MO') add('yue', 'cmn');
      else if (t.script === 'Latn') add('cmn-latn-pinyin', 'cmn');
      else add('cmn', 'yue');
      break;
    case 'yue':
      add('yue', 'cmn');
      break;
    case 'es':
      if (t.region && LATAM.has(t.region)) add('es-419', 'es');
      else add('es', 'es-419');
      break;
    case 'en':
      if (t.region && EN_CARIBBEAN.has(t.region)) add('en-029', 'en-gb', 'en-us');
      else if (t.region && EN_GB.has(t.region)) add('en-gb', 'en-us');
      else add('en-us', 'en-gb');
      break;
    case 'pt':
      add(t.region === 'BR' ? 'pt-br' : 'pt', t.region === 'BR' ? 'pt' : 'pt-br');
      break;
    case 'fr':
      add(...(t.region ? [`fr-${t.region.toLowerCase()}`] : []), 'fr-fr');
      break;
    default:
      if (t.region) add(`${PREFERRED[t.language] ?? t.language}-${t.region.toLowerCase()}`);
      add(PREFERRED[t.language] ?? t.language);
  }
  return [...new Set(out)];
}

/** The installed voice for a tag, or undefined when none speaks it. */
export function voiceForLanguage(voices: readonly TtsVoice[], tag: string): TtsVoice | undefined {
  const byId = new Map(voices.map((v) => [v.id.toLowerCase(), v] as const));
  for (const id of voiceCandidates(tag)) {
    const v = byId.get(id);
    if (v) return v;
  }
  // Any voice of the (mapped) primary language: `de` → `de`, `ru` → `ru`, `vi-VN` → `vi`.
  const primary = PREFERRED[splitTag(tag).language]?.split('-')[0] ?? splitTag(tag).language;
  return voices.find((v) => v.id.toLowerCase() === primary || v.id.toLowerCase().startsWith(`${primary}-`));
}

/** Whether a voice speaks the language of a tag, by the same mapping (a named voice must). */
export function voiceSpeaks(voice: TtsVoice, tag: string): boolean {
  const id = voice.id.toLowerCase();
  const primaries = new Set(voiceCandidates(tag).map((c) => c.split('-')[0]!));
  return primaries.has(id.split('-')[0]!);
}

/**
 * The voices of espeak-ng 1.51/1.52 (Debian bookworm), by id: what an alert's
 * language is judged against before its text is spoken (cap/speech.ts), so
 * that choice stays pure. tests/unit/cap-voices.test.ts checks this list
 * against `espeak-ng --voices` on the machine the tests run on.
 */
export const ESPEAK_NG_VOICE_IDS: readonly string[] = [
  'af',
  'am',
  'an',
  'ar',
  'as',
  'az',
  'ba',
  'be',
  'bg',
  'bn',
  'bpy',
  'bs',
  'ca',
  'chr-US-Qaaa-x-west',
  'cmn',
  'cmn-latn-pinyin',
  'cs',
  'cv',
  'cy',
  'da',
  'de',
  'el',
  'en-029',
  'en-gb',
  'en-gb-scotland',
  'en-gb-x-gbclan',
  'en-gb-x-gbcwmd',
  'en-gb-x-rp',
  'en-us',
  'en-us-nyc',
  'eo',
  'es',
  'es-419',
  'et',
  'eu',
  'fa',
  'fa-latn',
  'fi',
  'fr-be',
  'fr-ch',
  'fr-fr',
  'ga',
  'gd',
  'gn',
  'grc',
  'gu',
  'hak',
  'haw',
  'he',
  'hi',
  'hr',
  'ht',
  'hu',
  'hy',
  'hyw',
  'ia',
  'id',
  'io',
  'is',
  'it',
  'ja',
  'jbo',
  'ka',
  'kk',
  'kl',
  'kn',
  'ko',
  'kok',
  'ku',
  'ky',
  'la',
  'lb',
  'lfn',
  'lt',
  'ltg',
  'lv',
  'mi',
  'mk',
  'ml',
  'mr',
  'ms',
  'mt',
  'my',
  'nb',
  'nci',
  'ne',
  'nl',
  'nog',
  'om',
  'or',
  'pa',
  'pap',
  'piqd',
  'pl',
  'pt',
  'pt-br',
  'py',
  'qdb',
  'qu',
  'quc',
  'qya',
  'ro',
  'ru',
  'ru-lv',
  'sd',
  'shn',
  'si',
  'sjn',
  'sk',
  'sl',
  'smj',
  'sq',
  'sr',
  'sv',
  'sw',
  'ta',
  'te',
  'th',
  'tk',
  'tn',
  'tr',
  'tt',
  'ug',
  'uk',
  'ur',
  'uz',
  'vi',
  'vi-vn-x-central',
  'vi-vn-x-south',
  'yue',
];

/** The table as voices, for voiceForLanguage. */
export const ESPEAK_NG_VOICES: readonly TtsVoice[] = ESPEAK_NG_VOICE_IDS.map((id) => ({ id, lang: id, name: id }));
