/**
 * A CAP 1.2 document posted to loanet, through the pure core in `cap/`:
 * parse and validate (400 naming the element), de-duplicate by sender and
 * identifier, Update and Cancel by references, refuse what cannot be
 * broadcast here (Draft, expired, an area outside the registry: 422 naming
 * it), map `<area>` to areas by geocode and to sites by polygon/circle, and
 * make the audio from the embedded resource or by speaking headline and
 * instruction; every `<info>` in another language becomes a language version
 * of the message (its audio, or its text where a voice exists; one that
 * cannot be voiced is kept as missing and never holds the alert). Status
 * Test/Exercise becomes a test alert, never Actual.
 */
import fs from 'node:fs';
import { Errors, fail, LoanetError } from '../errors.ts';
import { capPlaceRefusal } from '../auth/scope-policy.ts';
import { chooseSpeech, chooseVersions, pickInfo, type HasVoice } from './cap/speech.ts';
import { ESPEAK_NG_VOICES, voiceForLanguage } from '../media/tts/voice-choice.ts';
import { capPriority, DEFAULT_CAP_PRIORITY_TABLE, type PriorityDecision, type PriorityTable } from './cap/priority.ts';
import { capContentHash, classifyIncoming, type KnownAlert, type LifecycleOutcome } from './cap/lifecycle.ts';
import { matchAlertAreas } from './cap/area-match.ts';
import { parseCapOffThread, unwrapEnvelopeOffThread } from './cap/parse-offthread.ts';
import { looksLikeEnvelope, type Unwrapped } from './cap/envelope.ts';
import { decodeCapDocument } from './cap/encoding.ts';
import { capKeyString, capTimeToMs, type CapAlert, type CapIssue, type CapKey } from './cap/model.ts';
import type { AlertMessages, PreparedMessage, PreparedVersion } from './message.ts';
import type { Alert } from './model.ts';
import type { AlertActor, AlertService, AlertSpec } from './service.ts';
import { siteLocations } from './targets.ts';
import type { AlertStore } from './store.ts';
import { DEFAULT_ALERT_REPEATS, type AttentionSignal } from '../../protocol/index.ts';

/**
 * Whether an alert's language can be spoken: judged against the table of
 * espeak-ng's voices (checked against the installed engine by a test), so
 * the choice of the info and the language to speak stays pure and
 * synchronous; the engine picks the voice itself by the same mapping.
 */
const capHasVoice: HasVoice = (lang) => voiceForLanguage(ESPEAK_NG_VOICES, lang) !== undefined;

/** Validity of a CAP alert without `<expires>`. */
export const CAP_DEFAULT_VALIDITY_MS = 3600_000;

/** What became of each CAP alert of an envelope (EDXL-DE, Atom, RSS), in document order. */
export interface EnvelopeOutcome {
  format: string;
  alerts: Array<
    | { index: number; outcome: 'started' | 'updated' | 'cancelled' | 'duplicate' | 'stored'; id: string | null }
    | { index: number; outcome: 'refused'; id: null; status: number; code: string; message: string }
  >;
}

type CapAlertResult =
  | { outcome: 'started'; alert: Alert; lifecycle: LifecycleOutcome['kind']; warnings: string[] }
  | { outcome: 'updated'; alert: Alert; lifecycle: 'update'; warnings: string[] }
  | { outcome: 'cancelled'; cancelled: string[]; warnings: string[] }
  | { outcome: 'duplicate'; alertId: string | null; warnings: string[] }
  | { outcome: 'stored'; reason: string; warnings: string[] };

/** The answer for one alert; for an envelope, the first alert started or updated (else the first taken), with every alert's outcome in `envelope`. */
export type CapIngestResult = CapAlertResult & { envelope?: EnvelopeOutcome };

/** The alert an answer is about: the one started, updated or duplicated; the first cancelled; none when only stored. */
function resultId(r: CapAlertResult): string | null {
  switch (r.outcome) {
    case 'started':
    case 'updated':
      return r.alert.id;
    case 'cancelled':
      return r.cancelled[0] ?? null;
    case 'duplicate':
      return r.alertId;
    case 'stored':
      return null;
  }
}

