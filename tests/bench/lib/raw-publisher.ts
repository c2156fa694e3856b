/**
 * A light load generator, run as a child process by the ingest bench over
 * IPC: one mqtt.js connection per registered site (client id = username =
 * site id, its own secret, as the ACL requires), each publishing valid
 * TelemetryMessage payloads on its own telemetry topic, QoS 0, at a total
 * rate the parent sets. Lighter than the fleet runner (no device, no agent
 * logic), so it can offer thousands of messages per second.
 *
 * Parent → child: {type:'connect', url, sites:[{id,secret}]}, {type:'run', rate, ms}, {type:'stop'}.
 * Child → parent: {type:'connected', connected, failed, seconds}, {type:'ran', sent, seconds, lagging}, {type:'error', message}.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { decodeTelemetry, PROTOCOL_VERSION, siteTopic, type TelemetryMessage } from '../../../protocol/index.ts';

interface Conn {
  id: string;
  client: MqttClient;
  topic: string;
  head: string;
  tail: string;
  seq: number;
}

type Msg = { type: 'connect'; url: string; sites: Array<{ id: string; secret: string }> } | { type: 'run'; rate: number; ms: number } | { type: 'stop' };

const conns: Conn[] = [];
const send = (m: object) => process.send?.(m);

/** A realistic heartbeat (a 4G cluster with two lines), split around `at` and `seq` so each message costs a concatenation. */
function template(siteId: string): { head: string; tail: string } {
  const t: TelemetryMessage = {
    v: PROTOCOL_VERSION,
    siteId,
    at: 0,
    seq: 0,
    intervalS: 30,
    uptimeS: 86_400,
    versions: { agent: '0.1.0', protocol: PROTOCOL_VERSION, firmware: 'cluster-fw 2.3.1' },
    link: { type: '4g', signalDbm: -81, operator: 'Viettel' },
    power: { source: 'mains', mainsOk: true, batteryPct: 100 },
    amplifier: { on: true, volume: 70, fault: 'none', temperatureC: 41.5 },
    lines: [
      { id: 1, status: 'ok', impedanceOhm: 8.1, nominalOhm: 8 },
      { id: 2, status: 'ok', impedanceOhm: 7.9, nominalOhm: 8 },
    ],
    temperatureC: 36,
    clockOffsetMs: 3,
    devices: [{ id: 'controller', kind: 'controller', reachable: true, firmware: 'cluster-fw 2.3.1' }],
    monitorMic: true,
    lastSoundCheck: null,
  };
  const json = JSON.stringify(t);
  const check = decodeTelemetry.decode(Buffer.from(json));
  if (!check.ok) throw new Error(`bench telemetry template is invalid: ${check.error.reason}`);
  const [head, rest] = json.split('"at":0,"seq":0');
  if (rest === undefined) throw new Error('bench telemetry template: cannot find at/seq');
  return { head: head!, tail: rest };
}

async function connectAll(url: string, sites: Array<{ id: string; secret: string }>): Promise<void> {
  const t0 = performance.now();
  let failed = 0;
  let next = 0;
  // At most 100 CONNECTs in flight: a storm larger than that only measures the listen backlog.
  const worker = async () => {
    while (next < sites.length) {
      const s = sites[next++]!;
      try {
        const client = await mqtt.connectAsync(url, {
          protocolVersion: 4,
          clientId: s.id,
          username: s.id,
          password: s.secret,
          clean: true,
          keepalive: 60,
          reconnectPeriod: 0,
          connectTimeout: 30_000,
          queueQoSZero: false,
        });
        client.on('error', () => {});
        const { head, tail } = template(s.id);
        conns.push({ id: s.id, client, topic: siteTopic(s.id, 'telemetry'), head, tail, seq: 0 });
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(100, sites.length) }, worker));
  send({ type: 'connected', connected: conns.length, failed, seconds: (performance.now() - t0) / 1000 });
}

/** Publish `rate` messages per second in total, round-robin over the connections, for `ms`; reports what was sent. */
async function run(rate: number, ms: number): Promise<void> {
  if (conns.length === 0) throw new Error('no connections');
  const t0 = performance.now();
  let sent = 0;
  let rr = 0;
  let lagging = 0;
  const perTickCap = Math.max(1, Math.ceil(rate / 20)); // never more than 50 ms worth in one tick
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - t0;
      if (elapsed >= ms) {
        clearInterval(timer);
        return resolve();
      }
      let due = Math.floor((rate * elapsed) / 1000) - sent;
      if (due > perTickCap) {
        lagging++; // the generator itself fell behind
        due = perTickCap;
      }
      const now = Date.now();
      for (let i = 0; i < due; i++) {
        const c = conns[rr++ % conns.length]!;
        if (!c.client.connected) continue;
        c.client.publish(c.topic, `${c.head}"at":${now},"seq":${++c.seq}${c.tail}`, { qos: 0 });
        sent++;
      }
    }, 5);
  });
  send({ type: 'ran', sent, seconds: (performance.now() - t0) / 1000, lagging, disconnected: conns.filter((c) => !c.client.connected).length });
}

process.on('message', (m: Msg) => {
  const go = async () => {
    if (m.type === 'connect') await connectAll(m.url, m.sites);
    else if (m.type === 'run') await run(m.rate, m.ms);
    else if (m.type === 'stop') {
      await Promise.all(conns.map((c) => c.client.endAsync(true).catch(() => {})));
      process.exit(0);
    }
  };
  go().catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
});
// Orphaned (the parent died): go.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
