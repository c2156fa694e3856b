/**
 * The agent's small JSON state files in its stateDir (command ledger,
 * settings, playlist, alert memory): written whole to a temp file and renamed,
 * so a power cut leaves either the old file or the new one, never half of one;
 * read back as "nothing yet" when absent. (The as-run journal is not one of
 * these: it appends and fsyncs, edge-agent/playout/receipts.ts.)
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Write `value` as JSON to `file` atomically, creating its folder. Throws what the file system says. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, file);
}

/**
 * The parsed JSON in `file`, or undefined when there is none yet. An
 * unreadable or unparsable file is reported through `warn` (naming it and
 * `what` it holds) and read as none: the agent starts from its defaults
 * rather than not at all.
 */
export async function readJsonFile(file: string, what: string, warn: (m: string) => void): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn(`ignoring unreadable ${what} ${file}: ${(e as Error).message}`);
    return undefined;
  }
}
