/**
 * The nhật ký phát thanh (as-run log) as people read it: one line per
 * (entry, site) the server asked for, whether or not a receipt came back
 * (pure).
 *
 * - A receipt says played / late / partial / skipped (with why), or unknown:
 *   the site lost its record of the entry and will not guess.
 * - An occurrence the server's priority arbitration skipped at a site is
 *   "skipped" with the server's reason (it was never sent to play).
 * - An occurrence whose end (plus a grace for the receipt to travel) has
 *   passed without a receipt is "no receipt yet", with what the server knows
 *   of the site now (e.g. offline since 14:02): the log never silently drops
 *   a site.
 * - One not yet due (or still playing) is "not due yet".
 * - A receipt for an entry the server has no record of sending (e.g. sent
 *   before this server's database existed) is listed as it is.
 *
 * Its inputs are its own types (`SentEntryInput`, `ReceiptInput`): the
 * stores' rows (schedule/sent-entries.ts, asrun/log.ts) carry more and are
 * passed as they are, so this core does not depend on the stores, and tests
 * build plain objects.
 */
import type { AsRunWhyCode } from '../../api/as-run.ts';
import type { AsRunOutcome, AsRunPart } from '../../protocol/index.ts';
import { wordAsRunWhy, wordReason } from '../../api/words/reasons.ts';
import type { PlannedLanguages } from '../schedule/playlist.ts';
import { type LineLanguages, lineLanguages } from './languages.ts';

export const AS_RUN_STATUSES = ['played', 'late', 'early', 'unverified', 'partial', 'skipped', 'unknown', 'no_receipt', 'upcoming'] as const;
export type AsRunStatus = (typeof AS_RUN_STATUSES)[number];

/** A receipt may take this long after an entry's end to arrive before it counts as missing. */
export const RECEIPT_GRACE_MS = 2 * 60_000;

export const STATUS_LABEL: Readonly<Record<AsRunStatus, { vi: string; en: string }>> = {
  played: { vi: 'Đã phát', en: 'played' },
  late: { vi: 'Phát muộn', en: 'late' },
  early: { vi: 'Phát sớm', en: 'early' },
  unverified: { vi: 'Đã phát, chưa xác minh đồng hồ', en: 'played, clock not verified' },
  partial: { vi: 'Phát dở dang', en: 'partial' },
  skipped: { vi: 'Không phát', en: 'skipped' },
  unknown: { vi: 'Không rõ đã phát hay chưa', en: 'unknown' },
  no_receipt: { vi: 'Chưa có báo cáo', en: 'no receipt yet' },
  upcoming: { vi: 'Chưa đến giờ', en: 'not due yet' },
};

/** The receipt and skip reasons the console has words for (api/as-run.ts AS_RUN_WHY_CODES); any other is "other" with its code. */
const KNOWN_REASONS: ReadonlySet<string> = new Set<AsRunWhyCode>([
  'no_media',
  'preempted',
  'amp_fault',
  'device_off',
  'expired',
  'cancelled',
  'error',
  'state_lost',
  'higher_priority',
  'same_priority',
  'queue_no_room',
]);

/** One occurrence as sent to one site (or skipped there by the server's plan). */
export interface SentEntryInput {
  siteId: string;
  entryId: string;
  itemId: string;
  scheduledAt: number;
  /** Planned start (after any queue shift). */
  startAt: number;
  durationMs: number;
  priority: string;
  plan: 'play' | 'skipped';
  skipReason: string | null;
  /** The media sent (the first version's, for several). */
  mediaId?: string;
  /** For a bulletin with language versions: what the site was planned to hear. */
  languages?: PlannedLanguages | null;
}

/** A site's receipt for one occurrence, as stored when it came. */
export interface ReceiptInput {
  siteId: string;
  entryId: string;
  itemId: string;
  scheduledAt: number;
  outcome: AsRunOutcome;
  startedAt: number | null;
  endedAt: number | null;
  startErrorMs: number | null;
  frames: number | null;
  reason: string | null;
  detail: string | null;
  /** The agent's clock was verified when the entry started; null: an agent that does not say. */
  clockSynced: boolean | null;
  /** The play's clock minus the best clock the agent knew when it wrote the receipt (positive: early). */
  clockErrorMs: number | null;
  receivedAt: number;
  /** What became of each language version, for an entry with several. */
  parts?: readonly AsRunPart[] | null;
}

export interface SiteInfo {
  name: string;
  areaKey: string;
  areaName: string;
}

/** What the server knows of a site now (FleetState's verdict and its first reason; 'retired' with none for a site gone). */
export interface SiteNow {
  condition: string;
  reason: { code: string; params: Record<string, string | number | null>; message: string } | null;
}

/** One part of why a line is what it is: a code the console words from its params. */
export interface AsRunWhy {
  code: AsRunWhyCode;
  params: Record<string, string | number | null>;
}

