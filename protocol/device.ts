/**
 * The device protocol between the edge agent and the local device firmware
 * (amplifier controller, speaker-line monitor, power supply, modem): message
 * schemas and the frame codec. Pure, no I/O. hardware/device-protocol.md is
 * the human-readable spec; change both together.
 *
 * The same bytes run over a UART (115200 8N1) and over TCP, so the framing
 * must survive line noise, a device that boots mid-frame and an agent that
 * attaches to a running stream. Each frame therefore starts with a two-byte
 * SYNC, carries an explicit length and ends with a CRC; the decoder scans for
 * SYNC, and when a candidate frame fails (CRC, length) it moves ONE byte on
 * and scans again, because the "frame" may have been a false SYNC inside
 * garbage with a real frame starting within it.
 *
 *   0      1      2        3      4..5          6..6+N-1        6+N..7+N
 *   0xA5   0x5A   version  seq    length N (BE)  payload (JSON)  CRC-16 (BE)
 *
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0;
 * check value 0x29B1 for "123456789") over version..payload.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

export const DEVICE_SYNC_0 = 0xa5;
export const DEVICE_SYNC_1 = 0x5a;
export const DEVICE_PROTOCOL_VERSION = 1;
/** Largest payload; a 8-line status is ~700 bytes. Bounds what a false SYNC can make the decoder wait for. */
export const DEVICE_MAX_PAYLOAD = 1024;
export const DEVICE_HEADER_BYTES = 6;
export const DEVICE_TRAILER_BYTES = 2;
export const DEVICE_FRAME_OVERHEAD = DEVICE_HEADER_BYTES + DEVICE_TRAILER_BYTES;

// ------------------------------------------------------------------ CRC ----

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** CRC-16/CCITT-FALSE of bytes[start, end). */
export function crc16CcittFalse(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  }
  return crc;
}

// -------------------------------------------------------------- schemas ----

const Level = Type.Integer({ minimum: 0, maximum: 100 });
const Hz = Type.Integer({ minimum: 20, maximum: 20000 });
const DurationMs = Type.Integer({ minimum: 10, maximum: 60000 });
const Short = (maxLength = 64) => Type.String({ maxLength });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Lit = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));
const Obj = <P extends Record<string, TSchema>>(p: P) => Type.Object(p, { additionalProperties: false });

const ToneParams = { hz: Hz, durationMs: DurationMs, level: Level };

/** Largest firmware image a device takes (a slot of the simulated flash; real devices may say less in fw_begin's refusal). */
export const FW_MAX_IMAGE_BYTES = 4 * 1024 * 1024;
/**
 * Bytes per fw_chunk: its base64 and the JSON around it fit one 1024-byte payload, and at
 * 115200 baud a chunk and its reply take ~70 ms, so a cut costs little to resend.
 */
export const FW_CHUNK_MAX_BYTES = 512;
const FW_CHUNK_BASE64_MAX = Math.ceil(FW_CHUNK_MAX_BYTES / 3) * 4;
const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$' });

/**
 * Audio to the amplifier, as per-frame SUMMARIES, not PCM: on a real board the
 * PCM goes to the sound card (ALSA) and never crosses this link; the simulated
 * firmware only needs to know what would have come out of the speakers, and a
 * fleet of hundreds of simulated sites must stay cheap (one ~300-byte frame per
 * 200 ms per site instead of 96 kB/s of PCM). See hardware/device-protocol.md.
 */
export const AUDIO_BATCH_MAX_FRAMES = 50;
const U32 = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });
/** Frame level, dBFS RMS, one decimal; -120 stands for digital silence. */
export const AUDIO_LEVEL_FLOOR_DB = -120;
const LevelDb = Type.Number({ minimum: AUDIO_LEVEL_FLOOR_DB, maximum: 0 });

