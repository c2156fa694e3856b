/**
 * How urgent a CAP message is for loanet, pure: CAP's urgency, severity and
 * certainty (§3.2.2), the `Broadcast_Immediately` parameter some authorities
 * send (ECCC/NAAD "layer:SOREM:1.0:Broadcast_Immediately", and plain
 * "Broadcast_Immediately"), and, from Vietnamese sources, the natural-disaster
 * risk level of Decision 18/2021/QĐ-TTg (cấp độ rủi ro thiên tai 1–5) given as
 * a parameter, mapped onto loanet's priorities (Circular 39/2020/TT-BTTTT):
 *
 * - emergency: broadcast at once in the alert lane, pre-empting any bulletin
 *   or live stream, with its attention signal (siren or chime);
 * - priority: broadcast in the alert lane with a chime, never a siren;
 * - normal: not broadcast as an emergency: the message is kept for the
 *   record and the answer says why, for an operator to schedule as a
 *   bulletin if the commune wants it aired. An Update of an alert already on
 *   air still revises it (it must not keep playing the old text).
 *
 * ONE table decides, first matching rule wins; DEFAULT_CAP_PRIORITY_TABLE is
 * below (docs/cap.md shows it), and a province may replace it by a JSON file
 * (LOANET_CAP_PRIORITY_TABLE, checked by parsePriorityTable at start-up).
 */
import type { AttentionSignal } from '../../../protocol/index.ts';
import { CAP_CERTAINTY, CAP_SEVERITY, CAP_URGENCY, type CapCertainty, type CapInfo, type CapSeverity, type CapUrgency } from './model.ts';

export const LOANET_PRIORITIES = ['emergency', 'priority', 'normal'] as const;
export type LoanetPriority = (typeof LOANET_PRIORITIES)[number];

export interface PriorityRule {
  /** Named in the alert's record and the answer: which rule decided. */
  name: string;
  /** Every condition given must hold; an absent one matches anything. */
  when: {
    urgency?: CapUrgency[];
    severity?: CapSeverity[];
    certainty?: CapCertainty[];
    /** The Broadcast_Immediately parameter: true for "Yes", false for "No" (absent: the rule ignores it). */
    broadcastImmediately?: boolean;
    /** Decision 18/2021/QĐ-TTg risk levels (1–5). */
    vnRiskLevel?: number[];
  };
  priority: LoanetPriority;
  /** Attention signal of a real alert; a test or exercise always gets a chime. */
  attention: AttentionSignal | null;
}

export type PriorityTable = readonly PriorityRule[];

export const DEFAULT_CAP_PRIORITY_TABLE: PriorityTable = [
  // Decision 18/2021/QĐ-TTg: level 4 (very high risk) and 5 (disaster emergency) are evacuations; 3 is high risk.
  { name: 'vn-risk-4-5', when: { vnRiskLevel: [4, 5] }, priority: 'emergency', attention: 'siren' },
  { name: 'vn-risk-3', when: { vnRiskLevel: [3] }, priority: 'emergency', attention: 'chime' },
  { name: 'vn-risk-1-2', when: { vnRiskLevel: [1, 2] }, priority: 'priority', attention: 'chime' },
  // The sender says not to interrupt: an advisory, whatever else it says.
  { name: 'not-immediate-minor', when: { broadcastImmediately: false, severity: ['Minor'] }, priority: 'normal', attention: null },
  { name: 'not-immediate', when: { broadcastImmediately: false }, priority: 'priority', attention: 'chime' },
  { name: 'broadcast-immediately', when: { broadcastImmediately: true }, priority: 'emergency', attention: 'siren' },
  // Life-threatening, now or soon, and likely: a flash flood.
  {
    name: 'severe-imminent',
    when: { severity: ['Extreme', 'Severe'], urgency: ['Immediate', 'Expected'], certainty: ['Observed', 'Likely'] },
    priority: 'emergency',
    attention: 'siren',
  },
  { name: 'severe-possible', when: { severity: ['Extreme', 'Severe'], urgency: ['Immediate', 'Expected', 'Unknown'] }, priority: 'emergency', attention: 'chime' },
  { name: 'severe-later', when: { severity: ['Extreme', 'Severe'] }, priority: 'priority', attention: 'chime' },
  { name: 'past', when: { urgency: ['Past'], severity: ['Moderate', 'Minor'] }, priority: 'normal', attention: null },
  { name: 'moderate', when: { severity: ['Moderate'] }, priority: 'priority', attention: 'chime' },
  { name: 'minor', when: { severity: ['Minor'] }, priority: 'normal', attention: null },
  // Unknown severity (IPAWS administrative and civil messages send Unknown/Unknown/Unknown): heard, not pre-empting with a siren.
  { name: 'unknown', when: { severity: ['Unknown'] }, priority: 'priority', attention: 'chime' },
];

export interface PriorityDecision {
  priority: LoanetPriority;
  attention: AttentionSignal | null;
  /** The rule that decided ('default' when none matched). */
  rule: string;
  /** One line for the record: what was read and what it became. */
  reason: string;
}

/** "Yes"/"No" of a Broadcast_Immediately parameter (any namespace prefix), undefined when absent. */
export function broadcastImmediately(info: CapInfo): boolean | undefined {
  const p = info.parameter.find((x) => /(?:^|:)Broadcast_Immediately$/i.test(x.valueName.trim()));
  if (!p) return undefined;
  const v = p.value.trim().toLowerCase();
  return v === 'yes' || v === 'true' ? true : v === 'no' || v === 'false' ? false : undefined;
}