export interface AsRunLine {
  entryId: string;
  itemId: string;
  title: string;
  siteId: string;
  siteName: string;
  areaKey: string;
  areaName: string;
  scheduledAt: number;
  /** Planned start (after any queue shift). */
  startAt: number;
  durationMs: number;
  priority: string;
  status: AsRunStatus;
  /** Who says so: the site's receipt, or the server (its own plan, or no receipt). */
  source: 'agent' | 'server';
  reason: string | null;
  /** Why, as codes with params (the console words them); empty when nothing needs saying. */
  why: AsRunWhy[];
  /** Why, in words (Vietnamese, English) for the CSV and API clients, from `why` and the site's reason now (api/words/reasons.ts). */
  explanation: { vi: string; en: string } | null;
  startedAt: number | null;
  endedAt: number | null;
  startErrorMs: number | null;
  /** From the receipt: the site's clock was verified when it played (null: not said). */
  clockSynced: boolean | null;
  /** From the receipt: how far the site's clock was off when it played (ms, positive: fast); startErrorMs is already on the server clock. */
  clockErrorMs: number | null;
  frames: number | null;
  detail: string | null;
  receivedAt: number | null;
  /** For "no receipt yet": the site's condition now. */
  siteNow: SiteNow | null;
  /** For a bulletin with language versions: the versions and whether the village heard it in its own language; absent otherwise. */
  languages?: LineLanguages;
}

export interface AsRunSummary {
  lines: number;
  sites: number;
  entries: number;
  byStatus: Record<AsRunStatus, number>;
}

/** One occurrence across all its sites: did this bulletin reach everyone? */
export interface AsRunEntrySummary {
  entryId: string;
  itemId: string;
  title: string;
  scheduledAt: number;
  sites: number;
  byStatus: Record<AsRunStatus, number>;
}

export interface AccountInput {
  sent: readonly SentEntryInput[];
  receipts: readonly ReceiptInput[];
  sites: ReadonlyMap<string, SiteInfo>;
  titleOf(itemId: string): string;
  siteNow(siteId: string): SiteNow | undefined;
  now: number;
  graceMs?: number;
}

/**
 * A start within this of its time (on the server clock) is on time: the bound
 * a receipt's `played` promises (docs/protocol.md, as-run outcomes), and the
 * agent's `lateToleranceMs` default.
 */
export const ON_TIME_TOLERANCE_MS = 100;

type ReceiptClockFields = Pick<ReceiptInput, 'outcome' | 'startErrorMs' | 'clockSynced' | 'clockErrorMs'>;

/**
 * What a play's receipt means once the clock it was played under is taken into
 * account (pure). A receipt with clockErrorMs has its times on the best clock
 * the site knew when it wrote it, so its start error is the truth: more than
 * ON_TIME_TOLERANCE_MS either way is "early" or "late", whatever the site's own
 * verdict was. A play on a clock never verified and never corrected (a board
 * that booted without a link) is "played, clock not verified": its time is not
 * known, and saying "played" would claim it was on time. Receipts of agents
 * that do not report their clock, and receipts of no play, keep their outcome.
 */
export function receiptStatus(r: ReceiptClockFields): AsRunStatus {
  if (r.outcome !== 'played' && r.outcome !== 'late') return r.outcome;
  const err = r.startErrorMs;
  const corrected = r.clockErrorMs !== null && r.clockErrorMs !== undefined;
  if (!corrected && r.clockSynced === false) return 'unverified';
  if (err !== null && err < -ON_TIME_TOLERANCE_MS) return 'early';
  if (corrected && err !== null) return err > ON_TIME_TOLERANCE_MS ? 'late' : 'played';
  return r.outcome;
}

/** How far the site's clock was off when it played, when it was off by more than the tolerance. */
function clockNote(r: ReceiptInput | undefined): AsRunWhy | null {
  if (!r || r.clockErrorMs === null || Math.abs(r.clockErrorMs) <= ON_TIME_TOLERANCE_MS) return null;
  return { code: r.clockErrorMs > 0 ? 'clock_fast' : 'clock_slow', params: { seconds: Math.abs(r.clockErrorMs) / 1000 } };
}

function why(status: AsRunStatus, reason: string | null, r: ReceiptInput | undefined, now: SiteNow | undefined): AsRunWhy[] {
  const out: AsRunWhy[] = [];
  if (status === 'early' && r?.startErrorMs != null) out.push({ code: 'early', params: { seconds: -r.startErrorMs / 1000 } });
  else if (status === 'unverified') out.push({ code: 'clock_unverified', params: {} });
  else if (status === 'late' && r?.startErrorMs != null) out.push({ code: 'late', params: { seconds: r.startErrorMs / 1000 } });
  else if (status === 'no_receipt') out.push({ code: now?.condition === 'retired' ? 'site_retired' : 'no_receipt', params: {} });
  else if (reason) out.push(KNOWN_REASONS.has(reason) ? { code: reason as AsRunWhyCode, params: {} } : { code: 'other', params: { reason } });
  const note = clockNote(r);
  if (note) out.push(note);
  return out;
}

