/**
 * Did a village hear a bulletin in its own language? (pure; Decree
 * 49/2024/NĐ-CP). From what the server planned for the site (the sent
 * entry's languages: server/schedule/language-plan.ts) and what the site's
 * receipt says of each part.
 *
 * - Each planned version gets the outcome its receipt part says (an entry of
 *   one version: the receipt's own outcome); null before a receipt.
 * - The village's own language is the first of its languages: heard when
 *   that version played to its end (played or late). Not heard, and why:
 *   no version was recorded in it (the default played instead), its agent
 *   could not play several versions (the default played instead), the version
 *   did not play (skipped, partial, unknown: its reason), the server skipped
 *   the whole programme there, or no receipt came.
 * - Unknown (null) while the programme is not due yet.
 */
import type { AsRunOutcome, AsRunPart } from '../../protocol/index.ts';
import type { LanguageFallback } from '../schedule/language-plan.ts';
import type { PlannedLanguages } from '../schedule/playlist.ts';

export const NOT_HEARD_REASONS = ['no_version', 'agent_without_parts', 'not_played', 'skipped', 'no_receipt'] as const;
export type NotHeardReason = (typeof NOT_HEARD_REASONS)[number];

export interface VersionOutcome {
  language: string;
  mediaId: string | null;
  /** What the site says became of it; null: no receipt (yet). */
  outcome: AsRunOutcome | null;
  reason: string | null;
  startedAt: number | null;
  endedAt: number | null;
  /** 20 ms frames of it the site played (its receipt part's; a one-version entry's receipt's); null: not said. The reports' hours by language count them. */
  frames: number | null;
}

export interface LineLanguages {
  /** The site's languages, in order; the first is its own. */
  site: string[];
  /** The versions planned for the site, in the order they play, with what became of each. */
  versions: VersionOutcome[];
  /** The languages whose version played to its end. */
  played: string[];
  /** The site's languages the bulletin has no version in: the default version (Vietnamese) was planned instead. */
  missing: string[];
  fallback: LanguageFallback | null;
  /** Heard in its own language (the first of its languages); null: not known yet. */
  heardOwnLanguage: boolean | null;
  /** Why not, when not. */
  notHeard: { reason: NotHeardReason; language: string; detail: string | null } | null;
}

/** What the accounting knows of one (entry, site). */
export interface LanguageLineInput {
  plan: 'play' | 'skipped';
  languages: PlannedLanguages | null | undefined;
  /** The media of a one-version entry (the sent entry's). */
  mediaId: string | null;
  receipt:
    | { outcome: AsRunOutcome; reason: string | null; startedAt: number | null; endedAt: number | null; frames?: number | null; parts?: readonly AsRunPart[] | null }
    | undefined;
  /** Past its end and grace with no receipt. */
  overdue: boolean;
}

const ran = (o: AsRunOutcome | null) => o === 'played' || o === 'late';

