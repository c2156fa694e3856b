/**
 * One simulated site device on a TCP port, for a technician or a test to
 * point a real edge agent at (`devices: {"driver": "sim", "host", "port"}`):
 *
 *   npm run device -- --profile village-cluster-4g --port 7000 [--host 127.0.0.1]
 *                     [--fault line_open:2 --fault mains_lost ...] [--seed N]
 *                     [--flash DIR --hardware ID]
 *
 * Prints one line with the bound port (`--port 0` picks a free one), then
 * reads commands from stdin, one per line:
 *
 *   inject line_open 2     clear line_open 2     inject mains_lost
 *   status                 faults                help        quit
 *
 * Fault changes the device announces (and so sends to an attached agent) are
 * printed as `event …` lines. SIGINT/SIGTERM close the port and exit 0.
 * Bad flags: one line naming the flag, exit 2.
 */
import { createInterface } from 'node:readline';
import { loadProfile, ProfileError, type DeviceProfile } from '../hardware/profiles.ts';
import { SimDevice, type FaultSpec } from './device.ts';
import { DeviceServer } from './device-server.ts';
import { SimFlash } from './flash.ts';
import { FileFlashStorage } from './flash-file.ts';

const USAGE =
  'usage: npm run device -- [--profile NAME|FILE] [--port N] [--host ADDR] [--fault KIND[:LINE]]... [--seed N]\n' +
  '  --profile  a profile in hardware/profiles/ (default village-cluster-4g) or a .json file\n' +
  '  --port     TCP port, 0 = any free one (default 7000)\n' +
  '  --host     address to listen on (default 127.0.0.1)\n' +
  '  --fault    start with a fault: line_open:N, line_short:N, amp_overheat, mains_lost, modem_link_lost (repeatable)\n' +
  '  --seed     noise seed, so mic levels and impedances repeat\n' +
  '  --flash    keep an updatable A/B firmware flash in DIR (survives the process, as flash survives a power cut)\n' +
  '  --hardware the hardware id it says in hello and a firmware image must name (default: the profile name)';

const FAULT_KINDS = ['line_open', 'line_short', 'amp_overheat', 'mains_lost', 'modem_link_lost'] as const;
const LINE_FAULTS = new Set<string>(['line_open', 'line_short']);

const COMMANDS_HELP = 'commands: inject KIND [LINE] | clear KIND [LINE] | status | faults | help | quit\n' + `  KIND: ${FAULT_KINDS.join(', ')} (line_open/line_short need a LINE)`;

class UsageError extends Error {}

interface DeviceCliOptions {
  profile: string;
  port: number;
  host: string;
  faults: string[];
  seed?: number;
  flash?: string;
  hardware?: string;
  help: boolean;
}

/** Parse the flags; throws UsageError naming the flag. */
function parseDeviceArgs(argv: readonly string[]): DeviceCliOptions {
  const out: DeviceCliOptions = { profile: 'village-cluster-4g', port: 7000, host: '127.0.0.1', faults: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"; flags look like --port 7000`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const value = (): string => {
      const v = eq === -1 ? argv[++i] : arg.slice(eq + 1);
      if (v === undefined || v === '' || (eq === -1 && v.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
      return v;
    };
    switch (name) {
      case 'profile':
        out.profile = value();
        break;
      case 'host':
        out.host = value();
        break;
      case 'port': {
        const v = value();
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 65535) throw new UsageError(`--port "${v}" must be an integer 0-65535 (0 = any free port)`);
        out.port = n;
        break;
      }
      case 'seed': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n)) throw new UsageError(`--seed "${v}" must be an integer`);
        out.seed = n;
        break;
      }
      case 'fault':
        out.faults.push(value());
        break;
      case 'flash':
        out.flash = value();
        break;
      case 'hardware':
        out.hardware = value();
        break;
      default:
        throw new UsageError(`unknown flag --${name}; known: --profile, --port, --host, --fault, --seed, --flash, --hardware, --help`);
    }
  }
  return out;
}

/** `line_open:2`, `line_open 2` or `mains_lost` → a FaultSpec checked against the profile; throws with a reason. */
function parseFault(text: string, profile: DeviceProfile): FaultSpec {
  const [kind, lineText, ...rest] = text.trim().split(/[\s:]+/);
  if (!kind || !(FAULT_KINDS as readonly string[]).includes(kind)) {
    throw new Error(`unknown fault "${kind ?? ''}"; one of ${FAULT_KINDS.join(', ')}`);
  }
  if (rest.length > 0) throw new Error(`unexpected "${rest.join(' ')}" after ${kind} ${lineText}`);
  if (LINE_FAULTS.has(kind)) {
    const ids = profile.lines.map((l) => l.id);
    if (lineText === undefined) throw new Error(`${kind} needs a speaker line: ${kind}:N, N one of ${ids.join(', ')}`);
    const line = Number(lineText);
    if (!Number.isInteger(line) || !ids.includes(line)) throw new Error(`${profile.name} has no speaker line "${lineText}"; lines: ${ids.join(', ')}`);
    return { kind: kind as 'line_open' | 'line_short', line };
  }
  if (lineText !== undefined) throw new Error(`${kind} takes no line number`);
  return { kind: kind as Exclude<FaultSpec['kind'], 'line_open' | 'line_short'> };
}

