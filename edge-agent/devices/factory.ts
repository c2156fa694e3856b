/**
 * Picks the device driver for a site from its configuration: the one place
 * that knows every driver. The agent's config file carries the JSON forms
 * (`sim`, `board`), validated here by `parseDeviceGatewayConfig`; the fleet
 * runner builds `sim-stream` in code with an in-memory stream.
 */
import type { Duplex } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { LinkType, PowerSource } from '../../protocol/index.ts';
import { BoardDriver, type BoardDriverConfig, type CommandRunner } from './board-driver.ts';
import type { DeviceGateway } from './gateway.ts';
import { SimDeviceDriver } from './sim-driver.ts';

const Common = {
  deviceId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  requestTimeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 120_000 })),
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 5 })),
};

export const SimGatewayConfig = Type.Object(
  {
    driver: Type.Literal('sim'),
    host: Type.String({ minLength: 1, maxLength: 255 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    reconnect: Type.Optional(
      Type.Object({ baseMs: Type.Optional(Type.Integer({ minimum: 10 })), capMs: Type.Optional(Type.Integer({ minimum: 10 })) }, { additionalProperties: false }),
    ),
    ...Common,
  },
  { additionalProperties: false },
);

const Argv = Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 32 });

export const BoardGatewayConfig = Type.Object(
  {
    driver: Type.Literal('board'),
    deviceId: Common.deviceId,
    amplifier: Type.Optional(
      Type.Object(
        {
          gpio: Type.Object(
            {
              chip: Type.String({ minLength: 1 }),
              line: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1 })]),
              activeLow: Type.Optional(Type.Boolean()),
              syntax: Type.Optional(Type.Union([Type.Literal('v1'), Type.Literal('v2')])),
              mode: Type.Optional(Type.Union([Type.Literal('hold'), Type.Literal('exit')])),
              command: Type.Optional(Type.String({ minLength: 1 })),
            },
            { additionalProperties: false },
          ),
          warmupMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })),
          holdMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    audio: Type.Optional(
      Type.Object(
        {
          device: Type.Optional(Type.String({ minLength: 1 })),
          command: Type.Optional(Argv),
          sampleRate: Type.Optional(Type.Integer({ minimum: 8000, maximum: 192_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    mixer: Type.Optional(Type.Object({ card: Type.Optional(Type.String({ minLength: 1 })), control: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
    thermalPath: Type.Optional(Type.String({ minLength: 1 })),
    mic: Type.Optional(
      Type.Object(
        {
          device: Type.String({ minLength: 1 }),
          sampleRate: Type.Optional(Type.Integer({ minimum: 8000, maximum: 192_000 })),
          command: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    lines: Type.Optional(
      Type.Array(
        Type.Object(
          {
            id: Type.Integer({ minimum: 1, maximum: 64 }),
            nominalOhm: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()])),
            sense: Type.Optional(
              Type.Object(
                {
                  chip: Type.String({ minLength: 1 }),
                  line: Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1 })]),
                  activeLow: Type.Optional(Type.Boolean()),
                  syntax: Type.Optional(Type.Union([Type.Literal('v1'), Type.Literal('v2')])),
                  command: Type.Optional(Type.String({ minLength: 1 })),
                },
                { additionalProperties: false },
              ),
            ),
          },
          { additionalProperties: false },
        ),
        { maxItems: 64 },
      ),
    ),
    power: Type.Optional(Type.Object({ source: PowerSource, mainsOk: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])) }, { additionalProperties: false })),
    link: Type.Optional(Type.Object({ type: LinkType }, { additionalProperties: false })),
    rebootCommand: Type.Optional(Argv),
    commandTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
  },
  { additionalProperties: false },
);

/** The configuration forms that can live in a JSON file. */
export const DeviceGatewayConfigFile = Type.Union([SimGatewayConfig, BoardGatewayConfig], { $id: 'DeviceGatewayConfigFile' });

