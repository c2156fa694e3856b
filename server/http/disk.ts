/**
 * The HTTP side of a full disk (server/store/disk-policy.ts decides):
 * - before a request that changes something, the route's class is admitted
 *   or refused with 507 LOANET_DISK_LOW, before its body is read (an upload
 *   is refused without a byte of it written);
 * - the writes that cannot wait (login, alerts, live broadcasts) are never
 *   refused: free space is measured first, so a disk that filled since the
 *   last check gives up its reserve before SQLite needs the room;
 * - a write that fails with ENOSPC / SQLITE_FULL anyway answers 507
 *   LOANET_DISK_FULL (not 500), and gives up the reserve at once.
 * The classes are one table here, checked against the registered routes at
 * start, so a renamed route cannot silently lose its class.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Errors } from '../errors.ts';
import type { DiskSpace } from '../store/disk-space.ts';
import { isUnsafeMethod } from './session-cookie.ts';

/** Writes that cannot wait: logins, emergency alerts (their audio goes through the alerts' own media lane), live broadcasts. */
const ESSENTIAL = [
  'POST /api/auth/login',
  'POST /api/auth/logout',
  'POST /api/alerts',
  'POST /api/alerts/upload',
  'POST /api/alerts/cap',
  'POST /api/alerts/:id/cancel',
  'POST /api/alerts/:id/update',
  'POST /api/live/streams',
  'POST /api/live/streams/:id/stop',
] as const;

/** Uploads and text to speech: the large writes, paused first. */
const MEDIA = ['POST /api/media', 'POST /api/media/tts', 'POST /api/media/tts/docx'] as const;

/** Unsafe methods that write nothing (dry runs): answered whatever the disk. */
const NO_WRITE = ['POST /api/schedule/check'] as const;

type DiskClass = 'essential' | 'media' | 'none';
const CLASS = new Map<string, DiskClass>([
  ...ESSENTIAL.map((k) => [k, 'essential'] as const),
  ...MEDIA.map((k) => [k, 'media'] as const),
  ...NO_WRITE.map((k) => [k, 'none'] as const),
]);

export function registerDiskGuard(app: FastifyInstance, disk: DiskSpace): void {
  const seen = new Set<string>();
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (CLASS.has(`${m} ${r.url}`)) seen.add(`${m} ${r.url}`);
  });
  app.addHook('onReady', async () => {
    const missing = [...CLASS.keys()].filter((k) => !seen.has(k));
    if (missing.length) throw new Error(`disk guard: no route ${missing.join(', ')}; update server/http/disk.ts`);
  });
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/') || !isUnsafeMethod(req.method)) return;
    const c = CLASS.get(`${req.method} ${req.routeOptions.url ?? ''}`);
    if (c === 'none') return;
    if (c === 'essential') return disk.beforeEssentialWrite();
    disk.admit(c === 'media' ? 'media' : 'change');
  });
}

/** 507 for a write that failed on a full disk (the reserve is given up at once); false for any other error. */
export function replyDiskFull(disk: DiskSpace, err: unknown, reply: FastifyReply): FastifyReply | false {
  if (!disk.noteWriteFailure(err)) return false;
  const e = Errors.diskFull(disk.status().state);
  return reply.status(e.statusCode).send({ ...e.details, error: e.code, message: e.message, params: e.params });
}
