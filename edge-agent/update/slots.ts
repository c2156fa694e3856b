/**
 * The update slots on disk, under the agent's state folder:
 *
 *     {stateDir}/boot.json            which slot is committed, which is on trial (boot-select.ts)
 *     {stateDir}/slots/a/, slots/b/   an installed release: its files, and release.json last
 *     {stateDir}/slots/a.partial/     a release being downloaded (renamed to slots/a once whole)
 *
 * A slot is whole only when its release.json is there and every file it
 * names has the size and SHA-256 the signed manifest says: release.json is
 * written last, after every file was checked, and the folder is renamed into
 * place only then, so a power cut leaves either the old slot, a partial
 * folder, or a whole new one (a partial folder whose release.json is there
 * and checks out is installed as it is: the updater fetches nothing again). The agent's entry in a slot is `main.mjs` (the
 * bundle scripts/build.ts makes, with loanet_opus.node beside it).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileMatches, ReleaseManifest } from '../../common/release.ts';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { readStateFile, writeJsonAtomic } from '../state-file.ts';
import { isBootState, type BootState, type SlotCheck, type UpdateSlot } from './boot-select.ts';

export const BOOT_FILE = 'boot.json';
export const SLOTS_DIR = 'slots';
export const RELEASE_FILE = 'release.json';
/** The program a slot runs. */
export const SLOT_ENTRY = 'main.mjs';
/** The partial slot's note of which manifest its bytes belong to (other bytes are thrown away). */
export const PARTIAL_MARK = '.manifest-sha256';
/** Set by the launcher for the program it runs: which slot it is (factory, a, b), so it does not launch again. */
export const SLOT_ENV = 'LOANET_SLOT';

const checkManifest = TypeCompiler.Compile(ReleaseManifest);

/** What release.json holds: the manifest's exact signed bytes (base64), its signatures, and the version. */
export interface InstalledRelease {
  format: 1;
  version: string;
  releaseId: string;
  manifest: string;
  signatures: unknown[];
}

export function slotDir(stateDir: string, slot: UpdateSlot): string {
  return join(stateDir, SLOTS_DIR, slot);
}

export function partialDir(stateDir: string, slot: UpdateSlot): string {
  return join(stateDir, SLOTS_DIR, `${slot}.partial`);
}

export async function readBootState(stateDir: string, warn: (m: string) => void): Promise<BootState | undefined> {
  const read = await readStateFile(join(stateDir, BOOT_FILE), 'boot state', warn);
  if (read.value === undefined) return undefined;
  if (!isBootState(read.value)) {
    warn(`ignoring the boot state in ${join(stateDir, BOOT_FILE)}: not a boot state this agent understands`);
    return undefined;
  }
  return read.value;
}

export function writeBootState(stateDir: string, state: BootState): Promise<void> {
  return writeJsonAtomic(join(stateDir, BOOT_FILE), state, { mode: 0o600 });
}

/** SHA-256 and size of a file, streamed (a bundle of a few MiB; never read whole into memory). */
export async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
    size += (chunk as Buffer).length;
    h.update(chunk as Buffer);
  }
  return { size, sha256: h.digest('hex') };
}

/** The manifest a slot's release.json holds, when it parses. */
export async function readInstalledRelease(dir: string): Promise<{ release: InstalledRelease; manifest: ReleaseManifest } | { why: string }> {
  let raw: unknown;
  try {
    const bytes = await readFile(join(dir, RELEASE_FILE));
    if (bytes.length > 256 * 1024) return { why: `${RELEASE_FILE} of ${bytes.length} bytes` };
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return { why: (e as NodeJS.ErrnoException).code === 'ENOENT' ? `no ${RELEASE_FILE}` : `${RELEASE_FILE}: ${(e as Error).message}` };
  }
  const r = raw as Partial<InstalledRelease> | null;
  if (r?.format !== 1 || typeof r.manifest !== 'string' || typeof r.version !== 'string' || typeof r.releaseId !== 'string' || !Array.isArray(r.signatures)) {
    return { why: `${RELEASE_FILE} is not an installed release` };
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(Buffer.from(r.manifest, 'base64').toString('utf8'));
  } catch {
    return { why: `${RELEASE_FILE}: the manifest is not JSON` };
  }
  if (!checkManifest.Check(manifest)) return { why: `${RELEASE_FILE}: not a valid manifest` };
  if (manifest.version !== r.version) return { why: `${RELEASE_FILE}: version ${r.version} but the manifest says ${manifest.version}` };
  return { release: r as InstalledRelease, manifest };
}

/** Whether a slot is whole: release.json, the entry, and every file as its manifest says. */
export async function inspectSlot(dir: string): Promise<SlotCheck> {
  const read = await readInstalledRelease(dir);
  if ('why' in read) return { ok: false, why: read.why };
  const { manifest } = read;
  if (!manifest.files.some((f) => f.path === SLOT_ENTRY)) return { ok: false, why: `the release has no ${SLOT_ENTRY}` };
  for (const f of manifest.files) {
    const path = join(dir, f.path);
    try {
      const st = await stat(path);
      if (st.size !== f.size) return { ok: false, why: `${f.path}: ${st.size} bytes, the manifest says ${f.size}` };
      const got = await hashFile(path);
      if (!fileMatches(f, got.size, got.sha256)) return { ok: false, why: `${f.path} does not match its SHA-256` };
    } catch (e) {
      return { ok: false, why: `${f.path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message}` };
    }
  }
  return { ok: true, version: manifest.version };
}

export async function installedManifestSha(dir: string): Promise<string | undefined> {
  try {
    const r = JSON.parse(await readFile(join(dir, RELEASE_FILE), 'utf8')) as InstalledRelease;
    return createHash('sha256').update(Buffer.from(r.manifest, 'base64')).digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * Make the partial slot the slot: the download's sidecars removed, release.json written and
 * fsynced last, the old inactive slot removed, the folder renamed into place and the parent fsynced.
 */
export async function installSlot(
  stateDir: string,
  slot: UpdateSlot,
  release: InstalledRelease,
  o: { /** The download's own notes beside its files (download.ts isDownloadSidecar). */ isScratch: (name: string) => boolean; beforeRename: () => Promise<void> },
): Promise<void> {
  const partial = partialDir(stateDir, slot);
  for (const name of await readdir(partial, { recursive: true })) {
    if (o.isScratch(name) || name.endsWith(PARTIAL_MARK)) await rm(join(partial, name), { force: true });
  }
  const rf = join(partial, RELEASE_FILE);
  const h = await open(rf, 'w', 0o600);
  try {
    await h.writeFile(JSON.stringify(release));
    await h.sync();
  } finally {
    await h.close();
  }
  await o.beforeRename();
  const target = slotDir(stateDir, slot);
  await rm(target, { recursive: true, force: true });
  await rename(partial, target);
  const d = await open(join(stateDir, SLOTS_DIR), 'r');
  try {
    await d.sync();
  } catch {
    /* a file system without directory fsync: the rename is still atomic */
  } finally {
    await d.close();
  }
}
