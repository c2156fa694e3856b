/**
 * Edge agent configuration: one JSON file per site, validated once at start
 * against a TypeBox schema, defaults applied, then passed down as a plain
 * `AgentConfig`. Nothing in the agent reads files or the environment later.
 *
 * `parseAgentConfig` is pure (the fleet runner builds thousands of configs in
 * code); `loadAgentConfig` adds the file I/O: reading the JSON, a
 * `credential.secretFile`, and resolving relative paths against the file.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AREA_KEY_PATTERN, LinkType, SITE_ID_PATTERN } from '../protocol/index.ts';
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_CAP_MS } from '../common/backoff.ts';
import { DeviceConfigError, parseDeviceGatewayConfig, type DeviceGatewayConfig } from './devices/factory.ts';
import { DEFAULT_OUTPUT_BUFFER_MS } from './audio/types.ts';

export type { DeviceGatewayConfig };

const NonEmpty = (description: string) => Type.String({ minLength: 1, description });

export const AgentConfigFile = Type.Object(
  {
    siteId: Type.String({ pattern: SITE_ID_PATTERN.source, description: 'site id, also the MQTT client id and username' }),
    server: Type.Object(
      {
        mqttUrl: Type.String({ pattern: '^(mqtt|mqtts|tcp|ssl|ws|wss)://[^\\s]+$', description: "e.g. 'mqtt://host:1883'" }),
        httpUrl: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
      },
      { additionalProperties: false },
    ),
    credential: Type.Object(
      {
        secret: Type.Optional(NonEmpty('the site secret (MQTT password)')),
        secretFile: Type.Optional(NonEmpty('a file holding the secret, relative to the config file')),
      },
      { additionalProperties: false },
    ),
    heartbeatIntervalS: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
    /** MQTT keepalive; the broker declares us gone (and publishes the will) after 1.5× this without traffic. */
    keepaliveS: Type.Integer({ minimum: 5, maximum: 3600, default: 30 }),
    /**
     * The area keys whose alert and live channels to subscribe to: only the fallback before the
     * server's first site configuration (edge-agent/site-config.ts), whose channels then win.
     */
    areaChannels: Type.Array(Type.String({ pattern: AREA_KEY_PATTERN.source }), { maxItems: 16, default: [] }),
    /**
     * The device driver, e.g. `{ "driver": "sim", "host": "127.0.0.1", "port": 7000 }` or
     * `{ "driver": "board", ... }`. Validated by `parseDeviceGatewayConfig` (devices/factory.ts),
     * which knows each driver's fields. Required by the CLI; code that builds its own
     * gateway (the fleet runner) leaves it out.
     */
    devices: Type.Optional(Type.Unknown({ description: 'device driver: {driver:"sim",host,port} or {driver:"board",...}' })),
    /** What the agent reports as its uplink when the modem does not say. */
    link: Type.Object({ type: LinkType }, { additionalProperties: false, default: { type: 'unknown' } }),
    /** Where executed command ids are kept for dedupe across restarts; absent = memory only. */
    stateDir: Type.Optional(NonEmpty('directory for agent state')),
    /**
     * A folder of the Ed25519 public keys (PEM, *.pem) whose signatures this board trusts for software
     * updates (docs/updates.md), relative to the file. Absent: the package's own, /usr/lib/loanet-agent/release-keys.
     */
    releaseKeysDir: Type.Optional(NonEmpty('folder of trusted release keys (*.pem)')),
    /** A sound check passes when the monitoring mic hears at least this level. */
    soundCheckThresholdDb: Type.Number({ minimum: -120, maximum: 0, default: -40 }),
    reconnect: Type.Object(
      {
        baseMs: Type.Integer({ minimum: 10, maximum: 600_000, default: DEFAULT_BACKOFF_BASE_MS }),
        capMs: Type.Integer({ minimum: 10, maximum: 3_600_000, default: DEFAULT_BACKOFF_CAP_MS }),
        /** After a refused CONNACK (wrong secret); default the larger of capMs and 5 min (common/backoff.ts). */
        refusedCapMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Audio output and the media cache (edge-agent/audio/, edge-agent/media-cache/).
     * Defaults suit a Pi: the device driver's own output (the board's sound card,
     * or the simulated amplifier), a 200 ms ALSA buffer, 1 GiB of cache (~90 h of
     * speech at 24 kbit/s) under stateDir.
     */
    audio: Type.Object(
      {
        sink: Type.Union([Type.Literal('device'), Type.Literal('alsa'), Type.Literal('file'), Type.Literal('null')], {
          default: 'device',
          description:
            "'device': the driver's output (board: ALSA on its audio.device; sim: the simulated amplifier); 'alsa': aplay on alsaDevice; 'file': a WAV at file; 'null': count only",
        }),
        alsaDevice: Type.String({ minLength: 1, maxLength: 100, default: 'default', description: "ALSA PCM for sink 'alsa', e.g. 'default', 'plughw:1,0'" }),
        bufferMs: Type.Integer({
          minimum: 20,
          maximum: 2000,
          default: DEFAULT_OUTPUT_BUFFER_MS,
          description: 'output buffer: how far ahead of play time frames are written (a live stream needs its frames this + 40 ms before they are heard)',
        }),
        file: Type.Optional(NonEmpty("WAV path for sink 'file', relative to the config file")),
        cacheDir: Type.Optional(NonEmpty('media cache directory, relative to the config file; default <stateDir>/media-cache')),
        cacheLimitBytes: Type.Integer({ minimum: 1024 * 1024, default: 1024 ** 3, description: 'bytes the media cache may hold' }),
        /** A partial download older than this is deleted at start instead of resumed (the file may have been replaced). */
        partialMaxAgeH: Type.Number({ minimum: 0, maximum: 24 * 365, default: 72 }),
        /**
         * Live streams play this much later here: the extra distance (m) the sound of a
         * neighbouring horn travels to the listeners between them, at 343 m/s. Negative: earlier.
         * The default only: a set_acoustic_delay command overrides it, kept in stateDir/settings.json.
         */
        acousticDelayM: Type.Number({ minimum: -100, maximum: 1000, default: 0, description: 'acoustic alignment of live streams, metres (÷ 343 m/s)' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, $id: 'AgentConfigFile' },
);
export type AgentConfigFile = Static<typeof AgentConfigFile>;

/** The validated configuration the agent runs with. */
export interface AgentConfig {
  siteId: string;
  server: { mqttUrl: string; httpUrl?: string };
  credential: { secret: string };
  heartbeatIntervalS: number;
  keepaliveS: number;
  areaChannels: string[];
  /** Absent when the caller builds its own gateway (the fleet runner). */
  devices?: DeviceGatewayConfig;
  link: { type: AgentConfigFile['link']['type'] };
  stateDir?: string;
  soundCheckThresholdDb: number;
  reconnect: { baseMs: number; capMs: number; refusedCapMs?: number };
  audio: AgentAudioConfig;
  /** From package.json, not from the file. */
  agentVersion: string;
  /** Where the trusted release keys are (absolute after loadAgentConfig). */
  releaseKeysDir?: string;
}

/** The `audio` section, validated; `cacheDir` resolved (absent: no stateDir and none given, so no cache). */
export interface AgentAudioConfig {
  sink: 'device' | 'alsa' | 'file' | 'null';
  alsaDevice: string;
  bufferMs: number;
  file?: string;
  cacheDir?: string;
  cacheLimitBytes: number;
  partialMaxAgeH: number;
  /** Live streams play acousticDelayM / 343 m/s later at this site. */
  acousticDelayM: number;
}

/** What the command line runs with: a config that names its device driver. */
export type AgentFileConfig = AgentConfig & { devices: DeviceGatewayConfig };

/** A config problem, naming the file and the field so the operator can fix it. */
export class AgentConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${file}: ${field ? `${field}: ` : ''}${reason}`);
    this.name = 'AgentConfigError';
  }
}

/** Convert a JSON pointer (`/server/mqttUrl`) to a field path (`server.mqttUrl`). */
function fieldOf(pointer: string): string {
  return pointer.replace(/^\//, '').replace(/\//g, '.').replace(/~1/g, '/').replace(/~0/g, '~');
}

export interface ParseOptions {
  /** Named in errors; a file path or e.g. '<fleet site 12>'. */
  source?: string;
  /** Default: the version in package.json. */
  agentVersion?: string;
  /** A secret read from `credential.secretFile` by the loader. */
  secretFromFile?: string;
  /** Fail when the `devices` section is missing (the CLI has no other way to reach a device). */
  requireDevices?: boolean;
}

const DEVICES_EXAMPLE = '{"driver": "sim", "host": "127.0.0.1", "port": 7000} or {"driver": "board", ...}';

/** Validate a parsed JSON value and apply defaults. Pure; throws AgentConfigError. */
export function parseAgentConfig(raw: unknown, options: ParseOptions & { requireDevices: true }): AgentFileConfig;
export function parseAgentConfig(raw: unknown, options?: ParseOptions): AgentConfig;
export function parseAgentConfig(raw: unknown, options: ParseOptions = {}): AgentConfig {
  const source = options.source ?? '<config>';
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new AgentConfigError(source, '', 'expected a JSON object');
  }
  // Value.Default fills defaults in a clone; Clean is not used so unknown keys are reported, not dropped.
  const value = Value.Default(AgentConfigFile, Value.Clone(raw));
  const first = Value.Errors(AgentConfigFile, value).First();
  if (first) {
    const field = fieldOf(first.path);
    const extra = first.message.includes('additional properties') || first.message.includes('Unexpected property') ? ` (unknown field; allowed: ${allowedKeys(field)})` : '';
    const options = (first.schema as { anyOf?: Array<{ const?: unknown }> }).anyOf?.map((s) => s.const);
    const message = options?.every((o) => o !== undefined) ? `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}` : first.message;
    throw new AgentConfigError(source, field, `${message}${extra}`);
  }
  const file = value as AgentConfigFile;
  const { secret, secretFile } = file.credential;
  if (secret !== undefined && secretFile !== undefined) {
    throw new AgentConfigError(source, 'credential', 'give either secret or secretFile, not both');
  }
  const resolvedSecret = secret ?? options.secretFromFile?.trim();
  if (!resolvedSecret) {
    throw new AgentConfigError(
      source,
      secretFile !== undefined ? 'credential.secretFile' : 'credential',
      secretFile !== undefined ? `secret file ${secretFile} is empty or was not read` : 'needs secret or secretFile',
    );
  }
  if (file.audio.sink === 'file' && file.audio.file === undefined) {
    throw new AgentConfigError(source, 'audio.file', "sink 'file' needs a WAV path in audio.file");
  }
  if (file.reconnect.capMs < file.reconnect.baseMs) {
    throw new AgentConfigError(source, 'reconnect.capMs', `must be >= reconnect.baseMs (${file.reconnect.baseMs})`);
  }
  if (file.reconnect.refusedCapMs !== undefined && file.reconnect.refusedCapMs < file.reconnect.baseMs) {
    throw new AgentConfigError(source, 'reconnect.refusedCapMs', `must be >= reconnect.baseMs (${file.reconnect.baseMs})`);
  }
  let devices: DeviceGatewayConfig | undefined;
  if (file.devices !== undefined) {
    if (typeof file.devices !== 'object' || file.devices === null || Array.isArray(file.devices)) {
      throw new AgentConfigError(source, 'devices', `expected an object, e.g. ${DEVICES_EXAMPLE}`);
    }
    try {
      devices = parseDeviceGatewayConfig(file.devices);
    } catch (e) {
      if (!(e instanceof DeviceConfigError)) throw e;
      throw new AgentConfigError(source, e.field ? `devices.${e.field}` : 'devices', e.reason);
    }
  } else if (options.requireDevices) {
    throw new AgentConfigError(source, 'devices', `missing; the agent needs a device driver, e.g. ${DEVICES_EXAMPLE}`);
  }
  const config: AgentConfig = {
    siteId: file.siteId,
    server: file.server.httpUrl ? { mqttUrl: file.server.mqttUrl, httpUrl: file.server.httpUrl } : { mqttUrl: file.server.mqttUrl },
    credential: { secret: resolvedSecret },
    heartbeatIntervalS: file.heartbeatIntervalS,
    keepaliveS: file.keepaliveS,
    areaChannels: file.areaChannels,
    link: file.link,
    soundCheckThresholdDb: file.soundCheckThresholdDb,
    reconnect: file.reconnect,
    audio: audioConfigOf(file.audio, file.stateDir),
    agentVersion: options.agentVersion ?? readAgentVersion(),
  };
  if (devices !== undefined) config.devices = devices;
  if (file.stateDir !== undefined) config.stateDir = file.stateDir;
  if (file.releaseKeysDir !== undefined) config.releaseKeysDir = file.releaseKeysDir;
  return config;
}

function audioConfigOf(a: AgentConfigFile['audio'], stateDir: string | undefined): AgentAudioConfig {
  const cacheDir = a.cacheDir ?? (stateDir !== undefined ? join(stateDir, 'media-cache') : undefined);
  return {
    sink: a.sink,
    alsaDevice: a.alsaDevice,
    bufferMs: a.bufferMs,
    cacheLimitBytes: a.cacheLimitBytes,
    partialMaxAgeH: a.partialMaxAgeH,
    acousticDelayM: a.acousticDelayM,
    ...(a.file !== undefined ? { file: a.file } : {}),
    ...(cacheDir !== undefined ? { cacheDir } : {}),
  };
}

function allowedKeys(field: string): string {
  const parent = field.includes('.') ? field.slice(0, field.lastIndexOf('.')) : '';
  let schema: unknown = AgentConfigFile;
  for (const part of parent ? parent.split('.') : []) {
    schema = (schema as { properties?: Record<string, unknown> }).properties?.[part];
  }
  const props = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props).join(', ') : '?';
}

let cachedVersion: string | undefined;
/**
 * The agent's version, from the project's package.json (read once, synchronously,
 * so the pure `parseAgentConfig` can default to it). '0.0.0' if it cannot be read.
 */
export function readAgentVersion(): string {
  if (cachedVersion === undefined) {
    // A built agent (scripts/build.ts) carries its version in the bundle: a package installs no package.json.
    let version: unknown = process.env.LOANET_BUILT_VERSION;
    if (version === undefined) {
      try {
        version = (createRequire(import.meta.url)('../package.json') as { version?: unknown }).version;
      } catch {
        /* not shipped with a package.json: report the placeholder */
      }
    }
    cachedVersion = typeof version === 'string' && version !== '' ? version : '0.0.0';
  }
  return cachedVersion;
}

/**
 * Read, validate and resolve a config file (relative paths are relative to the
 * file). The file must name its device driver: the CLI has no other device.
 */
export async function loadAgentConfig(path: string): Promise<AgentFileConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new AgentConfigError(path, '', `cannot read config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new AgentConfigError(path, '', `not valid JSON (${(e as Error).message})`);
  }
  const baseDir = dirname(resolve(path));
  let secretFromFile: string | undefined;
  const secretFile = (raw as { credential?: { secretFile?: unknown } } | null)?.credential?.secretFile;
  if (typeof secretFile === 'string' && secretFile !== '') {
    const secretPath = resolve(baseDir, secretFile);
    try {
      secretFromFile = await readFile(secretPath, 'utf8');
    } catch (e) {
      throw new AgentConfigError(path, 'credential.secretFile', `cannot read ${secretPath} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const config = parseAgentConfig(raw, {
    source: path,
    requireDevices: true,
    ...(secretFromFile !== undefined ? { secretFromFile } : {}),
  });
  if (config.stateDir !== undefined) config.stateDir = resolve(baseDir, config.stateDir);
  if (config.releaseKeysDir !== undefined) config.releaseKeysDir = resolve(baseDir, config.releaseKeysDir);
  // Audio paths are relative to the file too (a default cacheDir under a relative stateDir included).
  if (config.audio.cacheDir !== undefined) config.audio.cacheDir = resolve(baseDir, config.audio.cacheDir);
  if (config.audio.file !== undefined) config.audio.file = resolve(baseDir, config.audio.file);
  return config;
}
