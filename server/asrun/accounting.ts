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
import type { AsRunOutcome } from '../../protocol/index.ts';

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

const REASON_TEXT: Readonly<Record<string, { vi: string; en: string }>> = {
  no_media: { vi: 'không có tệp âm thanh trong bộ nhớ của điểm', en: 'the audio was not in the site cache' },
  preempted: { vi: 'bị bản tin ưu tiên cao hơn chen ngang', en: 'pre-empted by a higher priority' },
  amp_fault: { vi: 'lỗi bộ khuếch đại', en: 'amplifier fault' },
  device_off: { vi: 'thiết bị âm thanh tắt hoặc không liên lạc được', en: 'audio device off or unreachable' },
  expired: { vi: 'quá giờ, không kịp phát', en: 'too late to start' },
  cancelled: { vi: 'bị hủy khi đang phát', en: 'cancelled while playing' },
  error: { vi: 'lỗi', en: 'error' },
  state_lost: {
    vi: 'điểm bị mất dữ liệu ghi nhận (mất điện, hỏng thẻ nhớ), không biết đã phát hay chưa',
    en: 'the site lost its record of it (power cut, damaged storage): whether it played is not known',
  },
  higher_priority: { vi: 'trùng giờ với bản tin ưu tiên cao hơn (theo lịch)', en: 'a higher-priority item was scheduled at that time' },
  same_priority: { vi: 'trùng giờ với bản tin cùng mức ưu tiên (theo lịch)', en: 'overlapped an item of the same priority' },
  queue_no_room: { vi: 'không còn chỗ để phát nối tiếp trong thời hạn hiệu lực', en: 'no room to queue it within its validity' },
};

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
}

export interface SiteInfo {
  name: string;
  areaKey: string;
  areaName: string;
}

/** What the server knows of a site now (FleetState's verdict, first reason). */
export interface SiteNow {
  condition: string;
  message: string;
  messageVi: string;
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
  /** Why, in words (Vietnamese, English). */
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

function fmtSeconds(ms: number, lang: 'vi' | 'en'): string {
  const s = (ms / 1000).toFixed(1);
  return lang === 'vi' ? s.replace('.', ',') : s;
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

/** How far the site's clock was off when it played, in words, when it was off by more than the tolerance. */
function clockNote(r: ReceiptInput | undefined): { vi: string; en: string } | null {
  if (!r || r.clockErrorMs === null || Math.abs(r.clockErrorMs) <= ON_TIME_TOLERANCE_MS) return null;
  const s = Math.abs(r.clockErrorMs);
  return r.clockErrorMs > 0
    ? { vi: `đồng hồ của điểm nhanh ${fmtSeconds(s, 'vi')} giây lúc phát`, en: `the site's clock was ${fmtSeconds(s, 'en')} s fast when it played` }
    : { vi: `đồng hồ của điểm chậm ${fmtSeconds(s, 'vi')} giây lúc phát`, en: `the site's clock was ${fmtSeconds(s, 'en')} s slow when it played` };
}

function explain(status: AsRunStatus, reason: string | null, r: ReceiptInput | undefined, now: SiteNow | undefined): { vi: string; en: string } | null {
  const text = explainStatus(status, reason, r, now);
  const note = clockNote(r);
  if (!note) return text;
  return text ? { vi: `${text.vi}; ${note.vi}`, en: `${text.en}; ${note.en}` } : note;
}

function explainStatus(status: AsRunStatus, reason: string | null, r: ReceiptInput | undefined, now: SiteNow | undefined): { vi: string; en: string } | null {
  if (status === 'early' && r?.startErrorMs != null)
    return { vi: `phát sớm ${fmtSeconds(-r.startErrorMs, 'vi')} giây so với giờ máy chủ`, en: `played ${fmtSeconds(-r.startErrorMs, 'en')} s early on the server clock` };
  if (status === 'unverified') {
    return {
      vi: 'đồng hồ của điểm chưa được đối chiếu với máy chủ khi phát (khởi động lại khi mất kết nối): không biết chắc đã phát đúng giờ',
      en: "the site's clock had not been checked against the server's when it played (restarted with no link): whether it played on time is not known",
    };
  }
  if (status === 'late' && r?.startErrorMs != null) return { vi: `phát muộn ${fmtSeconds(r.startErrorMs, 'vi')} giây`, en: `started ${fmtSeconds(r.startErrorMs, 'en')} s late` };
  if (status === 'no_receipt') {
    if (!now) return { vi: 'chưa nhận được báo cáo của điểm', en: 'no receipt from the site yet' };
    return { vi: `chưa nhận được báo cáo; ${now.messageVi}`, en: `no receipt yet; ${now.message}` };
  }
  if (reason) return REASON_TEXT[reason] ?? { vi: reason, en: reason };
  return null;
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
      explanation: explain(status, reason, r, siteNow ?? undefined),
      startedAt: r?.startedAt ?? null,
      endedAt: r?.endedAt ?? null,
      startErrorMs: r?.startErrorMs ?? null,
      clockSynced: r?.clockSynced ?? null,
      clockErrorMs: r?.clockErrorMs ?? null,
      frames: r?.frames ?? null,
      detail: r?.detail ?? null,
      receivedAt: r?.receivedAt ?? null,
      siteNow,
    });
  }
  // Receipts for entries the server has no record of sending.
  for (const r of receipts.values()) {
    const s = site(r.siteId);
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
      explanation: explain(receiptStatus(r), r.reason, r, undefined),
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
