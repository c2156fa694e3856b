/**
 * The agent's state lost or damaged, as a power cut or a failing flash card
 * leaves it (issue 13, item 6): real agent processes
 * (the built agent, `--config FILE`), a real server
 * (HTTP, embedded broker on TCP, SQLite, ffmpeg-made media), the simulated
 * amplifier over the device protocol on TCP (in this process, so what it
 * played can be read), and a TCP relay in front of the broker that the test
 * switches off and on (the site's 4G link).
 *
 * 1. The receipt journal wiped after an offline play: the server hears
 *    "unknown", not "skipped, the agent was not running", and nothing plays
 *    twice.
 * 2. playlist.json torn while offline: the agent plays from the previous
 *    good copy, and no receipt claims it was not running.
 * 3. alerts.json wiped after an alert completed, restart while the alert is
 *    still retained and valid: it asks the server and does not play it again.
 * 4. kill -9 of a process writing state continually, and the newest file
 *    then torn as a power cut without fsync leaves it: the state always reads
 *    as a valid state, the one written last or the one before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStateFile } from '../../edge-agent/state-file.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';
import { uploadTone, UPLOAD_HOOK_TIMEOUT_MS } from '../helpers/media.ts';
import { haveTools } from '../helpers/require-tool.ts';
import { holdsPlaylist as agentHoldsPlaylist, makeAgentSite, scheduleOnce, type AgentSite } from '../helpers/agent-site.ts';
import { agentCli, stopAllProcesses, stopProcess, tsNode } from '../helpers/process.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const canRun = haveTools('ffmpeg');
const COMMUNE = '02683';
/** The alert's site has a commune of its own: the alert reaches no other test's site. */
const ALERT_COMMUNE = '02680';
const BULLETIN_S = 2;
const FRAMES = (BULLETIN_S * 1000) / 20;

let t: TestServer;
let dir: string;
let mediaId: string;

type Site = AgentSite;
const makeSite = (name: string, area = COMMUNE) => makeAgentSite(t, dir, { name, area, seed: 13, areaChannels: true });

const online = (s: Site) => waitFor(`${s.id} online`, async () => (await t.api('GET', `/api/sites/${s.id}`)).body.status?.connected === true, 30_000, 100);

const schedule = (title: string, at: number, siteId: string) => scheduleOnce(t, { title, mediaId, at, siteId });
const holdsPlaylist = (siteId: string, entries: number) => agentHoldsPlaylist(t, siteId, entries);

const journalHas = (s: Site, entryId: string) => {
  try {
    return fs
      .readFileSync(path.join(s.stateDir, 'asrun.journal'), 'utf8')
      .split('\n')
      .some((l) => l.includes('"r":') && l.includes(entryId));
  } catch {
    return false;
  }
};
const heardRuns = (s: Site) =>
  s.device
    .playedAudio()
    .runs.filter((r) => r.heardFrames > 0)
    .map((r) => r.heardFrames);
const receiptsOf = (siteId: string) => t.server.ctx.asRun.list({ siteIds: [siteId], from: 0, to: Date.now() + 3_600_000 });