/** Requests, agent → device. Every one gets exactly one `reply` with the same frame seq. */
export const DeviceRequest = Type.Union([
  Obj({ type: Type.Literal('hello'), agent: Type.Optional(Short(40)) }),
  Obj({ type: Type.Literal('get_status') }),
  Obj({ type: Type.Literal('set_volume'), level: Level }),
  Obj({ type: Type.Literal('amp_power'), on: Type.Boolean() }),
  Obj({ type: Type.Literal('play_tone'), ...ToneParams }),
  Obj({ type: Type.Literal('sound_check'), ...ToneParams }),
  Obj({ type: Type.Literal('reboot') }),
  /**
   * Consecutive frames of one output session: frame `seq + i` is due at
   * `playAt + i × frameMs` (agent's local clock, ms) with level `levels[i]`.
   * Reply `{heard}`: how many came out of the speakers (amplifier on and warm,
   * not in thermal shutdown, volume > 0, at least one speaker line ok).
   */
  Obj({
    type: Type.Literal('audio'),
    session: U32,
    seq: U32,
    playAt: Type.Number({ minimum: 0 }),
    frameMs: Type.Integer({ minimum: 1, maximum: 120 }),
    levels: Type.Array(LevelDb, { minItems: 1, maxItems: AUDIO_BATCH_MAX_FRAMES }),
  }),
  /** Pre-emption: frames of `session` from `fromSeq` on were sent ahead but are not to be heard. Reply `{dropped}`. */
  Obj({ type: Type.Literal('audio_flush'), session: U32, fromSeq: U32 }),
  /**
   * What the monitoring microphone heard while the audio due in [from, to)
   * played (agent's local clock, the clock of `audio` playAt): the delivery
   * proof of an alert ("the speakers made sound", not only "the frames were
   * sent"). Reply `{levelDb}`: the mean level (dBFS) over the window, the
   * ambient noise floor when nothing came out; null when the device has no
   * monitoring microphone (not an error: the agent asks every device).
   */
  Obj({ type: Type.Literal('mic_level'), from: Type.Number({ minimum: 0 }), to: Type.Number({ minimum: 0 }) }),
  /**
   * Firmware update (hardware/device-protocol.md, "Firmware update"), MCUboot-style: the image is
   * written to the slot not running, identified by its SHA-256, resumable by offset; verified;
   * booted once as a test; kept only when confirmed, else the next reset reverts to the old one.
   * fw_begin answers `{offset}`: the bytes of this image already written (0 for a new one).
   */
  Obj({ type: Type.Literal('fw_begin'), sha256: Sha256Hex, size: Type.Integer({ minimum: 1, maximum: FW_MAX_IMAGE_BYTES }), version: Short(40), hardware: Short(64) }),
  /** One chunk at `offset` (base64, 1..FW_CHUNK_MAX_BYTES bytes) with the CRC-16/CCITT-FALSE of its bytes. Answers `{offset}`: the next one expected. */
  Obj({
    type: Type.Literal('fw_chunk'),
    offset: Type.Integer({ minimum: 0, maximum: FW_MAX_IMAGE_BYTES }),
    data: Type.String({ minLength: 4, maxLength: FW_CHUNK_BASE64_MAX }),
    crc: Type.Integer({ minimum: 0, maximum: 0xffff }),
  }),
  /** SHA-256 of the written image read back from flash. */
  Obj({ type: Type.Literal('fw_verify') }),
  /** Boot the verified image once, as a test: the device reboots after its reply. */
  Obj({ type: Type.Literal('fw_activate') }),
  /** Keep the image under test for good. */
  Obj({ type: Type.Literal('fw_confirm') }),
]);
export type DeviceRequest = Static<typeof DeviceRequest>;
export type DeviceOp = DeviceRequest['type'];
export const DEVICE_OPS: readonly DeviceOp[] = [
  'hello',
  'get_status',
  'set_volume',
  'amp_power',
  'play_tone',
  'sound_check',
  'reboot',
  'audio',
  'audio_flush',
  'mic_level',
  'fw_begin',
  'fw_chunk',
  'fw_verify',
  'fw_activate',
  'fw_confirm',
];

export const DeviceLineStatus = Obj({
  id: Type.Integer({ minimum: 1, maximum: 16 }),
  status: Lit(['ok', 'open', 'short', 'unknown'] as const),
  /** Measured impedance; an open line reads very high (1 MΩ, the meter's ceiling), a short ≈ 0. */
  ohm: Nullable(Type.Number({ minimum: 0 })),
  nominalOhm: Nullable(Type.Number({ minimum: 0 })),
});
export type DeviceLineStatus = Static<typeof DeviceLineStatus>;

