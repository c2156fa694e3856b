/**
 * The edge agent against a real aedes broker over TCP, with a real mqtt.js
 * client playing the server. The devices are an in-test fake of the
 * DeviceGateway interface (the simulated firmware is tested on its own).
 */
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import { connectAsync, type MqttClient } from 'mqtt';
import {
  PROTOCOL_VERSION,
  decodeEvent,
  decodeState,
  decodeTelemetry,
  encodeJson,
  eventAckKey,
  parseTopic,
  siteTopic,
  type CommandMessage,
  type SiteEventMessage,
  type SiteStateMessage,
  type TelemetryMessage,
} from '../../protocol/index.ts';
import { EdgeAgent, type AgentLogger } from '../../edge-agent/agent.ts';
import { parseAgentConfig, type AgentConfig } from '../../edge-agent/config.ts';
import { NullSink } from '../../edge-agent/audio/sinks/null.ts';
import { waitFor as waitUntil } from '../helpers/wait.ts';
import { DeviceError, type DeviceFaultNotice, type DeviceGateway, type DeviceStatus, type SoundCheckResult, type ToneRequest } from '../../edge-agent/devices/gateway.ts';

const SERVER_USER = 'loanet-server';
const SERVER_SECRET = 'server-secret';
const SITE = 'xa-ban-xeo-01';
const SECRET = 'site-secret-01';

// ------------------------------------------------------------ harness ----

class FakeGateway implements DeviceGateway {
  volume = 50;
  ampOn = true;
  calls: string[] = [];
  micLevelDb: number | null = -20;
  faultListeners = new Set<(n: DeviceFaultNotice) => void>();
  ampFault: 'none' | 'overheat' = 'none';

  async start() {}
  async stop() {}
  async status(): Promise<DeviceStatus> {
    return {
      amplifier: { on: this.ampOn, volume: this.volume, fault: this.ampFault, temperatureC: 41.5 },
      lines: [{ id: 1, status: 'ok', impedanceOhm: 8.1, nominalOhm: 8 }],
      power: { source: 'mains', mainsOk: true, batteryPct: null },
      link: { type: 'unknown', signalDbm: -71, operator: 'Viettel', up: true },
      boardTemperatureC: 38,
      monitorMic: true,
      devices: [{ id: 'amp-1', kind: 'amplifier', reachable: true, firmware: '1.2.0' }],
      firmware: '1.2.0',
    };
  }
  async setVolume(level: number) {
    this.calls.push(`setVolume ${level}`);
    this.volume = level;
    return level;
  }
  async setAmplifier(on: boolean) {
    this.calls.push(`setAmplifier ${on}`);
    if (!on && this.volume === 13) throw new DeviceError('relay_stuck', 'amplifier relay did not open');
    this.ampOn = on;
  }
  async playTestTone(tone: ToneRequest) {
    this.calls.push(`playTestTone ${tone.hz} ${tone.durationMs} ${tone.level}`);
  }
  async soundCheck(tone: ToneRequest): Promise<SoundCheckResult> {
    this.calls.push(`soundCheck ${tone.hz} ${tone.level}`);
    return { levelDb: this.micLevelDb };
  }
  async reboot() {
    this.calls.push('reboot');
  }
  onFault(listener: (n: DeviceFaultNotice) => void) {
    this.faultListeners.add(listener);
    return () => this.faultListeners.delete(listener);
  }
  raise(notice: DeviceFaultNotice) {
    for (const l of this.faultListeners) l(notice);
  }
}

interface Seen {
  topic: string;
  retain: boolean;
  at: number;
  body: unknown;
}

/** An aedes broker on a TCP port that can be stopped and started again on the same port. */
class TestBroker {
  port = 0;
  connects: Array<{ username: string | undefined; ok: boolean }> = [];
  private aedes: Aedes | undefined;
  private server: net.Server | undefined;
  private sockets = new Set<net.Socket>();
  secrets = new Map<string, string>([[SITE, SECRET]]);

