/**
 * Tells admins, on every page, that the data folder's disk is filling:
 * what the server has paused and what to free (GET /api/health, `disk`).
 * Operators see the 507 of what they tried instead; only an admin can free space.
 */
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { t, type StringKey } from '../i18n.ts';
import type { DiskHealth, Health } from '../../../api/index.ts';

export type { DiskHealth };

/** Asked again on every page change too: a full disk is what an admin must not miss. */
const POLL_MS = 30_000;

const mb = (bytes: number) => (bytes >= 10 * 1024 ** 3 ? `${Math.floor(bytes / 1024 ** 3)} GB` : `${Math.floor(bytes / 1024 ** 2)} MB`);

export function DiskBanner(props: { path: string }) {
  const [disk, setDisk] = useState<DiskHealth | null>(null);
  useEffect(() => {
    let timer = 0;
    let stopped = false;
    const load = (): void => {
      get<Health>('/api/health')
        .then(
          (r) => !stopped && setDisk(r.disk),
          () => undefined,
        )
        .finally(() => {
          if (!stopped) timer = window.setTimeout(load, POLL_MS);
        });
    };
    load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [props.path]);
  if (!disk || disk.state === 'ok') return null;
  const paused = disk.refusing.map((w) => t(`diskPaused_${w}` as StringKey)).join(', ');
  return (
    <div class={`disk-banner disk-${disk.state}`} role="alert" data-testid="disk-banner" data-state={disk.state}>
      <strong>{t(`disk_${disk.state}` as StringKey, { free: mb(disk.freeBytes), reserve: mb(disk.reserve.bytes) })}</strong>
      {paused && <span> {t('diskPaused', { what: paused })}</span>}
      <span> {t('diskWhatToFree')}</span>
    </div>
  );
}
