/**
 * Bytes on the wire per updated site against the release's size (issue:
 * "bytes on the wire per updated site compared with the release size, resume
 * after cuts included"). A real server (its release routes and rollout
 * service, embedded broker), a signed agent release uploaded through the
 * API, and simulated sites (firmware-sim/fleet-runner.ts, option `update`:
 * the real updater, its Range download, the switch and the health check),
 * each taken to the release by a rollout of its own, one at a time:
 *
 *   clean        nothing goes wrong
 *   cut 1×       the link drops once in the middle of the biggest file; the
 *                agent resumes with Range
 *   cut 3×       drops three times in that file
 *
 * Per site: HTTP (manifest, signatures, files: bodies and headers both ways,
 * through a proxy that counts them and makes the cuts), MQTT (the order and
 * the cleared order the server publishes, the update_status events, the
 * `update` a heartbeat carries while the update runs; PUBACKs counted), and
 * what the agent itself counted against its budget; each as a ratio to the
 * release size, the cases side by side. Nothing here is timed.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { boardArch } from '../../edge-agent/update/updater.ts';
import { FleetRunner } from '../../firmware-sim/fleet-runner.ts';
import { siteTopic, type TelemetryMessage, type UpdateReport } from '../../protocol/index.ts';
import { LoanetClient } from '../../tools/api-client.ts';
import { startFaultyProxy, type ProxyBehaviour } from '../helpers/faulty-proxy.ts';
import { publishPacket } from '../helpers/mqtt-bytes.ts';
import { makeRelease, makeSigningKey } from '../helpers/release-server.ts';
import { startTestServer, waitFor } from '../helpers/server.ts';
import { printTable, type BenchResult } from './lib/result.ts';

const COMMUNE = '02683'; // Xã Bát Xát
/** An MQTT PUBACK: fixed header and packet id. */
const PUBACK = 4;
const FINAL = new Set(['updated', 'failed', 'rolled_back', 'cancelled']);