  async start(): Promise<void> {
    this.aedes = await Aedes.createBroker({
      authenticate: (_client, username, password, done) => {
        const expected = username === SERVER_USER ? SERVER_SECRET : username ? this.secrets.get(username) : undefined;
        const ok = expected !== undefined && password?.toString() === expected;
        this.connects.push({ username, ok });
        if (ok) done(null, true);
        else done(Object.assign(new Error('bad credential'), { returnCode: 4 as const }), false);
      },
    });
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      this.aedes!.handle(socket);
    });
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.port, '127.0.0.1', () => res());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((res) => (this.server ? this.server.close(() => res()) : res()));
    await new Promise<void>((res) => (this.aedes ? this.aedes.close(() => res()) : res()));
    this.server = undefined;
    this.aedes = undefined;
  }

  /** Clients the broker holds now; it drops one only after publishing its will, if any. */
  get connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }
}

/** Under the server's subscription, on no site channel (so no of() reads it). */
const FENCE_TOPIC = 'loanet/v1/sites/test-fence/fence';

/** The server side: a plain MQTT client that hears every site, can send commands, and acknowledges stored events as the server does. */
class ServerSide {
  seen: Seen[] = [];
  /** Off: the events are heard but never acknowledged (a server that died before storing them). */
  acking = true;
  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      if (topic.endsWith('/cmd') || topic.endsWith('/ack')) return; // our own publishes echoed back
      const body = JSON.parse(payload.toString('utf8'));
      this.seen.push({ topic, retain: packet.retain, at: Date.now(), body });
      const key = topic.endsWith('/event') ? eventAckKey(body as SiteEventMessage) : undefined;
      if (key && this.acking)
        void client.publishAsync(siteTopic(SITE, 'ack'), encodeJson({ v: PROTOCOL_VERSION, siteId: SITE, at: Date.now(), stored: [key] }), { qos: 1 }).catch(() => {});
    });
  }
  static async connect(url: string): Promise<ServerSide> {
    const client = await connectAsync(url, { username: SERVER_USER, password: SERVER_SECRET, clientId: `server-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 0 });
    const side = new ServerSide(client);
    await client.subscribeAsync('loanet/v1/sites/+/#', { qos: 1 });
    return side;
  }
  of(channel: 'state' | 'telemetry' | 'event'): Seen[] {
    return this.seen.filter((s) => parseTopic(s.topic)?.kind === 'site' && s.topic.endsWith(`/${channel}`));
  }
  states(): SiteStateMessage[] {
    return this.of('state').map((s) => s.body as SiteStateMessage);
  }
  events(): SiteEventMessage[] {
    return this.of('event').map((s) => s.body as SiteEventMessage);
  }
  results(cmdId: string) {
    return this.events().filter((e) => e.type === 'cmd_result' && e.cmdId === cmdId);
  }
  /**
   * A retained message of ours through the broker and back. Retained publishes
   * go through the broker's one pipeline in order: any retained message it
   * began publishing before this one (a will) has reached us by the time this
   * one has.
   */
  async roundTrip(): Promise<void> {
    const token = Math.random().toString(36).slice(2);
    await this.client.publishAsync(FENCE_TOPIC, JSON.stringify({ token }), { qos: 1, retain: true });
    await waitFor('our retained message back from the broker', () => this.seen.some((s) => s.topic === FENCE_TOPIC && (s.body as { token?: string }).token === token));
  }
  async send(command: CommandMessage | string): Promise<void> {
    const payload = typeof command === 'string' ? command : encodeJson(command);
    await this.client.publishAsync(siteTopic(SITE, 'cmd'), payload, { qos: 1 });
  }
  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

const quiet: AgentLogger = { info: () => {}, warn: () => {}, error: () => {} };

/** The shared wait (tests/helpers/wait.ts), polled every 10 ms: these tests time MQTT round trips on loopback. */
const waitFor = async <T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> => (await waitUntil(what, probe, timeoutMs, 10)) as T;

/**
 * An agent's MQTT connection through a stream the test opens, noting when
 * each connect attempt began (performance.now()): the gaps between attempts
 * are at least the back-off's delay on any machine, since timers never fire
 * early.
 */
function attemptLog(): { opened: number[]; port: number; stream: () => net.Socket; gaps(): number[] } {
  const log = {
    opened: [] as number[],
    port: 0,
    stream: () => {
      log.opened.push(performance.now());
      return net.connect(log.port, '127.0.0.1');
    },
    gaps: () => log.opened.slice(1).map((t, i) => t - log.opened[i]!),
  };
  return log;
}

let seq = 0;
function command<T extends CommandMessage['type']>(type: T, params: Extract<CommandMessage, { type: T }>['params'], over: Partial<CommandMessage> = {}): CommandMessage {
  const now = Date.now();
  return { v: PROTOCOL_VERSION, id: `cmd-${Date.now()}-${++seq}`, siteId: SITE, issuedAt: now, expiresAt: now + 60_000, type, params, ...over } as CommandMessage;
}

function agentConfig(url: string, over: Record<string, unknown> = {}): AgentConfig {
  return parseAgentConfig(
    {
      siteId: SITE,
      server: { mqttUrl: url },
      credential: { secret: SECRET },
      heartbeatIntervalS: 1,
      keepaliveS: 5,
      reconnect: { baseMs: 50, capMs: 400, refusedCapMs: 400 },
      ...over,
    },
    { source: 'test', agentVersion: '0.1.0-test' },
  );
}

// ------------------------------------------------------------ fixtures ----

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function setup(over: Record<string, unknown> = {}, agentOptions: Partial<ConstructorParameters<typeof EdgeAgent>[0]> = {}) {
  const broker = new TestBroker();
  await broker.start();
  cleanups.push(() => broker.stop());
  const server = await ServerSide.connect(broker.url);
  cleanups.push(() => server.close());
  const gateway = new FakeGateway();
  const agent = new EdgeAgent({ config: agentConfig(broker.url, over), gateway, log: quiet, ...agentOptions });
  cleanups.push(() => agent.stop({ graceful: false }));
  return { broker, server, gateway, agent };
}

// --------------------------------------------------------------- tests ----

describe('edge agent over MQTT', () => {
  it('connects with its own credential, publishes a retained online state and valid heartbeats at its interval', async () => {
    const { broker, server, agent } = await setup();
    const startedAt = Date.now();
    await agent.start();
    await waitFor('3 heartbeats', () => server.of('telemetry').length >= 3);

    expect(broker.connects.filter((c) => c.username === SITE)).toEqual([{ username: SITE, ok: true }]);
    const online = server.states().find((s) => s.state === 'online');
    expect(online).toMatchObject({ siteId: SITE, state: 'online', agentVersion: '0.1.0-test' });

    const beats = server.of('telemetry');
    for (const b of beats) {
      const decoded = decodeTelemetry.decode(JSON.stringify(b.body));
      expect(decoded.ok, JSON.stringify(decoded)).toBe(true);
    }
    const bodies = beats.map((b) => b.body as TelemetryMessage);
    expect(bodies.map((b) => b.seq).slice(0, 3)).toEqual([0, 1, 2]);
    expect(bodies[0]).toMatchObject({
      intervalS: 1,
      link: { type: 'unknown', signalDbm: -71, operator: 'Viettel' },
      versions: { agent: '0.1.0-test', protocol: 1, firmware: '1.2.0' },
    });
    // First beat right after CONNACK; the first periodic one at 75-100% of the interval; then every interval.
    // Only what holds on any machine: timers never fire early, so a beat is never stamped before its time
    // (a busy machine makes it later; how much later is the heartbeat bench's business). 10 ms for clock rounding.
    expect(bodies[1]!.at - startedAt).toBeGreaterThanOrEqual(750 - 10);
    expect(bodies[2]!.at - startedAt).toBeGreaterThanOrEqual(750 + 1000 - 10);

    // A server that subscribes later still learns the site is online: the state is retained.
    const late = await ServerSide.connect(broker.url);
    cleanups.push(() => late.close());
    const retained = await waitFor('retained state', () => late.of('state')[0]);
    expect(retained.retain).toBe(true);
    expect(decodeState.decode(JSON.stringify(retained.body))).toMatchObject({ ok: true, value: { state: 'online' } });
    expect(agent.stats).toMatchObject({ connected: true, connects: 1 });
  });

  it('runs a command once and answers it once; a duplicate id is answered from the ledger without re-running', async () => {
    const { server, gateway, agent } = await setup();
    await agent.start();
    await waitFor('online', () => agent.stats.connected);

    const cmd = command('set_volume', { level: 70 });
    await server.send(cmd);
    await waitFor('result', () => server.results(cmd.id).length >= 1);
    expect(server.results(cmd.id)[0]).toMatchObject({ ok: true, cmdType: 'set_volume', result: { volume: 70 } });
    expect(decodeEvent.check(server.results(cmd.id)[0]).ok).toBe(true);

    await server.send(cmd);
    await waitFor('second answer', () => server.results(cmd.id).length >= 2);
    // A later command's answer: any further answer to the first, had it been run or answered once more, came before it.
    const later = command('amp_power', { on: true });
    await server.send(later);
    await waitFor("the later command's answer", () => server.results(later.id).length === 1);
    expect(server.results(cmd.id)).toHaveLength(2);
    expect(server.results(cmd.id)[1]).toEqual(server.results(cmd.id)[0]);
    expect(gateway.calls.filter((c) => c.startsWith('setVolume'))).toEqual(['setVolume 70']);
    expect(agent.stats).toMatchObject({ commandsRun: 2, duplicateCommands: 1 });
  });

  it('remembers executed command ids across a restart when given a stateDir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loanet-agent-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { broker, server, gateway, agent } = await setup({ stateDir: dir });
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    const cmd = command('amp_power', { on: false });
    await server.send(cmd);
    await waitFor('result', () => server.results(cmd.id).length === 1);
    // Stored by the server before the stop: else the restarted agent sends it again from its journal, a second result
    // besides the ledger's answer (on a busy machine the ack can come after the stop).
    await waitFor('the result acknowledged', () => agent.journalStats?.unsent === 0 && agent.journalStats.inFlight === 0);
    await agent.stop();

    const again = new EdgeAgent({ config: agentConfig(broker.url, { stateDir: dir }), gateway, log: quiet });
    cleanups.push(() => again.stop({ graceful: false }));
    await again.start();
    await waitFor('online again', () => again.stats.connected);
    await server.send(cmd);
    await waitFor('answer from the ledger', () => server.results(cmd.id).length >= 2);
    expect(again.stats).toMatchObject({ commandsRun: 0, duplicateCommands: 1 });
    const [first, answer] = server.results(cmd.id);
    expect(answer).toEqual(first);
    expect(gateway.calls.filter((c) => c.startsWith('setAmplifier'))).toEqual(['setAmplifier false']);
  });

  it("keeps a command result on disk until the server acknowledges it — not on the broker's PUBACK — across a restart", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loanet-agent-ack-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { broker, server, gateway, agent } = await setup({ stateDir: dir });
    server.acking = false; // the server hears it and dies before storing it
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    const cmd = command('set_volume', { level: 40 });
    await server.send(cmd);
    await waitFor('result', () => server.results(cmd.id).length === 1);
    await agent.stop({ graceful: false });

    server.acking = true; // the next server stores and acknowledges
    const again = new EdgeAgent({ config: agentConfig(broker.url, { stateDir: dir }), gateway, log: quiet });
    cleanups.push(() => again.stop({ graceful: false }));
    await again.start();
    await waitFor('the unacknowledged result sent again after the restart', () => server.results(cmd.id).length === 2);
    expect(server.results(cmd.id)[1]).toEqual(server.results(cmd.id)[0]);
    await waitFor('acknowledged', () => again.stats.connected && again.journalStats?.unsent === 0);
    await again.stop();

    const third = new EdgeAgent({ config: agentConfig(broker.url, { stateDir: dir }), gateway, log: quiet });
    cleanups.push(() => third.stop({ graceful: false }));
    await third.start();
    await waitFor('online again', () => third.stats.connected);
    // Its journal, read back, owes nothing: there is nothing it could send a third time.
    await waitFor('the journal read back, owing nothing', () => third.journalStats?.unsent === 0 && third.journalStats.inFlight === 0);
    expect(server.results(cmd.id)).toHaveLength(2); // acknowledged: not sent a third time
    expect(gateway.calls.filter((c) => c.startsWith('setVolume'))).toEqual(['setVolume 40']);
  });

  it('refuses an expired command and a command for another site, without touching the devices', async () => {
    const { server, gateway, agent } = await setup();
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    const old = command('set_volume', { level: 10 }, { issuedAt: Date.now() - 120_000, expiresAt: Date.now() - 60_000 });
    const other = command('set_volume', { level: 11 }, { siteId: 'some-other-site' });
    await server.send(old);
    await server.send(other);
    await waitFor('answers', () => server.results(old.id).length === 1 && server.results(other.id).length === 1);
    expect(server.results(old.id)[0]).toMatchObject({ ok: false, error: { code: 'expired' } });
    expect(server.results(other.id)[0]).toMatchObject({ ok: false, error: { code: 'wrong_site' } });
    expect(gateway.calls).toEqual([]);
    expect(agent.stats.commandsRefused).toBe(2);
  });

  it('answers an invalid command that has an id with "invalid", drops garbage, and keeps working', async () => {
    const { server, gateway, agent } = await setup();
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    const bad = { ...command('set_volume', { level: 70 }), params: { level: 500 } };
    await server.send(JSON.stringify(bad));
    await server.send('{{{ not json');
    await server.send(JSON.stringify({ hello: 'world' }));
    await waitFor('invalid answer', () => server.results(bad.id).length === 1);
    expect(server.results(bad.id)[0]).toMatchObject({ ok: false, error: { code: 'invalid' } });
    expect(decodeEvent.check(server.results(bad.id)[0]).ok).toBe(true);

    const good = command('test_tone', {});
    await server.send(good);
    await waitFor('tone answer', () => server.results(good.id).length === 1);
    expect(server.results(good.id)[0]).toMatchObject({ ok: true, result: { hz: 1000, durationMs: 3000, level: 50 } });
    expect(agent.stats.invalidCommands).toBe(3);
    expect(gateway.calls).toEqual(['playTestTone 1000 3000 50']);
  });

  it('turns a device error into ok:false with its code', async () => {
    const { server, gateway, agent } = await setup();
    gateway.volume = 13; // the fake's relay sticks at this volume
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    const cmd = command('amp_power', { on: false });
    await server.send(cmd);
    await waitFor('answer', () => server.results(cmd.id).length === 1);
    expect(server.results(cmd.id)[0]).toMatchObject({ ok: false, error: { code: 'relay_stuck', message: 'amplifier relay did not open' } });
  });

  it('runs a sound check: a sound_check event, the command result, and lastSoundCheck in the next heartbeat', async () => {
    const { server, gateway, agent } = await setup();
    gateway.micLevelDb = -55; // below the -40 dB default threshold
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    const cmd = command('sound_check', {});
    await server.send(cmd);
    await waitFor('answer', () => server.results(cmd.id).length === 1);
    expect(server.results(cmd.id)[0]).toMatchObject({ ok: true, result: { passed: false, levelDb: -55, thresholdDb: -40 } });
    const check = server.events().find((e) => e.type === 'sound_check');
    expect(check).toMatchObject({ ok: false, levelDb: -55, thresholdDb: -40, toneHz: 1000, trigger: 'command' });
    const beat = await waitFor(
      'heartbeat with sound check',
      () =>
        server
          .of('telemetry')
          .map((s) => s.body as TelemetryMessage)
          .find((t) => t.lastSoundCheck !== null),
      2500,
    );
    expect(beat.lastSoundCheck).toMatchObject({ ok: false, levelDb: -55 });
  });

  it('reports a device fault at once, with an extra heartbeat showing the new status', async () => {
    const { server, gateway, agent } = await setup({ heartbeatIntervalS: 60 });
    await agent.start();
    await waitFor('first heartbeat', () => server.of('telemetry').length === 1);
    gateway.ampFault = 'overheat';
    gateway.raise({ device: 'amp-1', fault: 'overheat', cleared: false, detail: '78 °C' });
    // "At once": long before the next periodic beat, 60 s away.
    await waitFor('fault event', () => server.events().find((e) => e.type === 'fault'));
    const beat = await waitFor('extra heartbeat', () => server.of('telemetry')[1]);
    expect((beat.body as TelemetryMessage).amplifier?.fault).toBe('overheat');
    expect(server.events().find((e) => e.type === 'fault')).toMatchObject({ device: 'amp-1', fault: 'overheat', detail: '78 °C' });
  });

  it('reconnects on its own after the broker restarts, and sends events raised while offline', async () => {
    const attempts = attemptLog();
    const { broker, gateway, agent } = await setup({}, { mqttStream: attempts.stream });
    attempts.port = broker.port;
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    await broker.stop();
    await waitFor('link lost', () => !agent.stats.connected);
    gateway.raise({ device: 'line-2', fault: 'open', cleared: false });
    await waitFor('the fault held for later', () => agent.stats.outboxSize === 1);
    // It kept trying, with backoff, not in a loop: every try at least baseMs (50) after the one before.
    await waitFor('three tries while the broker is down', () => attempts.opened.length >= 4);
    expect(Math.min(...attempts.gaps())).toBeGreaterThanOrEqual(50 - 2);

    await broker.start(); // same port
    const server = await ServerSide.connect(broker.url);
    cleanups.push(() => server.close());
    await waitFor('reconnected', () => agent.stats.connected && agent.stats.connects === 2);
    await waitFor('queued fault delivered', () => server.events().find((e) => e.type === 'fault' && e.device === 'line-2'));
    await waitFor('online again', () => server.states().some((s) => s.state === 'online'));
    expect(agent.stats.outboxSize).toBe(0);
  });

  it('when its link dies without a clean close, the broker publishes the retained last will; the agent comes back', async () => {
    const sockets: net.Socket[] = [];
    const broker = new TestBroker();
    await broker.start();
    cleanups.push(() => broker.stop());
    const server = await ServerSide.connect(broker.url);
    cleanups.push(() => server.close());
    const agent = new EdgeAgent({
      config: agentConfig(broker.url),
      gateway: new FakeGateway(),
      log: quiet,
      mqttStream: () => {
        const s = net.connect(broker.port, '127.0.0.1');
        sockets.push(s);
        return s;
      },
    });
    cleanups.push(() => agent.stop({ graceful: false }));
    await agent.start();
    await waitFor('online', () => agent.stats.connected);

    sockets.at(-1)!.destroy(); // the 4G link drops: no DISCONNECT
    const will = await waitFor('last will', () => server.of('state').find((s) => (s.body as SiteStateMessage).state === 'offline'));
    expect(will.body).toMatchObject({ state: 'offline', reason: 'last-will', siteId: SITE });
    expect(decodeState.decode(JSON.stringify(will.body)).ok).toBe(true);

    const late = await ServerSide.connect(broker.url);
    cleanups.push(() => late.close());
    await waitFor('agent back', () => agent.stats.connects === 2);
    await waitFor('online after the will', () => server.states().at(-1)?.state === 'online');
    expect(sockets.length).toBe(2);
  });

  it('a graceful stop leaves a retained offline state with reason shutdown (and no will)', async () => {
    const { broker, server, agent } = await setup();
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    await agent.stop({ graceful: true });
    await waitFor('offline', () => server.states().find((s) => s.state === 'offline'));
    // The broker has let the agent go (after publishing its will, had there been one), and a retained message
    // published after that has come back to us: a will would have come first.
    await waitFor('the broker let the agent go', () => broker.connectedClients === 1);
    await server.roundTrip();
    const offline = server.states().filter((s) => s.state === 'offline');
    expect(offline).toHaveLength(1);
    expect(offline[0]).toMatchObject({ reason: 'shutdown' });
    const late = await ServerSide.connect(broker.url);
    cleanups.push(() => late.close());
    const retained = await waitFor('retained', () => late.of('state')[0]);
    expect(retained.body).toMatchObject({ state: 'offline', reason: 'shutdown' });
  });

  it('reboot: answers ok first, says offline "reboot", reboots the devices, then comes back online', async () => {
    const { server, gateway, agent } = await setup();
    await agent.start();
    await waitFor('online', () => agent.stats.connected);
    const cmd = command('reboot', {});
    await server.send(cmd);
    await waitFor('back online', () => agent.stats.connects === 2);
    // The second online (after the reboot), not the first: the broker may deliver to the server a little after the agent reconnects.
    await waitFor('online state again', () => server.states().filter((st) => st.state === 'online').length >= 2 && server.states().at(-1)?.state === 'online');
    const resultIdx = server.seen.findIndex((s) => (s.body as { cmdId?: string }).cmdId === cmd.id);
    const offlineIdx = server.seen.findIndex((s) => (s.body as SiteStateMessage).reason === 'reboot');
    expect(resultIdx).toBeGreaterThanOrEqual(0);
    expect(offlineIdx).toBeGreaterThan(resultIdx);
    // One answer; the same answer may come again after the reconnect if the server's ack had not reached
    // the agent before it left (the server keeps one per command).
    expect(new Set(server.results(cmd.id).map((r) => JSON.stringify(r))).size).toBe(1);
    expect(server.results(cmd.id)[0]).toMatchObject({ ok: true });
    expect(gateway.calls).toEqual(['reboot']);
    // No last will: the agent left cleanly.
    expect(server.states().some((s) => s.reason === 'last-will')).toBe(false);
  });

  it("switches its amplifier by the device's power sequencing (warm-up before, hold after) unless the caller fixes them", async () => {
    class SequencedGateway extends FakeGateway {
      amplifierWarmupMs(): number {
        return 1200;
      }
      amplifierHoldMs(): number {
        return 7000;
      }
    }
    const dir = await mkdtemp(join(tmpdir(), 'loanet-agent-amp-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const { broker } = await setup();
    const follows = new EdgeAgent({
      config: agentConfig(broker.url, { stateDir: join(dir, 'a') }),
      gateway: new SequencedGateway(),
      log: quiet,
      playout: { sink: new NullSink() },
    });
    cleanups.push(() => follows.stop({ graceful: false }));
    await follows.start();
    // The warm-up plus the margin for the amp_power round trip; the hold as the device says.
    expect(follows.playout!.engine.leadMs).toBe(1700);
    expect(follows.playout!.engine.tailMs).toBe(7000);
    const fixed = new EdgeAgent({
      config: agentConfig(broker.url, { stateDir: join(dir, 'b') }),
      gateway: new SequencedGateway(),
      log: quiet,
      playout: { sink: new NullSink(), leadMs: 900, tailMs: 400 },
    });
    cleanups.push(() => fixed.stop({ graceful: false }));
    await fixed.start();
    expect(fixed.playout!.engine.leadMs).toBe(900);
    expect(fixed.playout!.engine.tailMs).toBe(400);
  });

  it('with a wrong secret it is refused and retries slowly, not in a hot loop', async () => {
    const log = attemptLog();
    const { broker, agent } = await setup({ credential: { secret: 'wrong-secret' } }, { mqttStream: log.stream });
    log.port = broker.port;
    await agent.start();
    await waitFor('three refusals', () => agent.stats.refusedConnects >= 3);
    const attempts = broker.connects.filter((c) => c.username === SITE);
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    // Refused retries wait in [refusedCap/2, refusedCap] = [200, 400] ms: never sooner than 200 ms after the last try.
    expect(Math.min(...log.gaps())).toBeGreaterThanOrEqual(200 - 2);
    expect(attempts.every((a) => !a.ok)).toBe(true);
    expect(agent.stats).toMatchObject({ connected: false, connects: 0 });
    // Each refusal the broker gave is counted by the agent (the last one may still be on its way when read).
    await waitFor('every refusal counted', () => agent.stats.refusedConnects === broker.connects.filter((c) => c.username === SITE).length);
    expect(agent.stats.lastError).toMatch(/refused.*credential/i);
  });
});
