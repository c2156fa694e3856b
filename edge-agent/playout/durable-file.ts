/** Replacing a whole file so that a power cut leaves either the old one or the new one, never a mix or nothing. */
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Write `text` to `file.tmp`, fsync it, rename it over `file`, and fsync the directory so the rename survives too. */
export async function replaceFileDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const h = await open(tmp, 'w');
  try {
    await h.write(text);
    await h.sync();
  } finally {
    await h.close();
  }
  await rename(tmp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } catch {
    /* some file systems refuse fsync on a directory; the rename is still atomic */
  } finally {
    await dir.close();
  }
}