export async function runUpdateBytesBench(opts: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const log = opts.log ?? (() => {});
  const perCase = opts.quick ? 1 : 4;
  // A bundle about an agent's size (main.mjs ~1.8 MB, the decoder ~0.4 MB), incompressible as built code nearly is.
  const mainBytes = opts.quick ? 150_000 : 1_800_000;
  const decoderBytes = opts.quick ? 40_000 : 400_000;
  const key = makeSigningKey();
  const release = makeRelease({
    id: 'agent-99-5-0',
    version: '99.5.0',
    key,
    arch: boardArch() ?? 'amd64',
    files: { 'main.mjs': randomBytes(mainBytes), 'loanet_opus.node': randomBytes(decoderBytes) },
  });
  const cases: Array<{ name: string; cuts: number }> = [
    { name: 'clean', cuts: 0 },
    { name: 'cut 1×', cuts: 1 },
    { name: 'cut 3×', cuts: 3 },
  ];
  const t = await startTestServer({ LOANET_HEARTBEAT_S: '2' });
  const proxy = await startFaultyProxy(t.baseUrl);
  let fleet: FleetRunner | undefined;
  try {
    await t.api('POST', '/api/areas/import?version=2025', fs.readFileSync(path.resolve(import.meta.dirname, '../../server/registry/vn-admin/lao-cai-2025.csv'), 'utf8'), {
      contentType: 'text/csv',
    });
    fs.writeFileSync(path.join(t.dataDir, 'release-keys', 'bench.pem'), key.publicPem);
    const created = await t.api('POST', '/api/releases', { manifest: release.manifestBytes.toString('base64'), signatures: release.signatures });
    if (created.status !== 201) throw new Error(`release refused: ${JSON.stringify(created.body)}`);
    const releaseId = created.body.id as string;
    for (const [file, body] of release.files) {
      const res = await fetch(`${t.baseUrl}/api/releases/${releaseId}/files/${file}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/octet-stream' },
        body,
      });
      if (res.status >= 300) throw new Error(`release file ${file} refused: ${res.status} ${await res.text()}`);
    }

    // MQTT, per site: what the server publishes on its update topic, and what the site says of its update.
    const mqttDown = new Map<string, number>();
    const mqttUp = new Map<string, number>();
    const lastHeartbeatUpdate = new Map<string, number>();
    const broker = t.server.ctx.broker;
    const publish = broker.publish.bind(broker);
    // Counted where the rollout service hands its orders to the broker (the same object it was given).
    broker.publish = (topic, payload, o) => {
      const m = /\/sites\/([^/]+)\/update$/.exec(topic);
      if (m) mqttDown.set(m[1]!, (mqttDown.get(m[1]!) ?? 0) + publishPacket(topic, payload, { qos: o.qos, retain: o.retain ?? false, id: 1 }).length + PUBACK);
      return publish(topic, payload, o);
    };
    const add = (id: string, n: number) => mqttUp.set(id, (mqttUp.get(id) ?? 0) + n);
    /** Of mqttUp: what the heartbeats' `update` added (the rest: update_status events). */
    let heartbeatShare = 0;
    broker.onSiteMessage((m) => {
      if (m.channel === 'event') {
        const e = JSON.parse(m.payload.toString()) as { type: string; update?: UpdateReport };
        if (e.type === 'update_status') add(m.siteId, publishPacket(siteTopic(m.siteId, 'event'), m.payload, { qos: 1, id: 1 }).length + PUBACK);
      } else if (m.channel === 'telemetry') {
        const hb = JSON.parse(m.payload.toString()) as TelemetryMessage;
        // What `update` adds to a heartbeat over `"update":null`: counted while the update runs (its final report included).
        const extra = hb.update ? JSON.stringify(hb.update).length - 4 : 0;
        if (hb.update && mqttDown.has(m.siteId) && !(lastHeartbeatUpdate.has(m.siteId) && FINAL.has(hb.update.state))) {
          add(m.siteId, extra);
          heartbeatShare += extra;
        }
        if (hb.update && FINAL.has(hb.update.state)) lastHeartbeatUpdate.set(m.siteId, extra);
      }
    });

    fleet = new FleetRunner({
      api: new LoanetClient(t.baseUrl, t.token),
      mqtt: { host: '127.0.0.1', port: t.server.mqttPort },
      sites: perCase * cases.length,
      heartbeatS: 2,
      area: COMMUNE,
      credentialsFile: null,
      update: { trustedKeys: [key.trusted], httpUrl: proxy.url, pollMs: 200 },
    });
    await fleet.start();
    const ids = fleet.ids().sort();
    await waitFor('every site online', () => ids.every((id) => t.server.ctx.fleet.observation(id)?.telemetry), 120_000, 200);

    const results: BenchResult[] = [];
    const bodyPerCase: number[] = [];
    const requestsPerCase: number[] = [];
    const size = release.total;
    for (const [ci, c] of cases.entries()) {
      let wire = 0;
      let body = 0;
      let requests = 0;
      let resumed = 0;
      let mqtt = 0;
      let agentCounted = 0;
      for (const id of ids.slice(ci * perCase, (ci + 1) * perCase)) {
        proxy.requests.length = 0;
        // The manifest and its signatures pass; then main.mjs (the manifest's first file) is cut `cuts` times, at even steps of what is left.
        const script: ProxyBehaviour[] = [{ kind: 'pass' }, { kind: 'pass' }];
        for (let k = 0; k < c.cuts; k++) script.push({ kind: 'cut', afterBytes: Math.floor(mainBytes / (c.cuts + 1)) });
        proxy.script.splice(0, proxy.script.length, ...script);
        const r = await t.api('POST', '/api/rollouts', { releaseId, targets: { sites: [id] }, waves: [{ name: 'all', percent: 100 }], broadcastMarginMin: 0, minFinished: 1 });
        if (r.status !== 201) throw new Error(`rollout refused: ${JSON.stringify(r.body)}`);
        await waitFor(`${id} updated`, async () => (await t.api('GET', `/api/rollouts/${r.body.id}`)).body.status === 'completed', 180_000, 250);
        // The retained order is cleared after the final report: wait for that publish to be counted too.
        await t.server.ctx.rollouts.idle();
        if (proxy.script.length > 0) throw new Error(`${c.name}: ${proxy.script.length} scripted behaviours left over (the requests came in another order)`);
        for (const q of proxy.requests) {
          body += q.bodyBytes;
          wire += q.bodyBytes + q.headerBytes + q.requestHeaderBytes;
          requests++;
          if (q.range) resumed++;
        }
        mqtt += (mqttDown.get(id) ?? 0) + (mqttUp.get(id) ?? 0);
        agentCounted += fleet.site(id).agent.updateReport?.downloaded ?? 0;
        log(`${c.name}: ${id} updated, ${proxy.requests.length} requests`);
      }
      bodyPerCase.push(body / perCase);
      requestsPerCase.push(requests / perCase);
      results.push({
        scenario: 'update/bytes-per-site',
        // Nine columns at most: the cases print as rows of one table, side by side (lib/result.ts printTable).
        params: { case: c.name },
        figures: {
          httpWireBytesPerSite: wire / perCase,
          // What the wire carried beyond the release itself: manifest, signatures, headers, and a resume's request.
          httpOverheadBytesPerSite: (wire - perCase * size) / perCase,
          mqttBytesPerSite: mqtt / perCase,
          rangeRequestsPerSite: resumed / perCase,
          'http wire / release': wire / perCase / size,
          'mqtt / release': mqtt / perCase / size,
          '(http + mqtt) / release': (wire + mqtt) / perCase / size,
          'agent counted / release': agentCounted / perCase / size,
        },
      });
    }
    const after = [...lastHeartbeatUpdate.values()];
    const bodies = results.map((_, i) => `${cases[i]!.name} ${Math.round(bodyPerCase[i]!)} in ${requestsPerCase[i]} requests`).join(', ');
    const down = [...mqttDown.values()].reduce((a, b) => a + b, 0) / ids.length;
    const events = ([...mqttUp.values()].reduce((a, b) => a + b, 0) - heartbeatShare) / ids.length;
    results[0]!.note =
      `${perCase} sites per case; release = ${release.total} bytes (main.mjs ${mainBytes}, loanet_opus.node ${decoderBytes}, random: incompressible); http wire = bodies the server sent + request and response headers (TCP/IP and TLS not counted), manifest and signatures included; ` +
      `mqtt = the order and its clearing (retained, QoS 1, with PUBACK: ${Math.round(down)} B per site), the update_status events (QoS 1, with PUBACK: ${Math.round(events)} B), ` +
      `and the \`update\` the heartbeats carry while it runs (${Math.round(heartbeatShare / ids.length)} B, with a heartbeat every 2 s here: it grows with the update's duration over the heartbeat interval); ` +
      `after the update each heartbeat still carries the final report: ${after.length ? Math.round(after.reduce((a, b) => a + b, 0) / after.length) : 0} bytes each. ` +
      `HTTP bodies per site: ${bodies}. ` +
      'agent counted = what the updater charged to the order\u2019s budget. The proxy cuts a transfer after the bytes it forwarded, so here nothing is lost in flight; on a real link the bytes in flight at a cut are fetched again (see media-fetch).';
    return results;
  } finally {
    await fleet?.stop();
    await proxy.close();
    await t.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runUpdateBytesBench({ quick: process.argv.includes('--quick'), log: (l) => console.log(l) }).then(printTable, (e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