/** What `get_status` answers: compact keys, because it must fit one 1024-byte payload. */
export const DeviceStatusPayload = Obj({
  amp: Nullable(
    Obj({
      on: Type.Boolean(),
      volume: Level,
      fault: Lit(['none', 'overheat', 'overload', 'no_response'] as const),
      tempC: Nullable(Type.Number()),
      /** True while the amplifier is powered but still in its warm-up (power sequencing) window. */
      warming: Type.Optional(Type.Boolean()),
    }),
  ),
  lines: Type.Array(DeviceLineStatus, { maxItems: 8 }),
  power: Obj({
    source: Lit(['mains', 'battery', 'solar', 'unknown'] as const),
    mainsOk: Nullable(Type.Boolean()),
    batteryPct: Nullable(Type.Number({ minimum: 0, maximum: 100 })),
  }),
  link: Obj({
    type: Lit(['ethernet', 'fiber', 'wifi', '4g', '3g', '2g', 'unknown'] as const),
    up: Type.Boolean(),
    dbm: Nullable(Type.Number({ minimum: -200, maximum: 0 })),
    operator: Type.Optional(Short(40)),
  }),
  boardTempC: Nullable(Type.Number()),
  mic: Type.Boolean(),
  uptimeS: Type.Integer({ minimum: 0 }),
});
export type DeviceStatusPayload = Static<typeof DeviceStatusPayload>;

/**
 * The firmware slots as the device reports them: which runs, whether it is confirmed or on its
 * test boot, why the last test was reverted, and what a transfer has written so far.
 */
export const DeviceFirmwareState = Obj({
  slot: Lit(['a', 'b'] as const),
  state: Lit(['confirmed', 'testing'] as const),
  /** Set after a test image was given up, until the next fw_begin: self_test_failed, not_confirmed. */
  reverted: Type.Optional(Obj({ version: Short(40), reason: Lit(['self_test_failed', 'not_confirmed'] as const) })),
  /** The image in the other slot: being written, written, or verified and waiting to be activated. */
  staged: Type.Optional(Obj({ sha256: Sha256Hex, version: Short(40), size: Type.Integer({ minimum: 1 }), written: Type.Integer({ minimum: 0 }), verified: Type.Boolean() })),
});
export type DeviceFirmwareState = Static<typeof DeviceFirmwareState>;

export const DeviceHelloResult = Obj({
  model: Short(64),
  firmware: Short(40),
  /**
   * The board's hardware id, the one a firmware image must name (fw_begin `hardware`): the agent
   * reports it in its heartbeat so the server matches a release to the devices built for it, and
   * refuses an image for other hardware before downloading it. Optional: older firmware omits it.
   */
  hardware: Type.Optional(Short(64)),
  /** Device protocol version the firmware speaks (same as the frame version today). */
  protocol: Type.Integer({ minimum: 1, maximum: 255 }),
  profile: Type.Optional(Short(64)),
  mic: Type.Boolean(),
  lines: Type.Integer({ minimum: 0, maximum: 8 }),
  /** The amplifier's warm-up; the agent waits this much longer for an `amp_power` reply. */
  warmupMs: Type.Integer({ minimum: 0, maximum: 60000 }),
  /** How long the amplifier should stay on after the last sound (the profile's power sequencing). Optional: older firmware omits it. */
  holdMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600000 })),
  /** Where its firmware stands (firmware that cannot be updated omits it). */
  fw: Type.Optional(DeviceFirmwareState),
});
export type DeviceHelloResult = Static<typeof DeviceHelloResult>;

const Empty = Obj({});
/** Result schema per request op: a reply names the op it answers, so it can be validated on its own. */
export const DEVICE_RESULTS = {
  hello: DeviceHelloResult,
  get_status: DeviceStatusPayload,
  set_volume: Obj({ volume: Level }),
  amp_power: Obj({ on: Type.Boolean() }),
  play_tone: Empty,
  sound_check: Obj({ levelDb: Nullable(Type.Number({ minimum: -200, maximum: 20 })) }),
  reboot: Empty,
  audio: Obj({ heard: Type.Integer({ minimum: 0, maximum: AUDIO_BATCH_MAX_FRAMES }) }),
  audio_flush: Obj({ dropped: Type.Integer({ minimum: 0 }) }),
  mic_level: Obj({ levelDb: Nullable(Type.Number({ minimum: -200, maximum: 20 })) }),
  fw_begin: Obj({ offset: Type.Integer({ minimum: 0 }) }),
  fw_chunk: Obj({ offset: Type.Integer({ minimum: 0 }) }),
  fw_verify: Obj({ ok: Type.Boolean(), sha256: Sha256Hex }),
  fw_activate: Empty,
  fw_confirm: Obj({ version: Short(40) }),
} as const satisfies Record<DeviceOp, TSchema>;
export type DeviceResultOf<O extends DeviceOp> = Static<(typeof DEVICE_RESULTS)[O]>;

export const DeviceErrorInfo = Obj({ code: Short(64), message: Short(300) });
export type DeviceErrorInfo = Static<typeof DeviceErrorInfo>;

