/**
 * A disk that can be filled, for the full-disk tests: a tmpfs the test mounts
 * (root only) and fills with a file until the kernel answers ENOSPC, and a
 * site as a plain MQTT client that reports receipts and records which the
 * server acknowledged as stored, so a test can tell what was kept.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeEventAck, siteTopic, type AsRunEvent } from '../../protocol/index.ts';
import type { ToolCheck } from './require-tool.ts';
import { tempDir, type TestServer } from './server.ts';

export const MB = 1024 * 1024;

/** A tmpfs of `sizeMb` at a fresh folder, or why not. */
export function mountTmpfs(sizeMb: number): { dir: string } | { why: string } {
  const dir = tempDir('loanet-disk-full-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { dir };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { why: (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message };
  }
}

export function unmount(dir: string): void {
  execFileSync('umount', ['-l', dir]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** For haveTools(): a tmpfs can be mounted here (root), or why not. */
export const TMPFS: ToolCheck = {
  name: 'a tmpfs mount (a disk that can be filled)',
  install: 'run the tests as root (CI does), or where mount -t tmpfs is allowed',
  present: () => {
    const probe = mountTmpfs(1);
    if (!('dir' in probe)) return probe.why;
    unmount(probe.dir);
    return true;
  },
};

/** Write `file` until the kernel says ENOSPC (1 MiB, then 4 KiB steps): the disk is then full to the last block. */
export function fillDisk(file: string, leaveBytes = 0): void {
  const fd = fs.openSync(file, 'a');
  try {
    for (const step of [MB, 4096]) {
      const buf = Buffer.alloc(step, 0x55);
      for (;;) {
        if (leaveBytes > 0 && fs.statfsSync(path.dirname(file)).bavail * fs.statfsSync(path.dirname(file)).bsize - step < leaveBytes) break;
        try {
          fs.writeSync(fd, buf);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export const freeOf = (dir: string) => {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
};

/**
 * A refusal must not hang (say, behind SQLite's 5 s busy wait on a write that cannot succeed): how fast it came is
 * printed (a figure: on a busy machine any request may take seconds); HANG_MS only catches a hang, with the request named.
 */
export const HANG_MS = 30_000;

export async function timed<T>(fn: () => Promise<T>): Promise<{ r: T; ms: number }> {
  const t0 = performance.now();
  const r = await fn();
  return { r, ms: performance.now() - t0 };
}

export interface Cluster {
  client: MqttClient;
  got: Array<{ topic: string; text: string }>;
  /** Keys the server acknowledged as stored, and as refused for good (protocol/event-ack.ts). */
  acked: Set<string>;
  refused: Set<string>;
}

/** A cluster as a plain MQTT client: what arrives on its area control channels, and the acks of what it reported. */
export async function listen(t: TestServer, s: { siteId: string; secret: string }, channels: string[]): Promise<Cluster> {
  const client = await mqtt.connectAsync(t.mqttUrl, { clientId: s.siteId, username: s.siteId, password: s.secret, protocolVersion: 4, reconnectPeriod: 0 });
  const got: Array<{ topic: string; text: string }> = [];
  const acked = new Set<string>();
  const refused = new Set<string>();
  const ackTopic = siteTopic(s.siteId, 'ack');
  client.on('message', (topic, payload) => {
    if (topic !== ackTopic) return void got.push({ topic, text: payload.toString('utf8') });
    const d = decodeEventAck.decode(payload);
    if (d.ok) for (const k of d.value.stored) acked.add(k);
    if (d.ok) for (const r of d.value.refused ?? []) refused.add(r.key);
  });
  await client.subscribeAsync([...channels.map((k) => `loanet/v1/areas/${k}/control`), ackTopic], { qos: 1 });
  return { client, got, acked, refused };
}

/** What the site's journal does: send each receipt (again) over QoS 1. */
export async function report(c: Cluster, siteId: string, receipts: AsRunEvent[]): Promise<void> {
  for (const r of receipts) await c.client.publishAsync(siteTopic(siteId, 'event'), JSON.stringify(r), { qos: 1 });
}

/** The i-th receipt of a site's bulletin (item `itm-<tag>`): one a second, the first scheduled a minute before `at`. */
export function receipt(siteId: string, i: number, at: number, tag = 'disk'): AsRunEvent {
  const scheduledAt = at - 60_000 + i * 1000;
  return {
    v: 1,
    siteId,
    at,
    type: 'as_run',
    entryId: `itm-${tag}@${scheduledAt}`,
    kind: 'bulletin',
    itemId: `itm-${tag}`,
    mediaId: `med-${tag}`,
    scheduledAt,
    outcome: 'played',
    startedAt: scheduledAt,
    endedAt: scheduledAt + 900,
    startErrorMs: 0,
    frames: 45,
  };
}
