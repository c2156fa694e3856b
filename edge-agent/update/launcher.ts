/**
 * The first thing the agent's program does (edge-agent/main.ts): decide
 * which installed version runs (boot-select.ts), write the boot state BEFORE
 * that code runs (the trial's start counter), and, when it is an update slot
 * rather than this program, import that slot's main.mjs in this same process
 * (no second Node on a Pi's memory). The slot's program sees `LOANET_SLOT`
 * and runs itself instead of launching again.
 *
 * Anything the launcher cannot read (no config, no state folder, a boot
 * state that does not check out) runs this program: the package's program
 * always works, whatever the state folder holds.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { selectBoot, type BootDecision, type SlotCheck, type UpdateSlot } from './boot-select.ts';
import { SLOT_ENTRY, SLOT_ENV, inspectSlot, readBootState, slotDir, writeBootState } from './slots.ts';

export interface LaunchLog {
  info(m: string): void;
  warn(m: string): void;
}

/** The state folder agent.json names (relative to the file), or undefined. Reads only that field: full validation is the agent's. */
export function stateDirOf(configPath: string): string | undefined {
  try {
    const raw = JSON.parse(readFileSync(configPath, 'utf8')) as { stateDir?: unknown };
    return typeof raw.stateDir === 'string' && raw.stateDir !== '' ? resolve(dirname(configPath), raw.stateDir) : undefined;
  } catch {
    return undefined;
  }
}

/** Decide, write the boot state durably, and say what runs. */
export async function decideBoot(stateDir: string, factoryVersion: string, log: LaunchLog, now = Date.now()): Promise<BootDecision> {
  const state = await readBootState(stateDir, log.warn);
  const slots: Partial<Record<UpdateSlot, SlotCheck>> = {};
  for (const slot of new Set([state?.committed.slot, state?.trial?.slot])) {
    if (slot === 'a' || slot === 'b') slots[slot] = await inspectSlot(slotDir(stateDir, slot));
  }
  const decision = selectBoot({ state, factoryVersion, slots, now });
  for (const n of decision.notes) log.info(n);
  if (decision.write) await writeBootState(stateDir, decision.write);
  return decision;
}

/**
 * Run the right program. Returns 'self' when this program is the one to run
 * (the caller goes on starting the agent); 'slot' once a slot's program was
 * imported (it runs itself; the caller does nothing more). A slot whose
 * program throws as it loads makes this throw: the process exits, systemd
 * starts it again, and the start counter brings the board back.
 */
export async function launch(configPath: string | undefined, factoryVersion: string, log: LaunchLog): Promise<'self' | 'slot'> {
  if (process.env[SLOT_ENV]) return 'self';
  const stateDir = configPath ? stateDirOf(configPath) : undefined;
  if (!stateDir) {
    process.env[SLOT_ENV] = 'factory';
    return 'self';
  }
  let decision: BootDecision;
  try {
    decision = await decideBoot(stateDir, factoryVersion, log);
  } catch (e) {
    // A state folder that cannot be read or written: this program runs, as if nothing were installed.
    log.warn(`cannot decide which installed version runs (${(e as Error).message}): running the package program`);
    process.env[SLOT_ENV] = 'factory';
    return 'self';
  }
  process.env[SLOT_ENV] = decision.run;
  if (decision.run === 'factory') return 'self';
  log.info(`starting ${decision.version} from slot ${decision.run}${decision.trial ? ' (on trial)' : ''}`);
  await import(pathToFileURL(join(slotDir(stateDir, decision.run), SLOT_ENTRY)).href);
  return 'slot';
}