/** Replies, device → agent, matched to the request by frame seq. */
export const DeviceReply = Type.Union([
  ...DEVICE_OPS.map((op) => Obj({ type: Type.Literal('reply'), op: Type.Literal(op), ok: Type.Literal(true), result: DEVICE_RESULTS[op] })),
  Obj({ type: Type.Literal('reply'), op: Lit(DEVICE_OPS), ok: Type.Literal(false), error: DeviceErrorInfo }),
]);
export type DeviceReply =
  | { [O in DeviceOp]: { type: 'reply'; op: O; ok: true; result: DeviceResultOf<O> } }[DeviceOp]
  | { type: 'reply'; op: DeviceOp; ok: false; error: DeviceErrorInfo };

/** Unsolicited events, device → agent, sent the moment a fault appears or clears. */
export const DeviceEvent = Obj({
  type: Lit(['fault', 'fault_cleared'] as const),
  /** Which part: 'amplifier', 'line-2', 'power', 'modem'. */
  device: Short(64),
  /** Stable code, e.g. 'line_open', 'amp_overheat', 'mains_lost', 'battery_low', 'modem_link_lost'. */
  fault: Short(64),
  detail: Type.Optional(Short(300)),
});
export type DeviceEvent = Static<typeof DeviceEvent>;

export type DeviceToAgentMessage = DeviceReply | DeviceEvent;
export type DeviceMessage = DeviceRequest | DeviceToAgentMessage;

/** Which messages a decoder accepts: a device only takes requests, an agent only replies and events. */
export type DeviceDirection = 'to_device' | 'to_agent' | 'any';

const checkers: Record<DeviceDirection, TypeCheck<TSchema>> = {
  to_device: TypeCompiler.Compile(DeviceRequest),
  to_agent: TypeCompiler.Compile(Type.Union([DeviceReply, DeviceEvent])),
  any: TypeCompiler.Compile(Type.Union([DeviceRequest, DeviceReply, DeviceEvent])),
};

// --------------------------------------------------------------- encode ----

/** Encode one frame. Throws RangeError on our own bug (bad seq, payload too large), never on peer input. */
export function encodeDeviceFrame(seq: number, message: DeviceMessage, version = DEVICE_PROTOCOL_VERSION): Buffer {
  if (!Number.isInteger(seq) || seq < 0 || seq > 255) throw new RangeError(`device frame seq ${seq} is not 0..255`);
  const payload = Buffer.from(JSON.stringify(message), 'utf8');
  if (payload.length > DEVICE_MAX_PAYLOAD) {
    throw new RangeError(`device ${message.type} payload of ${payload.length} bytes exceeds ${DEVICE_MAX_PAYLOAD}`);
  }
  const frame = Buffer.allocUnsafe(payload.length + DEVICE_FRAME_OVERHEAD);
  frame[0] = DEVICE_SYNC_0;
  frame[1] = DEVICE_SYNC_1;
  frame[2] = version;
  frame[3] = seq;
  frame.writeUInt16BE(payload.length, 4);
  payload.copy(frame, DEVICE_HEADER_BYTES);
  frame.writeUInt16BE(crc16CcittFalse(frame, 2, DEVICE_HEADER_BYTES + payload.length), DEVICE_HEADER_BYTES + payload.length);
  return frame;
}

// --------------------------------------------------------------- decode ----

export interface DeviceFrame<M = DeviceMessage> {
  version: number;
  seq: number;
  message: M;
}

/** A frame whose CRC was good but whose content we cannot use: reported so the peer can be answered or counted. */
export interface DeviceFrameRejection {
  seq: number;
  code: 'unknown_version' | 'bad_json' | 'schema';
  reason: string;
  /** The message's `type` when it had a string one, so a device can still answer an invalid request. */
  messageType?: string;
}

export interface DeviceDecodeStats {
  frames: number;
  /** Bytes skipped while hunting for SYNC (garbage, and the bytes of frames that failed). */
  droppedBytes: number;
  crcErrors: number;
  /** Headers announcing a payload larger than DEVICE_MAX_PAYLOAD (a false SYNC, or a broken peer). */
  oversize: number;
  rejected: number;
}

export interface DeviceDecodeResult<M = DeviceMessage> {
  frames: DeviceFrame<M>[];
  rejected: DeviceFrameRejection[];
}

type MessageFor<D extends DeviceDirection> = D extends 'to_device' ? DeviceRequest : D extends 'to_agent' ? DeviceToAgentMessage : DeviceMessage;

