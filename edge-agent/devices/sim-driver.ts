/**
 * DeviceGateway over the device protocol (protocol/device.ts): talks to
 * firmware-sim — or any firmware speaking the protocol — over TCP (with
 * reconnect) or over a given byte stream (an in-memory pair in the fleet
 * runner, a serial port on a real board).
 *
 * Requests are matched to replies by frame seq and time out; a device that
 * does not answer is reported `reachable: false` by status() and makes
 * commands throw DeviceError('device_unreachable'). Losing and regaining the
 * device is itself announced to onFault listeners, so the agent raises it
 * at once rather than at the next heartbeat.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  DeviceFrameDecoder,
  encodeDeviceFrame,
  type DeviceEvent,
  type DeviceHelloResult,
  type DeviceOp,
  type DeviceReply,
  type DeviceRequest,
  type DeviceResultOf,
  type DeviceStatusPayload,
} from '../../protocol/index.ts';
import { DeviceError, type DeviceFaultNotice, type DeviceGateway, type DeviceStatus, type GatewayAudioSinkOptions, type SoundCheckResult, type ToneRequest } from './gateway.ts';
import { DeviceSink, type DeviceAudioLink } from '../audio/sinks/device.ts';
import type { FirmwarePort } from './firmware-update.ts';
import { FRAME_MS } from '../audio/types.ts';

export type SimDriverTransport = { kind: 'tcp'; host: string; port: number } | { kind: 'stream'; stream: Duplex };

export interface SimDriverOptions {
  transport: SimDriverTransport;
  /** Name of the device in status and fault notices; default 'controller'. */
  deviceId?: string;
  /** How long to wait for a reply (tones and warm-up add their own time); default 2000 ms. */
  requestTimeoutMs?: number;
  /** Extra attempts for idempotent requests after a timeout (a frame lost to line noise); default 1. */
  retries?: number;
  /** TCP reconnect backoff: doubling from baseMs to capMs, jittered. */
  reconnect?: { baseMs?: number; capMs?: number };
  /**
   * On a serial line: a silence this long in the middle of a frame drops the
   * partial frame (DeviceFrameDecoder.flush), so a false SYNC cannot hold back
   * real frames. 50 ms suits 115200 baud; off (0) by default and for TCP.
   */
  frameGapMs?: number;
  /** Clock for the frame gap; default Date.now. */
  now?: () => number;
}

interface Pending {
  op: DeviceOp;
  resolve: (result: unknown) => void;
  reject: (error: DeviceError) => void;
  timer: NodeJS.Timeout;
}

/** Operations that are safe to send twice: repeating them changes nothing. */
const IDEMPOTENT: ReadonlySet<DeviceOp> = new Set(['hello', 'get_status', 'set_volume', 'amp_power', 'mic_level', 'fw_begin', 'fw_verify', 'fw_confirm']);
/** Warm-up assumed before hello has told us the real one. */
const DEFAULT_WARMUP_MS = 5000;

export class SimDeviceDriver implements DeviceGateway {
  private readonly deviceId: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoff: { baseMs: number; capMs: number };
  private stream: Duplex | undefined;
  private decoder = new DeviceFrameDecoder('to_agent');
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(notice: DeviceFaultNotice) => void>();
  private nextSeq = 0;
  private hello: DeviceHelloResult | undefined;
  private lastLines: DeviceStatus['lines'] = [];
  private reachable: boolean | undefined;
  private lastError = 'not started';
  private stopped = true;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private streamUsed = false;
  private lastDataAt = 0;

  constructor(private readonly options: SimDriverOptions) {
    this.deviceId = options.deviceId ?? 'controller';
    this.timeoutMs = options.requestTimeoutMs ?? 2000;
    this.retries = options.retries ?? 1;
    this.backoff = { baseMs: options.reconnect?.baseMs ?? 500, capMs: options.reconnect?.capMs ?? 30_000 };
  }