const capInvalid = (errors: CapIssue[]) => {
  const field = errors[0]?.path;
  const text = `not a valid CAP 1.2 alert: ${errors
    .slice(0, 3)
    .map((e) => `${e.path}: ${e.message}`)
    .join('; ')}`;
  return fail('LOANET_CAP_INVALID', field === undefined ? { text } : { text, field }, { errors });
};
type Unprocessable = 'LOANET_CAP_NOT_FOR_BROADCAST' | 'LOANET_CAP_NOTHING_TO_PLAY' | 'LOANET_ALERT_EXPIRED' | 'LOANET_CAP_NO_AREA';
const unprocessable = (code: Unprocessable, field: string, text: string, extra: Record<string, unknown> = {}) => fail(code, { field, text }, extra);

/**
 * The text of a posted document from its bytes and Content-Type (cap/encoding.ts:
 * byte order mark, then charset, then the XML declaration, then UTF-8): 415
 * naming an encoding loanet cannot read, 400 for bytes not valid in the one chosen.
 */
export function capDocumentText(bytes: Uint8Array, contentType: string | undefined): string {
  const d = decodeCapDocument(bytes, contentType);
  if (d.ok) return d.text;
  if (d.kind === 'unknown_encoding') throw fail('LOANET_CAP_ENCODING', { field: d.from === 'charset' ? 'content-type' : 'alert', text: d.message }, { encoding: d.encoding });
  throw fail('LOANET_CAP_INVALID', { field: 'alert', text: `not a valid CAP 1.2 alert: alert: ${d.message}` }, { encoding: d.encoding });
}

/** An envelope nothing can be taken from: 422 when it only links (loanet fetches nothing it is sent) or holds no alert, 413 past the count. */
function envelopeRefused(u: Extract<Unwrapped, { kind: 'refused' }>): LoanetError {
  switch (u.reason) {
    case 'links_only':
      return fail('LOANET_CAP_LINK_ONLY', { field: 'alert', text: u.message }, { format: u.format });
    case 'empty':
      return fail('LOANET_CAP_NO_ALERT', { field: 'alert', text: u.message }, { format: u.format });
    case 'too_many':
      return fail('LOANET_CAP_ENVELOPE_TOO_LARGE', { field: 'alert', text: u.message }, { format: u.format });
    case 'unreadable':
      return fail('LOANET_CAP_INVALID', { field: 'alert', text: `not a valid CAP 1.2 alert: alert: ${u.message}` }, { errors: [{ path: 'alert', message: u.message }] });
    default: {
      const never: never = u.reason;
      return never;
    }
  }
}

const MIME_SUFFIX: Record<string, string> = {
  mpeg: '.mp3',
  mp3: '.mp3',
  'x-ipaws-audio-mp3': '.mp3',
  wav: '.wav',
  'x-wav': '.wav',
  ogg: '.ogg',
  opus: '.opus',
  aac: '.aac',
  mp4: '.m4a',
};

export class CapIngest {
  constructor(
    private readonly alerts: AlertService,
    private readonly store: AlertStore,
    private readonly messages: AlertMessages,
    private readonly o: { now: () => number; areaVersion: string; timeZone: string; priorityTable?: PriorityTable },
  ) {}