/**
 * Incremental decoder: push bytes as they arrive, in any split, and get the
 * complete valid frames. Never throws on input. Keeps at most one frame of
 * bytes (DEVICE_MAX_PAYLOAD + overhead) plus the latest chunk.
 */
export class DeviceFrameDecoder<D extends DeviceDirection = 'any'> {
  readonly stats: DeviceDecodeStats = { frames: 0, droppedBytes: 0, crcErrors: 0, oversize: 0, rejected: 0 };
  private buf: Buffer = Buffer.alloc(0);
  private readonly check: TypeCheck<TSchema>;

  constructor(readonly direction: D = 'any' as D) {
    this.check = checkers[direction];
  }

  /** Bytes held while waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  /**
   * Drop a partial frame. Over a UART the transport calls this after an
   * inter-byte gap (e.g. 50 ms): a false SYNC announcing 1000 bytes would
   * otherwise hold back the real frames behind it until 1000 bytes arrive.
   */
  flush(): number {
    const n = this.buf.length;
    this.stats.droppedBytes += n;
    this.buf = Buffer.alloc(0);
    return n;
  }

  push(chunk: Uint8Array): DeviceDecodeResult<MessageFor<D>> {
    const out: DeviceDecodeResult<MessageFor<D>> = { frames: [], rejected: [] };
    const buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    for (;;) {
      const sync = findSync(buf, pos);
      if (sync < 0) {
        // Keep a trailing 0xA5: it may be the first half of a SYNC split across chunks.
        const keep = buf.length > pos && buf[buf.length - 1] === DEVICE_SYNC_0 ? 1 : 0;
        this.stats.droppedBytes += buf.length - pos - keep;
        pos = buf.length - keep;
        break;
      }
      this.stats.droppedBytes += sync - pos;
      pos = sync;
      if (buf.length - pos < DEVICE_HEADER_BYTES) break;
      const len = buf.readUInt16BE(pos + 4);
      if (len > DEVICE_MAX_PAYLOAD) {
        this.stats.oversize++;
        this.stats.droppedBytes++;
        pos++;
        continue;
      }
      const end = pos + DEVICE_HEADER_BYTES + len + DEVICE_TRAILER_BYTES;
      if (buf.length < end) break;
      const crc = buf.readUInt16BE(end - DEVICE_TRAILER_BYTES);
      if (crc !== crc16CcittFalse(buf, pos + 2, end - DEVICE_TRAILER_BYTES)) {
        this.stats.crcErrors++;
        this.stats.droppedBytes++;
        pos++;
        continue;
      }
      const version = buf[pos + 2]!;
      const seq = buf[pos + 3]!;
      const payload = buf.subarray(pos + DEVICE_HEADER_BYTES, end - DEVICE_TRAILER_BYTES);
      pos = end;
      const decoded = this.decodePayload(version, seq, payload);
      if ('code' in decoded) {
        this.stats.rejected++;
        out.rejected.push(decoded);
      } else {
        this.stats.frames++;
        out.frames.push(decoded);
      }
    }
    // Copy the remainder so a large chunk is not kept alive by a small tail.
    this.buf = pos >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    return out;
  }

  private decodePayload(version: number, seq: number, payload: Buffer): DeviceFrame<MessageFor<D>> | DeviceFrameRejection {
    if (version !== DEVICE_PROTOCOL_VERSION) {
      return { seq, code: 'unknown_version', reason: `device protocol version ${version}; this side speaks ${DEVICE_PROTOCOL_VERSION}` };
    }
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch (e) {
      return { seq, code: 'bad_json', reason: `payload is not JSON (${(e as Error).message})` };
    }
    if (!this.check.Check(value)) {
      const first = this.check.Errors(value).First();
      const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
      return {
        seq,
        code: 'schema',
        reason: `${JSON.stringify(type ?? null)} not valid ${this.direction}: ${first ? `${first.path || '/'}: ${first.message}` : 'mismatch'}`.slice(0, 300),
        ...(typeof type === 'string' ? { messageType: type.slice(0, 64) } : {}),
      };
    }
    return { version, seq, message: value as MessageFor<D> };
  }
}

function findSync(buf: Buffer, from: number): number {
  for (let i = buf.indexOf(DEVICE_SYNC_0, from); i >= 0 && i + 1 < buf.length; i = buf.indexOf(DEVICE_SYNC_0, i + 1)) {
    if (buf[i + 1] === DEVICE_SYNC_1) return i;
  }
  return -1;
}
