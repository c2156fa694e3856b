/**
 * `stateDir/run.json`: proof that the agent ran before with this state
 * folder. Without it, a missing receipt journal or alert memory cannot be
 * told apart from a new board's empty folder: with it, "absent" means "lost"
 * (wiped, or a card that came back empty), and the agent says `unknown`
 * rather than guess (edge-agent/playout/missed.ts) and asks the server before
 * playing an alert again (edge-agent/alerts/handler.ts).
 *
 * Written once per start (state-file.ts: durable and checksummed), so it
 * costs one small write per boot, nothing while running.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readStateFile, writeJsonAtomic } from './state-file.ts';

export const RUN_MARKER_FILE = 'run.json';

export interface RunHistory {
  /** The folder held a run marker (or its damaged remains): the agent ran here before. */
  ranBefore: boolean;
  /** Each of the `files` asked about that is absent although the agent ran before. */
  lost: ReadonlySet<string>;
}

/**
 * Read the marker and note which of `files` (names in `stateDir`) are
 * missing although the agent ran here before. Call before anything creates
 * those files, and `markRun` once they exist.
 */
export async function readRunHistory(stateDir: string, files: readonly string[], log: { warn(m: string): void }): Promise<RunHistory & { firstStartAt: number | null }> {
  const read = await readStateFile(join(stateDir, RUN_MARKER_FILE), 'run marker', (m) => log.warn(m));
  const ranBefore = !read.absent;
  const lost = new Set<string>();
  if (ranBefore) {
    for (const f of files) {
      try {
        await stat(join(stateDir, f));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') lost.add(f);
      }
    }
  }
  const prior = read.value as { firstStartAt?: unknown } | undefined;
  return { ranBefore, lost, firstStartAt: typeof prior?.firstStartAt === 'number' ? prior.firstStartAt : null };
}

/** Write the marker for this run. One that cannot be written is reported and does not stop the agent. */
export async function markRun(stateDir: string, history: { firstStartAt: number | null }, now: number, log: { warn(m: string): void }): Promise<void> {
  const file = join(stateDir, RUN_MARKER_FILE);
  try {
    await writeJsonAtomic(file, { v: 1, firstStartAt: history.firstStartAt ?? now, startedAt: now });
  } catch (e) {
    log.warn(`cannot write the run marker ${file}: ${(e as Error).message}`);
  }
}