  /**
   * `authorize` checks that the caller may post under the message's sender
   * (throws 403) and answers the sender's area (null: the whole network);
   * it runs before anything is looked up or stored under the sender's name.
   */
  async ingest(xml: string, actor: AlertActor, authorize: (cap: CapAlert) => Promise<number | null>): Promise<CapIngestResult> {
    if (!looksLikeEnvelope(xml)) return this.ingestAlert(xml, actor, authorize);
    const u = await unwrapEnvelopeOffThread(xml);
    if (u.kind === 'alert') return this.ingestAlert(xml, actor, authorize);
    if (u.kind === 'refused') throw envelopeRefused(u);
    // Each alert as if it had been posted alone; one refused does not stop the others.
    const n = u.alerts.length;
    const label = (i: number) => `${u.format} alert ${i + 1} of ${n}`;
    const done: Array<{ i: number; r: CapIngestResult } | { i: number; e: LoanetError }> = [];
    for (const [i, a] of u.alerts.entries()) {
      try {
        done.push({ i, r: await this.ingestAlert(a, actor, authorize) });
      } catch (e) {
        if (!(e instanceof LoanetError)) throw e;
        done.push({ i, e });
      }
    }
    const lines = done.map((d) =>
      'r' in d ? `${label(d.i)}: ${d.r.outcome}${'alert' in d.r ? ` ${d.r.alert.id}` : ''}` : `${label(d.i)}: refused (${d.e.statusCode} ${d.e.code}): ${d.e.message}`,
    );
    const envelope: EnvelopeOutcome = {
      format: u.format,
      alerts: done.map((d) =>
        'r' in d
          ? { index: d.i, outcome: d.r.outcome, id: resultId(d.r) }
          : { index: d.i, outcome: 'refused' as const, id: null, status: d.e.statusCode, code: d.e.code, message: d.e.message },
      ),
    };
    const ok = done.flatMap((d) => ('r' in d ? [d.r] : []));
    const chosen = ok.find((r) => r.outcome === 'started' || r.outcome === 'updated') ?? ok[0];
    if (!chosen) {
      const first = done[0] as { e: LoanetError };
      if (n === 1) throw first.e;
      // The first alert's code and parameters, worded for the whole envelope.
      const all = new LoanetError(first.e.code, first.e.params, first.e.details);
      all.message = `no CAP alert of the ${u.format} document was taken: ${lines.join('; ')}`;
      throw all;
    }
    return {
      ...chosen,
      warnings: [...chosen.warnings, `${u.format} envelope: ${n} CAP alert${n > 1 ? 's' : ''}, each handled as if posted alone`, ...(n > 1 ? lines : [])],
      envelope,
    };
  }