function describeFault(f: FaultSpec): string {
  return 'line' in f ? `${f.kind} ${f.line}` : f.kind;
}

function statusLine(device: SimDevice, server: DeviceServer): string {
  const s = device.status();
  if (device.isDark()) return `status: dark (battery empty or rebooting); agents attached: ${server.stats.connections}`;
  const lines = s.lines.map((l) => `${l.id}=${l.status}(${l.ohm}Ω)`).join(' ');
  const power = `${s.power.source}${s.power.batteryPct !== null ? ` ${s.power.batteryPct}%` : ''}`;
  const link = `${s.link.type} ${s.link.up ? 'up' : 'down'}${s.link.dbm !== null ? ` ${s.link.dbm} dBm` : ''}`;
  const faults = device.activeFaults().map(describeFault).join(', ') || 'none';
  const amp = s.amp;
  return (
    `status: amp ${amp ? `${amp.on ? 'on' : 'off'} vol ${amp.volume} ${amp.tempC} °C${amp.fault !== 'none' ? ` (${amp.fault})` : ''}` : 'none'}; ` +
    `lines ${lines}; power ${power}; link ${link}; injected faults: ${faults}; agents attached: ${server.stats.connections}`
  );
}

async function main(): Promise<void> {
  let opts: DeviceCliOptions;
  try {
    opts = parseDeviceArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`loanet device: ${e.message}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(`${USAGE}\n${COMMANDS_HELP}`);
    return;
  }

  let profile: DeviceProfile;
  try {
    profile = await loadProfile(opts.profile);
  } catch (e) {
    if (!(e instanceof ProfileError)) throw e;
    console.error(`loanet device: --profile ${opts.profile}: ${e.reason}`);
    process.exit(2);
  }
  // One hardware id for both: the one hello says is the one the flash takes images for.
  const hardware = opts.hardware ?? profile.name;
  const flash = opts.flash ? new SimFlash(new FileFlashStorage(opts.flash), { hardware, factoryVersion: profile.firmware }) : undefined;
  const device = new SimDevice(profile, { hardware, ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(flash ? { flash } : {}) });
  for (const text of opts.faults) {
    try {
      device.injectFault(parseFault(text, profile));
    } catch (e) {
      console.error(`loanet device: --fault ${text}: ${(e as Error).message}`);
      process.exit(2);
    }
  }

  const server = new DeviceServer(device);
  device.onEvent((event) => {
    if (event.type === 'fault') console.log(`event fault ${event.device} ${event.fault}: ${event.detail ?? ''}`);
    else if (event.type === 'fault_cleared') console.log(`event fault_cleared ${event.device} ${event.fault}`);
  });
  let port: number;
  try {
    port = await server.listen(opts.port, opts.host);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const flag = err.code === 'EADDRINUSE' || err.code === 'EACCES' ? `--port ${opts.port}` : `--host ${opts.host}`;
    console.error(`loanet device: ${flag}: cannot listen on ${opts.host}:${opts.port} (${err.code ?? err.message})`);
    await server.close();
    process.exit(1);
  }
  const faults = device.activeFaults().map(describeFault).join(', ');
  console.log(`loanet device ${profile.name} (${flash?.version ?? profile.firmware}) listening on ${opts.host}:${port}${faults ? `; faults: ${faults}` : ''}`);

  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`loanet device: ${why}, closing`);
    // Attached agents see the device go away; then the process ends even if stdin is still open.
    void server.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on('line', (raw) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [verb, ...rest] = line.split(/\s+/);
    try {
      switch (verb) {
        case 'inject':
        case 'clear': {
          const fault = parseFault(rest.join(' '), profile);
          if (verb === 'inject') device.injectFault(fault);
          else device.clearFault(fault);
          console.log(`ok ${verb} ${describeFault(fault)}`);
          break;
        }
        case 'status':
          console.log(statusLine(device, server));
          break;
        case 'faults':
          console.log(`faults: ${device.activeFaults().map(describeFault).join(', ') || 'none'}`);
          break;
        case 'help':
          console.log(COMMANDS_HELP);
          break;
        case 'quit':
        case 'exit':
          stop(verb);
          break;
        default:
          console.log(`error: unknown command "${verb}"; ${COMMANDS_HELP}`);
      }
    } catch (e) {
      console.log(`error: ${(e as Error).message}`);
    }
  });
  // Ctrl-D at a terminal means "done"; a closed or redirected stdin (systemd, a test, `&`) does not.
  rl.on('close', () => {
    if (process.stdin.isTTY) stop('end of input');
  });
}

main().catch((e: unknown) => {
  console.error(`loanet device: ${(e as Error).message ?? String(e)}`);
  process.exit(1);
});