export type SimGatewayConfig = Static<typeof SimGatewayConfig>;
/** In code only: a stream cannot be written in a file. */
export interface SimStreamGatewayConfig {
  driver: 'sim-stream';
  stream: Duplex;
  deviceId?: string;
  requestTimeoutMs?: number;
  retries?: number;
  /** For a serial line: drop a partial frame after this much silence (50 ms at 115200 baud). */
  frameGapMs?: number;
}
export type BoardGatewayConfig = { driver: 'board' } & BoardDriverConfig;

export type DeviceGatewayConfig = SimGatewayConfig | SimStreamGatewayConfig | BoardGatewayConfig;

export interface DeviceGatewayDeps {
  /** For the board driver's external commands (tests inject a recorder). */
  runner?: CommandRunner;
  sleep?: (ms: number) => Promise<void>;
  /** The playout engine's local clock, for the board microphone's micLevel windows (default: the agent's monotonic epoch ms). */
  now?: () => number;
}

export class DeviceConfigError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`devices${field ? `.${field}` : ''}: ${reason}`);
    this.name = 'DeviceConfigError';
  }
}

/** Validate the `devices` part of an agent config file. Pure; throws DeviceConfigError naming the field. */
export function parseDeviceGatewayConfig(raw: unknown): SimGatewayConfig | BoardGatewayConfig {
  const driver = typeof raw === 'object' && raw !== null ? (raw as { driver?: unknown }).driver : undefined;
  // Validate against the one schema the discriminator names, so the error is about that driver's fields.
  const schema = driver === 'sim' ? SimGatewayConfig : driver === 'board' ? BoardGatewayConfig : undefined;
  if (!schema) {
    throw new DeviceConfigError('driver', `expected "sim" or "board", got ${JSON.stringify(driver ?? null)}`);
  }
  const first = Value.Errors(schema, raw).First();
  if (first) throw new DeviceConfigError(first.path.replace(/^\//, '').replace(/\//g, '.'), first.message);
  if (driver === 'board') {
    const lines = (raw as BoardGatewayConfig).lines ?? [];
    lines.forEach((l, i) => {
      // libgpiod v1's gpioget takes offsets only (a name needs gpiofind first).
      if (l.sense?.syntax === 'v1' && typeof l.sense.line === 'string') throw new DeviceConfigError(`lines.${i}.sense.line`, 'libgpiod v1 gpioget takes a line offset, not a name');
    });
  }
  return raw as SimGatewayConfig | BoardGatewayConfig;
}

export function createDeviceGateway(config: DeviceGatewayConfig, deps: DeviceGatewayDeps = {}): DeviceGateway {
  switch (config.driver) {
    case 'sim':
      return new SimDeviceDriver({
        transport: { kind: 'tcp', host: config.host, port: config.port },
        ...pickCommon(config),
        ...(config.reconnect ? { reconnect: config.reconnect } : {}),
      });
    case 'sim-stream':
      return new SimDeviceDriver({
        transport: { kind: 'stream', stream: config.stream },
        ...pickCommon(config),
        ...(config.frameGapMs !== undefined ? { frameGapMs: config.frameGapMs } : {}),
      });
    case 'board': {
      const { driver: _driver, ...board } = config;
      return new BoardDriver(board, deps);
    }
    default: {
      const never: never = config;
      throw new DeviceConfigError('driver', `unknown device driver ${JSON.stringify((never as { driver?: unknown }).driver)}`);
    }
  }
}

function pickCommon(c: { deviceId?: string; requestTimeoutMs?: number; retries?: number }) {
  return {
    ...(c.deviceId !== undefined ? { deviceId: c.deviceId } : {}),
    ...(c.requestTimeoutMs !== undefined ? { requestTimeoutMs: c.requestTimeoutMs } : {}),
    ...(c.retries !== undefined ? { retries: c.retries } : {}),
  };
}