  private async ingestAlert(xml: string, actor: AlertActor, authorize: (cap: CapAlert) => Promise<number | null>): Promise<CapIngestResult> {
    // A large document is parsed in a worker thread, so it never holds the event loop.
    const parsed = await parseCapOffThread(xml);
    if (!parsed.ok) throw capInvalid(parsed.errors);
    const cap = parsed.alert;
    const senderAreaId = await authorize(cap);
    const sites = await this.alerts.targetSites();
    const match = matchAlertAreas(cap, { index: this.alerts.areaIndex(), sites: siteLocations(sites), currentVersion: this.o.areaVersion });
    this.checkPlace(cap, match, actor, senderAreaId, sites);
    const warnings = parsed.warnings.map((w) => `${w.path}: ${w.message}`);
    if (parsed.signature.signed) warnings.push('the message is signed; loanet does not verify XML signatures: trusted because of who posted it');
    const hash = capContentHash(cap);
    const outcome = await this.classify(cap, hash);
    warnings.push(...outcome.warnings);
    const key: CapKey = outcome.key;

    if (outcome.kind === 'duplicate') return { outcome: 'duplicate', alertId: (await this.store.capMessage(key))?.alertId ?? null, warnings };
    if (outcome.kind === 'conflict') throw fail('LOANET_CAP_CONFLICT', { key: capKeyString(key), field: 'alert/identifier' });
    if (outcome.handling.broadcast === 'refuse') throw unprocessable('LOANET_CAP_NOT_FOR_BROADCAST', 'alert/status', `status ${cap.status} is not for broadcast`);

    const record = (state: 'active' | 'cancelled', alertId: string | null): Promise<void> =>
      this.store.saveCap({ key, sent: cap.sent, status: cap.status, msgType: cap.msgType, contentHash: hash, state, alertId, xml, receivedBy: actor.username }, this.o.now());

    if (outcome.kind === 'cancel') {
      const ids = await this.alertsOf(outcome.cancels);
      for (const id of ids) await this.alerts.mayChange(await this.alerts.require(id), actor, 'cancel');
      const cancelled: string[] = [];
      for (const id of ids) {
        const a = await this.alerts.cancel(id, actor, 'cap');
        cancelled.push(a.id);
      }
      for (const k of outcome.cancels) await this.store.setCapState(k, 'cancelled');
      await record('cancelled', cancelled[0] ?? null);
      return { outcome: 'cancelled', cancelled, warnings };
    }
    if (outcome.handling.broadcast === 'none') {
      // System messages, Ack, Error, a Cancel of nothing known: kept for the record, nothing to play.
      await record('active', null);
      return { outcome: 'stored', reason: outcome.handling.reason, warnings };
    }

    // Something to broadcast (Actual), or a test run (Test/Exercise).
    const info = pickInfo(cap, capHasVoice);
    if (!info) throw unprocessable('LOANET_CAP_NOTHING_TO_PLAY', 'alert/info', 'the alert has no <info>: nothing to broadcast');
    const infoIdx = cap.info.indexOf(info);
    const now = this.o.now();
    const expires = info.expires ? capTimeToMs(info.expires) : null;
    if (expires !== null && expires <= now) {
      throw unprocessable('LOANET_ALERT_EXPIRED', `alert/info[${infoIdx}]/expires`, `alert/info[${infoIdx}]/expires: the alert expired at ${info.expires}; nothing to broadcast`);
    }
    if (match.matchesNothing) {
      const first = match.unmatched[0];
      throw unprocessable(
        'LOANET_CAP_NO_AREA',
        first ? `alert/${first.path}` : 'alert/info/area',
        `no <area> of the alert is in this network: ${match.unmatched
          .slice(0, 3)
          .map((u) => `${u.path}: ${u.reason}`)
          .join('; ')}`,
        { unmatched: match.unmatched },
      );
    }
    for (const u of match.unmatched) warnings.push(`${u.path}: ${u.reason}`);
    const targets = await this.alerts.resolve({ areaKeys: match.areaKeys, siteIds: match.siteIds }, actor, sites);

    // Which live alert an Update replaces (the first active one it references).
    const supersededIds = outcome.kind === 'update' ? await this.alertsOf(outcome.supersedes) : [];
    const replace = supersededIds.map((id) => this.alerts.get(id)).find((a) => a?.state === 'active');
    if (replace) await this.alerts.mayChange(replace, actor, 'update');

    const test = !outcome.handling.isActual;
    const priority = capPriority(info, this.o.priorityTable ?? DEFAULT_CAP_PRIORITY_TABLE);
    warnings.push(`priority: ${priority.reason}`);
    // An advisory does not pre-empt what the commune is airing (cap/priority.ts); a test always runs, and
    // an Update of an alert on air still revises it rather than leave the old text playing.
    if (priority.priority === 'normal' && !test && !replace) {
      for (const k of outcome.supersedes) await this.store.setCapState(k, 'superseded');
      await record('active', null);
      return { outcome: 'stored', reason: `not broadcast as an emergency: ${priority.reason}; an operator may schedule it as a bulletin`, warnings };
    }

    const title = (info.headline ?? info.event).trim().slice(0, 200);
    const message = await this.message(cap, title, actor, warnings);
    const versions = this.versions(cap, info, title, actor, warnings);
    const spec: AlertSpec = {
      title,
      test,
      // The table's 'normal' never reaches here (stored above) but for an Update of an alert on air: it keeps the lowest rank an alert has.
      priority: priority.priority === 'emergency' ? 'emergency' : 'priority',
      attention: attentionFor(priority, test),
      repeats: DEFAULT_ALERT_REPEATS,
      volume: null,
      validUntil: expires ?? now + CAP_DEFAULT_VALIDITY_MS,
      polygon: null,
    };
    const origin = { sender: cap.sender, identifier: cap.identifier, sent: cap.sent };
    if (replace) {
      const alert = await this.alerts.revise(replace.id, spec, targets, message, actor, origin, match.areaKeys, versions);
      for (const k of outcome.supersedes) await this.store.setCapState(k, 'superseded');
      await record('active', alert.id);
      return { outcome: 'updated', alert, lifecycle: 'update', warnings };
    }
    for (const k of outcome.supersedes) await this.store.setCapState(k, 'superseded');
    const alert = await this.alerts.create(spec, targets, message, actor, origin, match.areaKeys, versions);
    await record('active', alert.id);
    return { outcome: 'started', alert, lifecycle: outcome.kind, warnings };
  }

  /** Every message, whatever its status, only inside the caller's area and its sender's (403 otherwise, nothing stored). */
  private checkPlace(
    cap: CapAlert,
    match: ReturnType<typeof matchAlertAreas>,
    actor: AlertActor,
    senderAreaId: number | null,
    sites: Awaited<ReturnType<AlertService['targetSites']>>,
  ): void {
    const index = this.alerts.areaIndex();
    const siteArea = new Map(sites.map((s) => [s.siteId, s.areaId]));
    const why = capPlaceRefusal(
      [
        { scope: actor.areaId, label: 'your area' },
        { scope: senderAreaId, label: `the area of sender ${cap.sender}` },
      ],
      {
        areaIds: match.areaKeys.flatMap((k) => index.get(k)?.id ?? []),
        siteAreaIds: match.siteIds.flatMap((id) => siteArea.get(id) ?? []),
        hasArea: cap.info.some((i) => i.area.length > 0),
      },
      index,
    );
    if (why) throw Errors.forbidden({ rule: 'cap_area', field: 'alert/info/area', text: why });
  }