beforeAll(async () => {
  if (!canRun) return;
  dir = tempDir('loanet-state-loss-');
  t = await startTestServer();
  await importLaoCai2025(t);
  mediaId = await uploadTone(t, dir, { title: 'Bản tin thử', seconds: BULLETIN_S });
}, UPLOAD_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await stopAllProcesses();
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canRun)("the agent's state lost or damaged", () => {
  it('receipt journal wiped after an offline play: the receipt says unknown, never "skipped, the agent was not running"', async () => {
    const s = await makeSite('Cụm loa thôn (mất nhật ký)');
    let agent = agentCli('--config', s.config);
    await online(s);
    const at = Date.now() + 12_000;
    const itemId = await schedule('Bản tin phát khi mất sóng', at, s.id);
    const entryId = `${itemId}@${at}`;
    await holdsPlaylist(s.id, 1);

    await s.relay.down();
    await waitFor('the receipt written to the journal', () => journalHas(s, entryId), at - Date.now() + BULLETIN_S * 1000 + 15_000, 100);
    expect(heardRuns(s)).toEqual([FRAMES]); // heard in full, offline, from the cache
    await stopProcess(agent);
    fs.rmSync(path.join(s.stateDir, 'asrun.journal')); // the card lost it

    await s.relay.up();
    agent = agentCli('--config', s.config);
    const receipts = await waitFor(
      'a receipt at the server',
      async () => {
        const l = await receiptsOf(s.id);
        return l.length ? l : undefined;
      },
      40_000,
      100,
    );
    expect(receipts).toHaveLength(1);
    expect(receipts[0], JSON.stringify(receipts[0])).toMatchObject({ entryId, outcome: 'unknown', reason: 'state_lost' });
    expect(receipts[0]!.detail).not.toMatch(/not running/);
    const lines = (await t.api('GET', `/api/as-run?area=${COMMUNE}&from=${at - 60_000}&to=${at + 60_000}&site=${s.id}`)).body.lines;
    expect(lines).toEqual([expect.objectContaining({ entryId, status: 'unknown', source: 'agent' })]);
    expect(heardRuns(s)).toEqual([FRAMES]); // and not played a second time
    await stopProcess(agent);
  }, 150_000);

  it('playlist.json torn while offline: it plays from the previous good copy, and nothing claims the agent was not running', async () => {
    const s = await makeSite('Cụm loa thôn (danh sách hỏng)');
    let agent = agentCli('--config', s.config);
    await online(s);
    // The bulletin, far enough ahead for two playlist versions, a kill and a restart before it (these take ~10 s, more on a busy machine).
    const at = Date.now() + 40_000;
    const itemId = await schedule('Bản tin sau khi mất điện', at, s.id);
    const entryId = `${itemId}@${at}`;
    const v1 = await holdsPlaylist(s.id, 1);
    // A second item makes a second version; the first becomes the previous copy.
    await schedule('Bản tin buổi tối', Date.now() + 3_600_000, s.id);
    const v2 = await holdsPlaylist(s.id, 2);
    expect(v2).not.toBe(v1);

    await s.relay.down();
    await stopProcess(agent);
    const file = path.join(s.stateDir, 'playlist.json');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2))); // torn mid-file
    agent = agentCli('--config', s.config);
    await waitFor('the receipt written to the journal', () => journalHas(s, entryId), at - Date.now() + BULLETIN_S * 1000 + 20_000, 100);
    expect(heardRuns(s)).toEqual([FRAMES]);

    await s.relay.up();
    const receipt = await waitFor('its receipt at the server', async () => (await receiptsOf(s.id)).find((r) => r.entryId === entryId), 30_000, 100);
    expect(receipt).toMatchObject({ outcome: 'played', frames: FRAMES });
    await waitFor('the newest playlist held again', async () => (await holdsPlaylist(s.id, 2)) === v2, 30_000, 200);
    expect((await receiptsOf(s.id)).filter((r) => /not running/.test(r.detail ?? ''))).toEqual([]);
    expect(agent.text()).toMatch(/using the previous good copy/);
    await stopProcess(agent);
  }, 180_000);

  it('alerts.json wiped after an alert completed: restarted while it is still retained and valid, the site does not play it again', async () => {
    const s = await makeSite('Cụm loa thôn (mất bộ nhớ cảnh báo)', ALERT_COMMUNE);
    let agent = agentCli('--config', s.config);
    await online(s);
    const started = await t.api('POST', '/api/alerts', {
      areas: [ALERT_COMMUNE],
      message: { mediaId },
      attention: null,
      repeats: 1,
      validForMinutes: 30,
      title: 'Cảnh báo lũ quét (thử)',
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const alertId = started.body.id as string;
    try {
      await waitFor('the site completed the alert at the server', async () => (await t.api('GET', `/api/alerts/${alertId}`)).body.delivery.counts.completed === 1, 60_000, 200);
    } catch (e) {
      throw new Error(
        `${(e as Error).message}; the server's row: ${JSON.stringify((await t.api('GET', `/api/alerts/${alertId}/sites/${s.id}`)).body)}; heard frames: ${s.device.playedAudio().totals.heardFrames}; the agent said:\n${agent.text()}`,
      );
    }
    const heard = s.device.playedAudio().totals.heardFrames;
    expect(heard).toBeGreaterThanOrEqual(FRAMES);

    await stopProcess(agent);
    for (const f of ['alerts.json', 'alerts.json.prev']) fs.rmSync(path.join(s.stateDir, f), { force: true });
    agent = agentCli('--config', s.config);
    await online(s);
    // Either it says it asked and will not play it, or the amplifier plays it again: whichever comes first.
    await waitFor(
      'the agent to decide about the retained alert',
      () => /already completed here/.test(agent.text()) || s.device.playedAudio().totals.heardFrames > heard,
      30_000,
      100,
    );
    expect(s.device.playedAudio().totals.heardFrames, agent.text()).toBe(heard);
    // It remembers again: a later copy of the same alert is ignored without asking.
    await waitFor(
      'the alert remembered on disk again',
      async () =>
        ((await readStateFile(path.join(s.stateDir, 'alerts.json'), 'alerts', () => {})).value as Record<string, { outcome: string }> | undefined)?.[alertId]?.outcome ===
        'completed',
      10_000,
      100,
    );
    await t.api('POST', `/api/alerts/${alertId}/cancel`);
    await stopProcess(agent);
  }, 180_000);

  it('kill -9 while state is written, in a loop, then the newest copy torn as a power cut leaves it: the state always reads as the last or the one before', async () => {
    const stateDir = path.join(dir, 'writer');
    const file = path.join(stateDir, 'commands.json');
    // Writes {n, pad} as fast as it can, printing n once each write has resolved.
    const script = `
      import { writeJsonAtomic } from './edge-agent/state-file.ts';
      for (let n = 1; ; n++) {
        const pad = 'x'.repeat((n * 7919) % 4000);
        await writeJsonAtomic(${JSON.stringify(file)}, { v: 1, n, len: pad.length, pad });
        process.stdout.write(n + '\\n');
      }`;
    const scriptFile = path.join(dir, 'state-writer.mts');
    fs.writeFileSync(scriptFile, script.replace("'./edge-agent/state-file.ts'", JSON.stringify(path.join(ROOT, 'edge-agent/state-file.ts'))));
    let lastWritten = 0;
    for (let round = 0; round < 12; round++) {
      const writer = tsNode(scriptFile);
      const target = lastWritten + 5 + ((round * 37) % 40);
      await waitFor(
        `writer round ${round} past write ${target}`,
        () => {
          const ns = writer.text().split('\n').filter(Boolean).map(Number);
          return ns.length && ns[ns.length - 1]! >= target ? true : undefined;
        },
        30_000,
        1,
      );
      await stopProcess(writer);
      const printed = writer.text().split('\n').filter(Boolean).map(Number);
      const acked = printed[printed.length - 1]!;
      // A power cut can lose what was not fsynced yet: tear the newest copy somewhere.
      if (round % 2 === 1 && fs.existsSync(file)) {
        const bytes = fs.readFileSync(file);
        fs.writeFileSync(file, bytes.subarray(0, (round * 131) % bytes.length));
      }
      const r = await readStateFile(file, 'state', () => {});
      const v = r.value as { v: number; n: number; len: number; pad: string } | undefined;
      expect(v, `round ${round}: nothing readable (${r.from}, damaged ${r.damaged})`).toBeDefined();
      expect(v!.pad.length).toBe(v!.len);
      // The last acknowledged write or the one before it (the newest torn), or one in flight past it.
      expect(v!.n, `round ${round}: read ${v!.n} from ${r.from}, last acknowledged ${acked}`).toBeGreaterThanOrEqual(acked - 1);
      lastWritten = v!.n;
      // The next writer resumes from what is on disk, as an agent would (its numbers continue).
      fs.writeFileSync(scriptFile, fs.readFileSync(scriptFile, 'utf8').replace(/let n = \d+;/, `let n = ${v!.n + 1};`));
    }
  }, 180_000);
});