/** The why and the site's reason now in one language's words, for the CSV and API clients. */
function explain(parts: readonly AsRunWhy[], now: SiteNow | null, at: number): { vi: string; en: string } | null {
  if (parts.length === 0) return null;
  const say = (l: 'vi' | 'en') => [...parts.map((w) => wordAsRunWhy(l, w)), ...(now?.reason ? [wordReason(l, now.reason, at)] : [])].join('; ');
  return { vi: say('vi'), en: say('en') };
}

const zeroCounts = () => Object.fromEntries(AS_RUN_STATUSES.map((s) => [s, 0])) as Record<AsRunStatus, number>;

export function accountAsRun(input: AccountInput): { lines: AsRunLine[]; summary: AsRunSummary; entries: AsRunEntrySummary[] } {
  const grace = input.graceMs ?? RECEIPT_GRACE_MS;
  const receipts = new Map(input.receipts.map((r) => [`${r.siteId}\n${r.entryId}`, r]));
  const lines: AsRunLine[] = [];
  const site = (id: string) => input.sites.get(id) ?? { name: id, areaKey: '', areaName: '' };
  for (const e of input.sent) {
    const key = `${e.siteId}\n${e.entryId}`;
    const r = receipts.get(key);
    receipts.delete(key);
    const s = site(e.siteId);
    let status: AsRunStatus;
    let reason: string | null = null;
    let source: AsRunLine['source'] = 'server';
    let siteNow: SiteNow | null = null;
    if (r) {
      status = receiptStatus(r);
      reason = r.reason;
      source = 'agent';
    } else if (e.plan === 'skipped') {
      status = 'skipped';
      reason = e.skipReason;
    } else if (e.startAt + e.durationMs + grace <= input.now) {
      status = 'no_receipt';
      siteNow = input.siteNow(e.siteId) ?? null;
    } else {
      status = 'upcoming';
    }
    const lineWhy = why(status, reason, r, siteNow ?? undefined);
    const languages = lineLanguages({ plan: e.plan, languages: e.languages, mediaId: e.mediaId ?? null, receipt: r, overdue: status === 'no_receipt' });
    lines.push({
      entryId: e.entryId,
      itemId: e.itemId,
      title: input.titleOf(e.itemId),
      siteId: e.siteId,
      siteName: s.name,
      areaKey: s.areaKey,
      areaName: s.areaName,
      scheduledAt: e.scheduledAt,
      startAt: e.startAt,
      durationMs: e.durationMs,
      priority: e.priority,
      status,
      source,
      reason,
      why: lineWhy,
      explanation: explain(lineWhy, siteNow, input.now),
      startedAt: r?.startedAt ?? null,
      endedAt: r?.endedAt ?? null,
      startErrorMs: r?.startErrorMs ?? null,
      clockSynced: r?.clockSynced ?? null,
      clockErrorMs: r?.clockErrorMs ?? null,
      frames: r?.frames ?? null,
      detail: r?.detail ?? null,
      receivedAt: r?.receivedAt ?? null,
      siteNow,
      ...(languages ? { languages } : {}),
    });
  }
  // Receipts for entries the server has no record of sending.
  for (const r of receipts.values()) {
    const s = site(r.siteId);
    const lineWhy = why(receiptStatus(r), r.reason, r, undefined);
    lines.push({
      entryId: r.entryId,
      itemId: r.itemId,
      title: input.titleOf(r.itemId),
      siteId: r.siteId,
      siteName: s.name,
      areaKey: s.areaKey,
      areaName: s.areaName,
      scheduledAt: r.scheduledAt,
      startAt: r.scheduledAt,
      durationMs: r.startedAt !== null && r.endedAt !== null ? r.endedAt - r.startedAt : 0,
      priority: '',
      status: receiptStatus(r),
      source: 'agent',
      reason: r.reason,
      why: lineWhy,
      explanation: explain(lineWhy, null, input.now),
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      startErrorMs: r.startErrorMs,
      clockSynced: r.clockSynced,
      clockErrorMs: r.clockErrorMs,
      frames: r.frames,
      detail: r.detail,
      receivedAt: r.receivedAt,
      siteNow: null,
    });
  }
  lines.sort((a, b) => a.scheduledAt - b.scheduledAt || (a.areaKey < b.areaKey ? -1 : a.areaKey > b.areaKey ? 1 : 0) || (a.siteId < b.siteId ? -1 : a.siteId > b.siteId ? 1 : 0));
  const byStatus = zeroCounts();
  const perEntry = new Map<string, AsRunEntrySummary>();
  for (const l of lines) {
    byStatus[l.status]++;
    let e = perEntry.get(l.entryId);
    if (!e) perEntry.set(l.entryId, (e = { entryId: l.entryId, itemId: l.itemId, title: l.title, scheduledAt: l.scheduledAt, sites: 0, byStatus: zeroCounts() }));
    e.sites++;
    e.byStatus[l.status]++;
  }
  return {
    lines,
    summary: { lines: lines.length, sites: new Set(lines.map((l) => l.siteId)).size, entries: perEntry.size, byStatus },
    entries: [...perEntry.values()],
  };
}
