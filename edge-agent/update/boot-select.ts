/**
 * Which program a board runs at this start: the package's own ("factory"),
 * or an update installed in slot `a` or `b` under the state folder. Pure:
 * the boot state and what the slots hold in, a decision (and the boot state
 * to write before the chosen code runs) out. The launcher
 * (edge-agent/update/launcher.ts) reads the files, writes the new state
 * durably, then runs the chosen slot.
 *
 * Like a bootloader's boot counter (MCUboot's test swap, Mender's
 * upgrade_available + bootcount): a new version on trial is started at most
 * TRIAL_STARTS times, the count written before each start, so a version that
 * crashes before it can say anything still runs out of tries; the next start
 * goes back to the committed version and records `crash_loop`. Only the trial
 * version itself, once its health check passed, makes itself the committed
 * one (edge-agent/update/updater.ts).
 *
 * What never leaves a board without a working agent:
 * - no boot state, or one that does not check out: the factory program;
 * - a committed slot whose files are missing or do not match their manifest: the factory program;
 * - a factory program newer than the committed slot (apt upgraded the package): the factory program,
 *   which becomes the committed one (a slot never downgrades what apt installed).
 */
import { compareVersions } from '../../common/release.ts';
import type { UpdateFailureReason } from '../../protocol/index.ts';

export const BOOT_FORMAT = 1;
/** Starts a version on trial gets before the board returns to the committed one. */
export const TRIAL_STARTS = 3;
/**
 * Starts in a row a committed update may make, each ending before it reached
 * the server or stayed up two minutes, before the board falls back to the
 * package's program: a version that passed its health check and later cannot
 * start (a configuration it mishandles, a card that corrupted what it reads)
 * must not keep a village silent. The running agent resets the count.
 */
export const COMMITTED_STARTS = 5;

export type SlotName = 'factory' | 'a' | 'b';
export type UpdateSlot = Exclude<SlotName, 'factory'>;

export interface TrialState {
  slot: UpdateSlot;
  version: string;
  rolloutId: string;
  releaseId: string;
  /** The version the trial replaces (what a rollback returns to). */
  fromVersion: string;
  /** Starts made so far (written before each start). */
  tries: number;
  /** When the switch was made (epoch ms). */
  since: number;
}

/** How the last switch ended, for the report the committed version sends after a rollback (or the new one after its commit). */
export interface BootOutcome {
  rolloutId: string;
  releaseId: string;
  version: string;
  fromVersion: string;
  state: 'updated' | 'rolled_back';
  reason?: UpdateFailureReason;
  detail?: string;
  at: number;
}

export interface BootState {
  format: typeof BOOT_FORMAT;
  /** `starts`: starts of a committed update since it last reached the server (absent: none). */
  committed: { slot: SlotName; version: string; starts?: number };
  trial?: TrialState;
  last?: BootOutcome;
}

/** What a slot holds, as the launcher found it: its version when every file matches its manifest, else why not. */
export type SlotCheck = { ok: true; version: string } | { ok: false; why: string };

export interface BootInputs {
  /** The boot state read from disk; undefined when there is none or it does not check out. */
  state: BootState | undefined;
  /** The version of the package's own program. */
  factoryVersion: string;
  /** What slots a and b hold (only those the state names need be checked). */
  slots: Partial<Record<UpdateSlot, SlotCheck>>;
  now: number;
}

export interface BootDecision {
  run: SlotName;
  version: string;
  /** Whether the chosen slot runs on trial (its health check decides). */
  trial: boolean;
  /** The state to write durably BEFORE the chosen code runs; undefined: unchanged. */
  write: BootState | undefined;
  /** What happened, for the log (one line each). */
  notes: string[];
}

/** Whether a value read from disk is a boot state this code understands (a board's files are hostile input too). */
export function isBootState(v: unknown): v is BootState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  if (s.format !== BOOT_FORMAT) return false;
  const c = s.committed as Record<string, unknown> | undefined;
  if (!c || !isSlot(c.slot) || typeof c.version !== 'string') return false;
  if (s.trial !== undefined) {
    const t = s.trial as Record<string, unknown> | null;
    if (!t || typeof t !== 'object') return false;
    if ((t.slot !== 'a' && t.slot !== 'b') || typeof t.version !== 'string' || typeof t.rolloutId !== 'string' || typeof t.releaseId !== 'string') return false;
    if (typeof t.fromVersion !== 'string' || !Number.isInteger(t.tries) || (t.tries as number) < 0 || typeof t.since !== 'number') return false;
  }
  if (s.last !== undefined && (typeof s.last !== 'object' || s.last === null || typeof (s.last as Record<string, unknown>).rolloutId !== 'string')) return false;
  return true;
}