/**
 * The Decision 18/2021/QĐ-TTg risk level given as a parameter: valueName
 * "VN-RISK-LEVEL", "CAP_DO_RUI_RO" or "cấp độ rủi ro thiên tai" (any case,
 * with or without diacritics), value 1–5 (also "cấp 4", "4").
 */
export function vnRiskLevel(info: CapInfo): number | undefined {
  const fold = (s: string) =>
    s
      .normalize('NFD')
      .replace(/\p{M}/gu, '')
      .replace(/đ/gi, 'd')
      .toLowerCase()
      .replace(/[\s_-]+/g, ' ')
      .trim();
  const names = new Set(['vn risk level', 'cap do rui ro', 'cap do rui ro thien tai', 'vn cap do rui ro']);
  for (const p of info.parameter) {
    if (!names.has(fold(p.valueName))) continue;
    const m = /^(?:cap\s*(?:do\s*)?)?([1-5])$/.exec(fold(p.value));
    if (m) return Number(m[1]);
  }
  return undefined;
}

export function capPriority(info: CapInfo, table: PriorityTable = DEFAULT_CAP_PRIORITY_TABLE): PriorityDecision {
  const bi = broadcastImmediately(info);
  const risk = vnRiskLevel(info);
  const read = [
    `${info.urgency}/${info.severity}/${info.certainty}`,
    ...(bi === undefined ? [] : [`Broadcast_Immediately=${bi ? 'Yes' : 'No'}`]),
    ...(risk === undefined ? [] : [`cấp độ rủi ro ${risk}`]),
  ].join(', ');
  for (const r of table) {
    const w = r.when;
    if (w.urgency && !w.urgency.includes(info.urgency)) continue;
    if (w.severity && !w.severity.includes(info.severity)) continue;
    if (w.certainty && !w.certainty.includes(info.certainty)) continue;
    if (w.broadcastImmediately !== undefined && bi !== w.broadcastImmediately) continue;
    if (w.vnRiskLevel && (risk === undefined || !w.vnRiskLevel.includes(risk))) continue;
    return { priority: r.priority, attention: r.attention, rule: r.name, reason: `${read} → ${r.priority} (rule ${r.name})` };
  }
  // Nothing matched (a province's own table with gaps): an alert is better heard than missed.
  return { priority: 'emergency', attention: 'chime', rule: 'default', reason: `${read} → emergency (no rule matched)` };
}

/** A table from JSON (a province's file), every field checked; errors name the rule and field. */
export function parsePriorityTable(json: unknown): { ok: true; table: PriorityTable } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  if (!Array.isArray(json) || json.length === 0) return { ok: false, errors: ['the table must be a non-empty JSON array of rules'] };
  const listOf = <T extends string>(v: unknown, allowed: readonly T[], where: string): T[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => !allowed.includes(x as T))) {
      errors.push(`${where}: must be a non-empty list of ${allowed.join(', ')}`);
      return undefined;
    }
    return v as T[];
  };
  const table: PriorityRule[] = [];
  json.forEach((raw: unknown, i) => {
    const at = `rule ${i + 1}`;
    if (!raw || typeof raw !== 'object') return void errors.push(`${at}: must be an object`);
    const r = raw as Record<string, unknown>;
    const extra = Object.keys(r).filter((k) => !['name', 'when', 'priority', 'attention'].includes(k));
    if (extra.length) errors.push(`${at}: unknown field ${extra.join(', ')}`);
    if (typeof r.name !== 'string' || !/^[\w.-]{1,40}$/.test(r.name)) errors.push(`${at}.name: 1–40 letters, digits, "_", "." or "-"`);
    if (!LOANET_PRIORITIES.includes(r.priority as LoanetPriority)) errors.push(`${at}.priority: one of ${LOANET_PRIORITIES.join(', ')}`);
    if (!(r.attention === null || r.attention === 'siren' || r.attention === 'chime')) errors.push(`${at}.attention: "siren", "chime" or null`);
    const w = (r.when ?? {}) as Record<string, unknown>;
    if (typeof w !== 'object' || Array.isArray(w)) return void errors.push(`${at}.when: must be an object`);
    const wExtra = Object.keys(w).filter((k) => !['urgency', 'severity', 'certainty', 'broadcastImmediately', 'vnRiskLevel'].includes(k));
    if (wExtra.length) errors.push(`${at}.when: unknown condition ${wExtra.join(', ')}`);
    const when: PriorityRule['when'] = {};
    const u = listOf(w.urgency, CAP_URGENCY, `${at}.when.urgency`);
    const s = listOf(w.severity, CAP_SEVERITY, `${at}.when.severity`);
    const c = listOf(w.certainty, CAP_CERTAINTY, `${at}.when.certainty`);
    if (u) when.urgency = u;
    if (s) when.severity = s;
    if (c) when.certainty = c;
    if (w.broadcastImmediately !== undefined) {
      if (typeof w.broadcastImmediately !== 'boolean') errors.push(`${at}.when.broadcastImmediately: true or false`);
      else when.broadcastImmediately = w.broadcastImmediately;
    }
    if (w.vnRiskLevel !== undefined) {
      if (!Array.isArray(w.vnRiskLevel) || w.vnRiskLevel.length === 0 || w.vnRiskLevel.some((x) => !Number.isInteger(x) || x < 1 || x > 5))
        errors.push(`${at}.when.vnRiskLevel: a non-empty list of levels 1–5`);
      else when.vnRiskLevel = w.vnRiskLevel as number[];
    }
    table.push({ name: String(r.name), when, priority: r.priority as LoanetPriority, attention: (r.attention ?? null) as AttentionSignal | null });
  });
  return errors.length ? { ok: false, errors } : { ok: true, table };
}