  /** Connect once; if the device is not there yet, keep trying in the background (TCP) and resolve anyway. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const stream = this.stream;
    this.detach('driver stopped');
    stream?.destroy();
  }

  async status(): Promise<DeviceStatus> {
    try {
      return this.toStatus(await this.request({ type: 'get_status' }));
    } catch (e) {
      return this.unreachableStatus(e instanceof Error ? e.message : String(e));
    }
  }

  async setVolume(level: number): Promise<number> {
    return (await this.request({ type: 'set_volume', level: Math.round(level) })).volume;
  }

  async setAmplifier(on: boolean): Promise<void> {
    await this.request({ type: 'amp_power', on }, this.warmupMs());
  }

  async playTestTone(tone: ToneRequest): Promise<void> {
    await this.request({ type: 'play_tone', ...tone }, tone.durationMs + this.warmupMs());
  }

  async soundCheck(tone: ToneRequest): Promise<SoundCheckResult> {
    const { levelDb } = await this.request({ type: 'sound_check', ...tone }, tone.durationMs + this.warmupMs());
    return { levelDb };
  }

  async reboot(): Promise<void> {
    await this.request({ type: 'reboot' });
  }

  onFault(listener: (notice: DeviceFaultNotice) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The simulated amplifier as a sink: frame summaries over the device protocol (`audio`, `audio_flush`). */
  audioSink(options: GatewayAudioSinkOptions = {}): DeviceSink {
    const link: DeviceAudioLink = {
      sendAudio: (batch) => this.request({ type: 'audio', ...batch }),
      flushAudio: (session, fromSeq) => this.request({ type: 'audio_flush', session, fromSeq }),
    };
    return new DeviceSink(link, {
      ...(options.bufferMs !== undefined ? { batchFrames: Math.max(1, Math.round(options.bufferMs / FRAME_MS)) } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  amplifierWarmupMs(): number | undefined {
    return this.hello?.warmupMs;
  }

  async micLevel(from: number, to: number): Promise<number | null> {
    const { levelDb } = await this.request({ type: 'mic_level', from: Math.max(0, from), to: Math.max(0, to) });
    return levelDb;
  }

  amplifierHoldMs(): number | undefined {
    return this.hello?.holdMs;
  }

  /**
   * The device's firmware update requests (firmware-update.ts drives them).
   * fw_begin and fw_verify are safe to repeat; a chunk is not retried here:
   * the update asks the device where it stands instead.
   */
  firmware(): FirmwarePort {
    return {
      hello: async () => {
        this.hello = await this.request({ type: 'hello', agent: 'loanet-edge-agent' });
        return this.hello;
      },
      begin: (img) => this.request({ type: 'fw_begin', sha256: img.sha256, size: img.size, version: img.version, hardware: img.hardware }),
      chunk: (offset, data, crc) => this.request({ type: 'fw_chunk', offset, data, crc }),
      // Hashing a slot takes the device a moment: a 4 MiB image at a slow MCU's ~2 MB/s.
      verify: () => this.request({ type: 'fw_verify' }, 5000),
      activate: async () => {
        await this.request({ type: 'fw_activate' });
      },
      confirm: () => this.request({ type: 'fw_confirm' }),
      reboot: () => this.reboot(),
      health: async () => {
        const s = await this.status();
        const down = s.devices.find((d) => !d.reachable);
        if (down) return `the device does not answer: ${down.error ?? 'no reply'}`;
        if (s.amplifier && s.amplifier.fault !== 'none') return `amplifier fault ${s.amplifier.fault}`;
        if (s.lines.length > 0 && !s.lines.some((l) => l.status === 'ok')) return 'no speaker line reads ok';
        return null;
      },
    };
  }

  // ---------------------------------------------------------- requests ----

  private async request<O extends DeviceOp>(req: Extract<DeviceRequest, { type: O }>, extraMs = 0): Promise<DeviceResultOf<O>> {
    const attempts = IDEMPOTENT.has(req.type) ? 1 + this.retries : 1;
    for (let i = 1; ; i++) {
      try {
        return await this.requestOnce(req, extraMs);
      } catch (e) {
        // Retry only a lost answer on a live link; a refusal or a closed link is final.
        const retry = e instanceof DeviceError && e.code === 'device_unreachable' && this.stream !== undefined && i < attempts;
        if (!retry) throw e;
      }
    }
  }

  private requestOnce<O extends DeviceOp>(req: Extract<DeviceRequest, { type: O }>, extraMs: number): Promise<DeviceResultOf<O>> {
    const stream = this.stream;
    if (!stream || this.stopped) {
      return Promise.reject(new DeviceError('device_unreachable', `device ${this.deviceId} is not connected (${this.lastError})`));
    }
    const seq = this.allocateSeq();
    const timeoutMs = this.timeoutMs + extraMs;
    return new Promise<DeviceResultOf<O>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        const reason = `device ${this.deviceId} did not answer ${req.type} within ${timeoutMs} ms`;
        this.setReachable(false, reason);
        reject(new DeviceError('device_unreachable', reason));
      }, timeoutMs);
      this.pending.set(seq, { op: req.type, resolve: resolve as (r: unknown) => void, reject, timer });
      stream.write(encodeDeviceFrame(seq, req));
    });
  }

