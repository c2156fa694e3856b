/**
 * Device profiles: what hardware a site has, as data composed from parts
 * (board, amplifier, speaker lines, power supply, modem, monitoring mic).
 * The simulator builds a device from a profile; the fleet runner and docs
 * pick profiles by name. hardware/profile.schema.json is generated from
 * `DeviceProfile` below (tests check they agree), for editors and for
 * non-TypeScript tools.
 */
import { readFile, readdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export const PROFILES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'profiles');

const Obj = Type.Object;
const Lit = <T extends string>(values: readonly T[], description?: string) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    description ? { description } : {},
  );
const Text = (description: string, maxLength = 120) => Type.String({ minLength: 1, maxLength, description });

export const BoardPart = Obj(
  {
    model: Text('e.g. "Raspberry Pi 4 Model B 2GB"'),
    audioOut: Lit(['usb', 'i2s', 'hdmi', 'onboard'] as const, 'how the agent reaches the amplifier input'),
    /** libgpiod chip and line of the relay that switches amplifier mains. */
    ampRelay: Obj({ chip: Text('e.g. "gpiochip0"', 32), line: Type.Integer({ minimum: 0, maximum: 511 }), activeLow: Type.Boolean() }, { additionalProperties: false }),
    idleW: Type.Number({ minimum: 0, maximum: 50, description: 'board draw, W' }),
    bootMs: Type.Integer({ minimum: 0, maximum: 600_000, description: 'time from power/reboot to answering requests' }),
  },
  { additionalProperties: false },
);

export const AmplifierPart = Obj(
  {
    model: Text('amplifier model'),
    ratedWatts: Type.Number({ minimum: 1, maximum: 5000 }),
    /** Thermal protection trips here; the amplifier mutes until it cools. */
    maxTempC: Type.Number({ minimum: 30, maximum: 150 }),
    /** Draw when powered but silent, W. */
    idleW: Type.Number({ minimum: 0, maximum: 500 }),
    /** Power sequencing: relay on → output stable, ms. Playing sooner gives a thump and clipped first words. */
    warmupMs: Type.Integer({ minimum: 0, maximum: 60_000 }),
    /**
     * Power sequencing after sound: how long the amplifier stays on after the last
     * programme before it is switched off, ms. Long enough that items a few seconds
     * apart do not cycle the relay (each cycle is another warm-up and thump), short
     * enough that a solar site does not burn its battery on an idle amplifier.
     */
    holdMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
    /** Output line voltage (100 V line in Vietnam's loudspeaker networks, 70 V elsewhere). */
    lineVolts: Type.Union([Type.Literal(70), Type.Literal(100)]),
  },
  { additionalProperties: false },
);

export const SpeakerLinePart = Obj(
  {
    id: Type.Integer({ minimum: 1, maximum: 8 }),
    label: Text('where the line runs, e.g. "thôn Bản Vền — ngã ba chợ"'),
    /** Impedance seen by the amplifier: V² / total tapped watts on the line. */
    nominalOhm: Type.Number({ minimum: 1, maximum: 10_000 }),
    speakers: Type.Integer({ minimum: 1, maximum: 100 }),
  },
  { additionalProperties: false },
);

export const PowerPart = Obj(
  {
    mains: Type.Boolean({ description: 'grid supply present' }),
    battery: Type.Union([
      Obj(
        { capacityAh: Type.Number({ minimum: 1, maximum: 2000 }), volts: Type.Number({ minimum: 6, maximum: 96 }), kind: Lit(['lifepo4', 'agm', 'gel'] as const) },
        { additionalProperties: false },
      ),
      Type.Null(),
    ]),
    solar: Type.Union([Obj({ panelW: Type.Number({ minimum: 1, maximum: 5000 }), controller: Text('charge controller') }, { additionalProperties: false }), Type.Null()]),
    /** Battery %/hour gained while the external supply (mains or solar) is up. */
    chargePctPerHour: Type.Number({ minimum: 0, maximum: 100 }),
  },
  { additionalProperties: false },
);

export const ModemPart = Obj(
  {
    type: Lit(['ethernet', 'fiber', 'wifi', '4g', '3g', '2g'] as const),
    model: Text('modem / ONT model'),
    idleW: Type.Number({ minimum: 0, maximum: 30 }),
    /** Typical RSRP-ish signal for the simulator; null for wired links. */
    typicalSignalDbm: Type.Union([Type.Number({ minimum: -140, maximum: 0 }), Type.Null()]),
    operator: Type.Optional(Text('e.g. "Viettel"', 40)),
  },
  { additionalProperties: false },
);

export const DeviceProfile = Obj(
  {
    $schema: Type.Optional(Type.String()),
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'profile id; the file is <name>.json' }),
    description: Text('what kind of site uses this', 400),
    siteKind: Type.Union([Type.Literal('commune_station'), Type.Literal('village_cluster')]),
    firmware: Text('firmware version the simulator reports', 40),
    board: BoardPart,
    amplifier: AmplifierPart,
    lines: Type.Array(SpeakerLinePart, { minItems: 1, maxItems: 8 }),
    power: PowerPart,
    modem: ModemPart,
    monitorMic: Type.Boolean({ description: 'a microphone near a speaker lets the device verify that sound comes out' }),
    ambientTempC: Type.Number({ minimum: -20, maximum: 60 }),
  },
  { additionalProperties: false, $id: 'https://loanet.example/hardware/profile.schema.json', title: 'loanet device profile' },
);
export type DeviceProfile = Static<typeof DeviceProfile>;

export class ProfileError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
  ) {
    super(`device profile ${source}: ${reason}`);
    this.name = 'ProfileError';
  }
}

/** Validate a parsed profile. Pure; throws ProfileError naming the field. */
export function parseProfile(raw: unknown, source = '<profile>'): DeviceProfile {
  const first = Value.Errors(DeviceProfile, raw).First();
  if (first) throw new ProfileError(source, `${first.path || '/'}: ${first.message}`);
  const profile = raw as DeviceProfile;
  const ids = profile.lines.map((l) => l.id);
  if (new Set(ids).size !== ids.length) throw new ProfileError(source, `/lines: duplicate line id in ${ids.join(',')}`);
  if (!profile.power.mains && !profile.power.solar) throw new ProfileError(source, '/power: needs mains or solar');
  if (!profile.power.mains && !profile.power.battery) throw new ProfileError(source, '/power: a solar site needs a battery');
  return profile;
}

/**
 * Load a profile by name ("village-cluster-4g", from hardware/profiles/) or
 * by path (anything containing a slash or ending in .json).
 */
export async function loadProfile(nameOrPath: string): Promise<DeviceProfile> {
  const isPath = nameOrPath.includes('/') || nameOrPath.endsWith('.json') || isAbsolute(nameOrPath);
  const file = isPath ? resolve(nameOrPath) : join(PROFILES_DIR, `${nameOrPath}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const known = isPath ? '' : `; known profiles: ${(await listProfiles()).join(', ')}`;
    throw new ProfileError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})${known}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ProfileError(file, `not valid JSON (${(e as Error).message})`);
  }
  const profile = parseProfile(raw, file);
  if (profile.name !== basename(file, '.json') && !isPath) {
    throw new ProfileError(file, `name "${profile.name}" does not match the file name`);
  }
  return profile;
}

/** Names of the profiles shipped in hardware/profiles/, sorted. */
export async function listProfiles(): Promise<string[]> {
  const files = await readdir(PROFILES_DIR);
  return files
    .filter((f) => f.endsWith('.json'))
    .map((f) => basename(f, '.json'))
    .sort();
}