/** The languages of one as-run line, or null for an entry of an item without versions. */
export function lineLanguages(input: LanguageLineInput): LineLanguages | null {
  const plan = input.languages;
  if (!plan) return null;
  const r = input.receipt;
  const versions: VersionOutcome[] = plan.played.map((language, i) => {
    const part = r?.parts?.find((p) => p.language === language);
    if (part) {
      return {
        language,
        mediaId: part.mediaId,
        outcome: part.outcome,
        reason: part.reason ?? null,
        startedAt: part.startedAt ?? null,
        endedAt: part.endedAt ?? null,
        frames: part.frames ?? null,
      };
    }
    // One version: the receipt is its own. Several without parts in the receipt: the entry's outcome is the programme's.
    const own = r && (plan.played.length === 1 || !r.parts);
    return {
      language,
      mediaId: plan.played.length === 1 ? input.mediaId : null,
      outcome: own ? r.outcome : null,
      reason: own ? r.reason : null,
      startedAt: own && i === 0 ? r.startedAt : null,
      endedAt: own && i === plan.played.length - 1 ? r.endedAt : null,
      frames: own && plan.played.length === 1 ? (r.frames ?? null) : null,
    };
  });
  const played = versions.filter((v) => ran(v.outcome)).map((v) => v.language);
  const own = plan.site[0] ?? plan.played[0] ?? 'vi';
  const base = { site: plan.site, versions, played, missing: plan.missing, fallback: plan.fallback };
  const no = (reason: NotHeardReason, detail: string | null = null): LineLanguages => ({ ...base, heardOwnLanguage: false, notHeard: { reason, language: own, detail } });
  if (plan.missing.includes(own)) return no('no_version');
  if (plan.fallback === 'agent_without_parts' && !plan.played.includes(own)) return no('agent_without_parts');
  if (input.plan === 'skipped') return no('skipped');
  const mine = versions.find((v) => v.language === own);
  if (!mine) return no('no_version');
  if (!r) return input.overdue ? no('no_receipt') : { ...base, heardOwnLanguage: null, notHeard: null };
  if (ran(mine.outcome)) return { ...base, heardOwnLanguage: true, notHeard: null };
  return no('not_played', mine.reason ?? mine.outcome);
}

const NAMES: Readonly<Record<string, { vi: string; en: string }>> = {
  vi: { vi: 'tiếng Việt', en: 'Vietnamese' },
  hmn: { vi: "tiếng H'Mông", en: 'Hmong' },
  ium: { vi: 'tiếng Dao', en: 'Iu Mien (Dao)' },
  mji: { vi: 'tiếng Dao (Kim Mun)', en: 'Kim Mun (Dao)' },
  tyz: { vi: 'tiếng Tày', en: 'Tày' },
  pcc: { vi: 'tiếng Giáy', en: 'Bouyei (Giáy)' },
  nut: { vi: 'tiếng Nùng', en: 'Nùng' },
  blt: { vi: 'tiếng Thái Đen', en: 'Tai Dam' },
  hni: { vi: 'tiếng Hà Nhì', en: 'Hani' },
  lbt: { vi: 'tiếng La Chí', en: 'Lachi' },
  phh: { vi: 'tiếng Phù Lá', en: 'Phula' },
};

/** A language in words, else its tag. */
export function languageName(tag: string, l: 'vi' | 'en'): string {
  return NAMES[tag]?.[l] ?? tag;
}

/** Why a village did not hear it in its own language, in words (Vietnamese, English), for the CSV and API clients. */
export function explainNotHeard(x: LineLanguages): { vi: string; en: string } | null {
  const n = x.notHeard;
  if (!n) return null;
  const lv = languageName(n.language, 'vi');
  const le = languageName(n.language, 'en');
  const instead = x.played.length > 0 ? x.played : x.versions.map((v) => v.language);
  const iv = instead.map((t) => languageName(t, 'vi')).join(', ');
  const ie = instead.map((t) => languageName(t, 'en')).join(', ');
  switch (n.reason) {
    case 'no_version':
      return { vi: `Chưa có bản ${lv}; đã phát bằng ${iv || 'bản mặc định'}`, en: `No ${le} version; played in ${ie || 'the default version'} instead` };
    case 'agent_without_parts':
      return {
        vi: `Thiết bị tại điểm chưa phát được nhiều thứ tiếng; đã phát bản mặc định (${iv})`,
        en: `The site's agent cannot play several versions; the default version (${ie}) played instead`,
      };
    case 'not_played':
      return { vi: `Bản ${lv} không phát hết (${n.detail ?? 'không rõ'})`, en: `The ${le} version did not play to its end (${n.detail ?? 'unknown'})` };
    case 'skipped':
      return { vi: 'Máy chủ không xếp phát bản tin tại điểm này', en: 'The server did not schedule the programme at this site' };
    case 'no_receipt':
      return { vi: 'Điểm phát chưa gửi báo cáo', en: 'The site has sent no receipt' };
  }
}