  private allocateSeq(): number {
    // 256 seqs; skip any still awaiting an answer so a late reply is never taken for a new one.
    for (let i = 0; i < 256; i++) {
      const seq = this.nextSeq;
      this.nextSeq = (this.nextSeq + 1) & 0xff;
      if (!this.pending.has(seq)) return seq;
    }
    throw new DeviceError('device_busy', `device ${this.deviceId} has 256 requests outstanding`);
  }

  private onData(chunk: Buffer): void {
    const gap = this.options.frameGapMs ?? 0;
    if (gap > 0) {
      const now = (this.options.now ?? Date.now)();
      if (this.decoder.pending > 0 && now - this.lastDataAt > gap) this.decoder.flush();
      this.lastDataAt = now;
    }
    const { frames } = this.decoder.push(chunk);
    // Rejected frames are counted by the decoder; an unusable reply then times out like a lost one.
    for (const { seq, message } of frames) {
      if (message.type === 'reply') this.onReply(seq, message);
      else this.onEvent(message);
    }
  }

  private onReply(seq: number, reply: DeviceReply): void {
    const p = this.pending.get(seq);
    if (!p || p.op !== reply.op) return; // late answer to a request that already timed out
    this.pending.delete(seq);
    clearTimeout(p.timer);
    this.setReachable(true);
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new DeviceError(reply.error.code, reply.error.message));
  }

  private onEvent(event: DeviceEvent): void {
    this.setReachable(true);
    this.emit({ device: event.device, fault: event.fault, cleared: event.type === 'fault_cleared', ...(event.detail ? { detail: event.detail } : {}) });
  }

  // -------------------------------------------------------- connection ----

  private async connect(): Promise<void> {
    const { transport } = this.options;
    if (transport.kind === 'stream') {
      if (this.streamUsed) return; // a given stream cannot be reopened
      this.streamUsed = true;
      if (transport.stream.destroyed) {
        this.setReachable(false, 'stream closed before start');
        return;
      }
      this.attach(transport.stream);
    } else {
      const socket = await this.dial(transport.host, transport.port);
      if (!socket) {
        this.scheduleReconnect();
        return;
      }
      this.attach(socket);
    }
    try {
      this.hello = await this.request({ type: 'hello', agent: 'loanet-edge-agent' });
      this.attempt = 0;
    } catch {
      // Connected but silent (booting, dark): status() keeps reporting it; replies will mark it reachable.
    }
  }

  private dial(host: string, port: number): Promise<Socket | undefined> {
    return new Promise((resolve) => {
      const socket = new Socket();
      const fail = (reason: string) => {
        socket.destroy();
        this.setReachable(false, `cannot connect to device at ${host}:${port}: ${reason}`);
        resolve(undefined);
      };
      socket.setTimeout(this.timeoutMs, () => fail('timeout'));
      socket.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
      socket.connect(port, host, () => {
        socket.setTimeout(0);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        resolve(socket);
      });
    });
  }

  private attach(stream: Duplex): void {
    this.stream = stream;
    this.decoder = new DeviceFrameDecoder('to_agent');
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (e: Error) => {
      this.lastError = e.message;
    });
    stream.on('close', () => {
      if (this.stream !== stream) return;
      this.detach(`connection to device ${this.deviceId} closed`);
      this.scheduleReconnect();
    });
  }

  private detach(reason: string): void {
    this.stream = undefined;
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new DeviceError('device_unreachable', `${reason} before ${p.op} was answered`));
      this.pending.delete(seq);
    }
    if (!this.stopped) this.setReachable(false, reason);
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.options.transport.kind !== 'tcp' || this.reconnectTimer) return;
    const delay = Math.min(this.backoff.capMs, this.backoff.baseMs * 2 ** Math.min(this.attempt, 16));
    this.attempt++;
    // Jitter, so a site's agents don't all redial in the same millisecond after a firmware restart.
    this.reconnectTimer = setTimeout(
      () => {
        this.reconnectTimer = undefined;
        if (!this.stopped) void this.connect();
      },
      delay * (0.5 + Math.random() / 2),
    );
    this.reconnectTimer.unref();
  }

  private setReachable(reachable: boolean, reason?: string): void {
    if (reason) this.lastError = reason;
    const before = this.reachable;
    if (before === reachable) return;
    this.reachable = reachable;
    if (!reachable) this.emit({ device: this.deviceId, fault: 'device_unreachable', cleared: false, detail: this.lastError.slice(0, 300) });
    else if (before === false) this.emit({ device: this.deviceId, fault: 'device_unreachable', cleared: true });
  }

  private emit(notice: DeviceFaultNotice): void {
    for (const l of this.listeners) {
      try {
        l(notice);
      } catch {
        // One broken listener must not stop the others or the driver.
      }
    }
  }

  // ------------------------------------------------------------ status ----

  private warmupMs(): number {
    return this.hello?.warmupMs ?? DEFAULT_WARMUP_MS;
  }

  private knownLines(): DeviceStatus['lines'] {
    if (this.lastLines.length > 0 || !this.hello) return this.lastLines;
    return Array.from({ length: this.hello.lines }, (_, i) => ({ id: i + 1, status: 'unknown' as const, impedanceOhm: null, nominalOhm: null }));
  }

  private toStatus(s: DeviceStatusPayload): DeviceStatus {
    const lines = s.lines.map((l) => ({ id: l.id, status: l.status, impedanceOhm: l.ohm, nominalOhm: l.nominalOhm }));
    this.lastLines = lines;
    return {
      amplifier: s.amp ? { on: s.amp.on, volume: s.amp.volume, fault: s.amp.fault, temperatureC: s.amp.tempC } : null,
      lines,
      power: { ...s.power },
      link: { type: s.link.type, signalDbm: s.link.dbm, up: s.link.up, ...(s.link.operator ? { operator: s.link.operator } : {}) },
      boardTemperatureC: s.boardTempC,
      monitorMic: s.mic,
      devices: [{ id: this.deviceId, kind: 'controller', ...this.hardwareField(), reachable: true, ...(this.hello ? { firmware: this.hello.firmware } : {}) }],
      ...(this.hello ? { firmware: this.hello.firmware } : {}),
    };
  }

  private unreachableStatus(error: string): DeviceStatus {
    return {
      amplifier: null,
      // Keep the line ids we know (from the last status, else hello's count) so coverage still lists them.
      lines: this.knownLines().map((l) => ({ ...l, status: 'unknown' as const, impedanceOhm: null })),
      power: { source: 'unknown', mainsOk: null, batteryPct: null },
      // The uplink is unknown, not lost: the modem's view came from the device. Claiming
      // `up: false` would raise a false link fault on top of the real one (unreachable device).
      link: { type: 'unknown', signalDbm: null, up: true },
      boardTemperatureC: null,
      monitorMic: this.hello?.mic ?? false,
      devices: [{ id: this.deviceId, kind: 'controller', ...this.hardwareField(), reachable: false, error: error.slice(0, 200) }],
      ...(this.hello ? { firmware: this.hello.firmware } : {}),
    };
  }

  /**
   * The hardware id its hello said (kept while it is unreachable): `kind` stays its role at the site,
   * `hardware` is what a firmware release is matched on. Older firmware says none.
   */
  private hardwareField(): { hardware?: string } {
    return this.hello?.hardware ? { hardware: this.hello.hardware } : {};
  }
}