function isSlot(v: unknown): v is SlotName {
  return v === 'factory' || v === 'a' || v === 'b';
}

/** The slot an update installs into: the one not committed (and never the one on trial's partner if a trial runs). */
export function inactiveSlot(state: BootState | undefined): UpdateSlot {
  return state?.committed.slot === 'a' ? 'b' : 'a';
}

/** Decide which slot runs at this start. */
export function selectBoot(i: BootInputs): BootDecision {
  const notes: string[] = [];
  const factory = (write: BootState | undefined): BootDecision => ({ run: 'factory', version: i.factoryVersion, trial: false, write, notes });
  const s = i.state;
  if (!s) {
    notes.push('no boot state: running the package program');
    return factory({ format: BOOT_FORMAT, committed: { slot: 'factory', version: i.factoryVersion } });
  }
  let state: BootState = s;
  let changed = false;
  const t = s.trial;
  if (t) {
    const check = i.slots[t.slot];
    const end = (reason: UpdateFailureReason, detail: string): void => {
      notes.push(`the trial of ${t.version} in slot ${t.slot} ends: ${detail}`);
      const { trial: _, ...rest } = state;
      state = {
        ...rest,
        last: { rolloutId: t.rolloutId, releaseId: t.releaseId, version: t.version, fromVersion: t.fromVersion, state: 'rolled_back', reason, detail, at: i.now },
      };
      changed = true;
    };
    if (t.slot === s.committed.slot) end('install_failed', `slot ${t.slot} is also the committed one`);
    else if (!check?.ok) end('install_failed', `slot ${t.slot} does not check out (${check ? check.why : 'not inspected'})`);
    else if (check.version !== t.version) end('install_failed', `slot ${t.slot} holds ${check.version}, not ${t.version}`);
    else if (compareVersions(i.factoryVersion, t.version) > 0) end('install_failed', `the package program ${i.factoryVersion} is newer than ${t.version} (apt upgraded it)`);
    else if (t.tries >= TRIAL_STARTS) end('crash_loop', `started ${t.tries} times without passing its health check`);
    else {
      const next: BootState = { ...s, trial: { ...t, tries: t.tries + 1 } };
      notes.push(`running ${t.version} from slot ${t.slot} on trial (start ${t.tries + 1} of ${TRIAL_STARTS})`);
      return { run: t.slot, version: t.version, trial: true, write: next, notes };
    }
  }
  const c = state.committed;
  if (c.slot === 'factory') {
    if (c.version !== i.factoryVersion) {
      state = { ...state, committed: { slot: 'factory', version: i.factoryVersion } };
      changed = true;
    }
    return factory(changed ? state : undefined);
  }
  const check = i.slots[c.slot];
  if (!check?.ok || check.version !== c.version) {
    const why = !check ? 'not inspected' : !check.ok ? check.why : `it holds ${check.version}, not ${c.version}`;
    notes.push(`the committed slot ${c.slot} (${c.version}) does not check out (${why}): running the package program ${i.factoryVersion}`);
    return factory({ ...state, committed: { slot: 'factory', version: i.factoryVersion } });
  }
  if (compareVersions(i.factoryVersion, c.version) > 0) {
    notes.push(`the package program ${i.factoryVersion} is newer than slot ${c.slot}'s ${c.version} (apt upgraded it): running it`);
    return factory({ ...state, committed: { slot: 'factory', version: i.factoryVersion } });
  }
  const starts = (c.starts ?? 0) + 1;
  if (starts > COMMITTED_STARTS) {
    notes.push(`${c.version} in slot ${c.slot} started ${COMMITTED_STARTS} times without reaching the server: running the package program ${i.factoryVersion}`);
    return factory({ ...state, committed: { slot: 'factory', version: i.factoryVersion } });
  }
  return { run: c.slot, version: c.version, trial: false, write: { ...state, committed: { ...c, starts } }, notes };
}