  /**
   * The lifecycle's classification (pure, with a synchronous lookup) over
   * the CAP messages it asks about, read from the store first: it runs
   * again with each round of keys it asked for and was not given, until it
   * asks for none it lacks (its own key, then its references).
   */
  private async classify(cap: CapAlert, hash: string): Promise<ReturnType<typeof classifyIncoming>> {
    const known = new Map<string, KnownAlert | undefined>();
    for (;;) {
      const missing: CapKey[] = [];
      const outcome = classifyIncoming(cap, hash, (k) => {
        const ks = capKeyString(k);
        if (known.has(ks)) return known.get(ks);
        missing.push(k);
        return undefined;
      });
      if (missing.length === 0) return outcome;
      for (const k of missing) known.set(capKeyString(k), await this.store.knownCap(k));
    }
  }

  private async alertsOf(keys: readonly CapKey[]): Promise<string[]> {
    const ids = new Set<string>();
    for (const k of keys) {
      const id = (await this.store.capMessage(k))?.alertId;
      if (id) ids.add(id);
    }
    return [...ids];
  }

  /**
   * The other languages' infos as versions of the message: their audio or
   * their text spoken is made after the alert is dispatched, like the
   * message; one that cannot be voiced is kept as missing (a warning says so).
   */
  private versions(cap: CapAlert, main: CapAlert['info'][number], title: string, actor: AlertActor, warnings: string[]): PreparedVersion[] {
    return chooseVersions(cap, main, capHasVoice, warnings).map((c): PreparedVersion => {
      switch (c.kind) {
        case 'audio': {
          const sub = c.mimeType.toLowerCase().split('/')[1] ?? '';
          const file = this.messages.tempPath(MIME_SUFFIX[sub] ?? '.audio');
          fs.writeFileSync(file, c.bytes);
          warnings.push(`version ${c.language}: the audio of its <info>`);
          return {
            language: c.language,
            message: this.messages.fromFile(file, { title, lang: c.language, actor, originalName: `cap-resource${MIME_SUFFIX[sub] ?? ''}`, capMime: c.mimeType }),
          };
        }
        case 'tts':
          warnings.push(`version ${c.language}: its <info>'s text, spoken`);
          return { language: c.language, message: this.messages.fromText(c.text, { title, lang: c.lang, actor, field: 'alert/info/headline' }) };
        case 'missing':
          warnings.push(`version ${c.language} missing: ${c.reason}; the alert plays without it`);
          return { language: c.language, missing: c.reason };
        default: {
          const never: never = c;
          return never;
        }
      }
    });
  }

  /** The embedded audio when there is one that checks out, else headline and instruction spoken. */
  private async message(cap: CapAlert, title: string, actor: AlertActor, warnings: string[]): Promise<PreparedMessage> {
    const choice = chooseSpeech(cap, capHasVoice);
    if (choice.kind === 'none') throw unprocessable('LOANET_CAP_NOTHING_TO_PLAY', 'alert/info', choice.reason);
    warnings.push(...choice.notes);
    if (choice.kind === 'audio') {
      const sub = choice.mimeType.toLowerCase().split('/')[1] ?? '';
      const file = this.messages.tempPath(MIME_SUFFIX[sub] ?? '.audio');
      fs.writeFileSync(file, choice.bytes);
      return this.messages.fromFile(file, { title, lang: choice.lang, actor, originalName: `cap-resource${MIME_SUFFIX[sub] ?? ''}`, capMime: choice.mimeType });
    }
    return this.messages.fromText(choice.text, { title, lang: choice.lang, actor, field: 'alert/info/headline' });
  }
}

/** The priority table's signal for a real alert (cap/priority.ts); a chime before every test, never a siren. */
export function attentionFor(priority: PriorityDecision, test: boolean): AttentionSignal | null {
  return test ? 'chime' : priority.attention;
}
