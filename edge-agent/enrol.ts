/**
 * Enrolment of this board: trade a one-time code (made on the site's page of
 * the console) for the site's credential, and write the agent's
 * configuration with it.
 *
 * - `loanet-agent enrol --server https://… --code XXXX-XXXX [--config FILE]`
 *   (`runEnrolCommand`), by a technician at the board;
 * - or an enrolment file on the boot partition (`server=…` and `code=…`
 *   lines, as the console's QR code holds them), for boards prepared in an
 *   office: the agent, started without a usable configuration, enrols from
 *   it and removes it (`enrolFromFile`).
 *
 * The configuration file, when there is one, is kept and completed (its
 * device, audio and state settings are the board's own); only the site, the
 * server, the credential and the area channels are replaced. It is written
 * owner-only (0600) and atomically (temporary file, fsync, rename, fsync of
 * the folder), so a power cut leaves the old file or the new one. The request
 * uses node:http/https like http-get.ts: a bounded answer and a deadline.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { Enrolled, ENROL_REFUSAL_REASONS, type EnrolRefusalReason } from '../api/enrolment.ts';
import { AgentConfigError, parseAgentConfig } from './config.ts';

export const DEFAULT_CONFIG_PATH = '/etc/loanet/agent.json';
export const DEFAULT_ENROL_FILE = '/boot/firmware/loanet-enrol.txt';
/** Where a new configuration keeps the agent's state: the systemd unit's StateDirectory. */
export const DEFAULT_STATE_DIR = '/var/lib/loanet';

/** An answer larger than this is not the server's: the credential is a few hundred bytes. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** An enrolment file larger than this is not one. */
const MAX_ENROL_FILE_BYTES = 4096;
const DEFAULT_TIMEOUT_MS = 30_000;

export type EnrolFailure =
  /** The server refused the code: retrying the same code cannot help. */
  | { kind: 'refused'; reason: EnrolRefusalReason; message: string }
  /** Too many refused codes lately (from here or overall): try again later. */
  | { kind: 'rate_limited'; retryAfterS: number; message: string }
  /** The server could not be reached, or answered something else: may be retried. */
  | { kind: 'unreachable'; message: string }
  /** Nothing was asked: the arguments, the enrolment file or the existing configuration are wrong. */
  | { kind: 'invalid'; message: string };

export class EnrolError extends Error {
  constructor(readonly failure: EnrolFailure) {
    super(failure.message);
    this.name = 'EnrolError';
  }
}

export interface EnrolOptions {
  /** The server's address, e.g. https://loanet.example.vn (a path prefix is kept). */
  server: string;
  code: string;
  /** The configuration file to write (completed when it exists). */
  configPath: string;
  /** stateDir of a configuration made from nothing (default DEFAULT_STATE_DIR). */
  stateDir?: string;
  /** Plain http:// to a host other than this machine: the new secret would cross the network readable. */
  allowInsecureHttp?: boolean;
  timeoutMs?: number;
}

export interface EnrolOutcome {
  siteId: string;
  configPath: string;
  mqttUrl: string;
  areaChannels: string[];
}

/**
 * The server's address checked (http(s), no user, query or fragment; plain http only to this machine
 * unless allowed), without a trailing slash: https://host[:port][/prefix].
 */
export function serverBase(server: string, allowInsecureHttp = false): string {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw new EnrolError({ kind: 'invalid', message: `--server ${JSON.stringify(server)} is not a URL; give the server's address, e.g. https://loanet.example.vn` });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new EnrolError({ kind: 'invalid', message: `--server must be https:// (got ${u.protocol})` });
  if (u.username || u.password || u.search || u.hash) throw new EnrolError({ kind: 'invalid', message: '--server must be the bare address (no user, query or fragment)' });
  const loopback = u.hostname === 'localhost' || /^127\./.test(u.hostname) || u.hostname === '[::1]';
  if (u.protocol === 'http:' && !loopback && !allowInsecureHttp) {
    throw new EnrolError({
      kind: 'invalid',
      message: `--server ${u.origin} is plain http: the site's secret would cross the network readable; use https://, or --insecure-http on a network you trust`,
    });
  }
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/** Trade the code for the credential and write the configuration. Throws EnrolError. */
export async function enrol(opts: EnrolOptions): Promise<EnrolOutcome> {
  const base = serverBase(opts.server, opts.allowInsecureHttp);
  // Read the existing configuration first: a file we could not complete must not cost the code.
  const existing = readExistingConfig(opts.configPath);
  const answer = await postJson(new URL(`${base}/api/enrol`), { code: opts.code }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const enrolled = readAnswer(answer);
  const config: Record<string, unknown> = {
    ...(existing ?? { devices: { driver: 'board' }, stateDir: opts.stateDir ?? DEFAULT_STATE_DIR }),
    siteId: enrolled.siteId,
    server: { mqttUrl: enrolled.mqttUrl, httpUrl: base },
    credential: { secret: enrolled.secret },
    areaChannels: enrolled.areaChannels,
  };
  if (config.heartbeatIntervalS === undefined) config.heartbeatIntervalS = enrolled.heartbeatIntervalS;
  try {
    parseAgentConfig(config, { source: opts.configPath, agentVersion: '0.0.0' });
  } catch (e) {
    if (!(e instanceof AgentConfigError)) throw e;
    // The code is spent by now: say so, with what to fix.
    throw new EnrolError({
      kind: 'invalid',
      message: `enrolled as site ${enrolled.siteId}, but the configuration would be invalid (${e.message}); fix ${opts.configPath} and enrol again with a new code`,
    });
  }
  writeFileAtomic(opts.configPath, `${JSON.stringify(config, null, 2)}\n`, 0o600);
  return { siteId: enrolled.siteId, configPath: opts.configPath, mqttUrl: enrolled.mqttUrl, areaChannels: enrolled.areaChannels };
}

/**
 * Does this configuration still need enrolling: no file, or one without a
 * site or a credential (a template prepared with the board's devices)?
 */
export function needsEnrolment(configPath: string): boolean {
  const existing = readExistingConfig(configPath);
  if (existing === undefined) return true;
  const credential = existing.credential as { secret?: unknown; secretFile?: unknown } | undefined;
  return typeof existing.siteId !== 'string' || !credential || (credential.secret === undefined && credential.secretFile === undefined);
}

/** The existing configuration as a JSON object, undefined when there is none; a file that is not one is an error. */
function readExistingConfig(configPath: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EnrolError({ kind: 'invalid', message: `cannot read ${configPath} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new EnrolError({ kind: 'invalid', message: `${configPath} is not valid JSON (${(e as Error).message}); fix or remove it, then enrol` });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new EnrolError({ kind: 'invalid', message: `${configPath} is not a JSON object; fix or remove it, then enrol` });
  return raw as Record<string, unknown>;
}

/** The server's answer read: the credential, or the refusal as an EnrolError. */
function readAnswer(a: { status: number; body: unknown; retryAfter: string | null }): Enrolled {
  const body = a.body as { error?: unknown; message?: unknown; reason?: unknown; retryAfterS?: unknown } | null;
  if (a.status === 200) {
    if (!Value.Check(Enrolled, a.body)) {
      const first = Value.Errors(Enrolled, a.body).First();
      throw new EnrolError({
        kind: 'unreachable',
        message: `the server's answer is not an enrolment (${first ? `${first.path || '/'}: ${first.message}` : 'unexpected shape'}); is --server the loanet server?`,
      });
    }
    return a.body;
  }
  const message = typeof body?.message === 'string' ? body.message.slice(0, 500) : `HTTP ${a.status}`;
  if (a.status === 403 && body?.error === 'LOANET_ENROL_REFUSED' && (ENROL_REFUSAL_REASONS as readonly unknown[]).includes(body.reason)) {
    throw new EnrolError({ kind: 'refused', reason: body.reason as EnrolRefusalReason, message: `the server refused the code (${String(body.reason)}): ${message}` });
  }
  if (a.status === 429) {
    const retryAfterS = typeof body?.retryAfterS === 'number' ? body.retryAfterS : Number(a.retryAfter) || 60;
    throw new EnrolError({ kind: 'rate_limited', retryAfterS, message: `the server refuses enrolments for now: ${message}` });
  }
  throw new EnrolError({ kind: 'unreachable', message: `the server answered HTTP ${a.status}: ${message}` });
}

/** POST a JSON body; the answer's JSON (null when it is not JSON), at most MAX_ANSWER_BYTES, within the deadline. */
function postJson(url: URL, body: unknown, timeoutMs: number): Promise<{ status: number; body: unknown; retryAfter: string | null }> {
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  return new Promise((resolve, reject) => {
    const fail = (why: string) => reject(new EnrolError({ kind: 'unreachable', message: `cannot reach ${url.origin}: ${why}` }));
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(payload.length) } }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > MAX_ANSWER_BYTES) {
          res.destroy();
          fail(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
          return;
        }
        chunks.push(chunk);
      });
      res.once('error', (e) => fail(e.message));
      res.once('end', () => {
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          /* not JSON: judged by its status */
        }
        const ra = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, body: parsed, retryAfter: typeof ra === 'string' ? ra : null });
      });
    });
    // The whole exchange is bounded, not only each silence: a server (or a middlebox) that drips a byte now and
    // then would otherwise hold the enrolment, and the start of the service with it, for ever.
    const deadline = setTimeout(() => req.destroy(new Error(`no whole answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
    req.once('error', (e) => fail(e.message));
    req.once('close', () => clearTimeout(deadline));
    req.end(payload);
  });
}

/**
 * Write a file owner-only and atomically: a temporary file beside it,
 * fsync, rename over the old one, fsync of the folder. Run as root, the new
 * file keeps the owner of the file it replaces (or of its folder), so the
 * agent's own user can still read it.
 */
export function writeFileAtomic(file: string, text: string, mode: number): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.fchmodSync(fd, mode);
    if (process.getuid?.() === 0) {
      let owner: fs.Stats;
      try {
        owner = fs.statSync(file);
      } catch {
        owner = fs.statSync(dir);
      }
      fs.fchownSync(fd, owner.uid, owner.gid);
    }
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}

/** An enrolment file: `server=…` and `code=…` lines (blank lines and # comments allowed). */
export function parseEnrolFile(text: string, source = 'enrolment file'): { server: string; code: string } {
  const found: Record<string, string> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim().toLowerCase() : '';
    if (key !== 'server' && key !== 'code') {
      throw new EnrolError({ kind: 'invalid', message: `${source}, line ${i + 1}: expected server=… or code=…` });
    }
    found[key] = line.slice(eq + 1).trim();
  }
  if (!found.server || !found.code) throw new EnrolError({ kind: 'invalid', message: `${source}: needs a server=… line and a code=… line` });
  return { server: found.server, code: found.code };
}

/** Read an enrolment file (bounded); undefined when there is none. */
export function readEnrolFile(file: string): { server: string; code: string } | undefined {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.size > MAX_ENROL_FILE_BYTES) throw new EnrolError({ kind: 'invalid', message: `${file} is ${st.size} bytes, more than an enrolment file (${MAX_ENROL_FILE_BYTES})` });
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseEnrolFile(text, file);
}

export interface EnrolFromFileOptions {
  file: string;
  configPath: string;
  stateDir?: string;
  log: { info(m: string): void; warn(m: string): void };
  /** Waits between tries while the server cannot be reached or limits enrolments (default: 5 s, doubling to 5 min). */
  sleep?: (ms: number) => Promise<void>;
  /** Bounds each try (default 30 s). */
  timeoutMs?: number;
  /**
   * Said before each try and each wait: what it does, and within how long it will say something again if
   * it is not stuck (systemd extends the service's start by that much: a hang is not extended, and restarted).
   */
  progress?: (status: string, nextWithinMs: number) => void;
}

/** Slack on top of a try's or a wait's own bound before the next word is overdue. */
const PROGRESS_SLACK_MS = 30_000;

/**
 * Enrol from an enrolment file, trying again while the server cannot be
 * reached (a board on a 4G link that is not up yet). On success the file is
 * removed (the code is spent; leaving it would only fail the next start).
 * A refused code is final: the file is renamed to FILE.refused, so the next
 * start does not spend the limits on it, and a technician sees why.
 */
export async function enrolFromFile(opts: EnrolFromFileOptions): Promise<EnrolOutcome> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let waitMs = 5_000;
  for (;;) {
    const request = readEnrolFile(opts.file);
    if (!request) throw new EnrolError({ kind: 'invalid', message: `no enrolment file at ${opts.file}` });
    opts.progress?.(`enrolling with ${opts.file}`, (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) + PROGRESS_SLACK_MS);
    try {
      const outcome = await enrol({
        ...request,
        configPath: opts.configPath,
        ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
        ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
      });
      removeQuietly(opts.file, opts.log);
      return outcome;
    } catch (e) {
      if (!(e instanceof EnrolError)) throw e;
      const f = e.failure;
      if (f.kind === 'refused' || f.kind === 'invalid') {
        try {
          fs.renameSync(opts.file, `${opts.file}.refused`);
          fs.appendFileSync(`${opts.file}.refused`, `# refused: ${f.message}\n`);
        } catch (re) {
          opts.log.warn(`could not set ${opts.file} aside (${(re as Error).message})`);
        }
        throw e;
      }
      const delay = f.kind === 'rate_limited' ? Math.max(waitMs, f.retryAfterS * 1000) : waitMs;
      opts.log.warn(`enrolment from ${opts.file} failed (${f.message}); trying again in ${Math.round(delay / 1000)} s`);
      opts.progress?.(`enrolment: ${f.message}; trying again in ${Math.round(delay / 1000)} s`, delay + PROGRESS_SLACK_MS);
      await sleep(delay);
      waitMs = Math.min(waitMs * 2, 5 * 60_000);
    }
  }
}

function removeQuietly(file: string, log: { warn(m: string): void }): void {
  try {
    fs.rmSync(file, { force: true });
  } catch (e) {
    // A read-only boot partition: the code is spent, so the file only costs a refused try at a later enrolment.
    log.warn(`enrolled, but could not remove ${file} (${(e as Error).message}); remove it by hand`);
  }
}

export const ENROL_USAGE = `usage: loanet-agent enrol --server https://SERVER --code XXXX-XXXX [--config FILE] [--state-dir DIR] [--insecure-http]
       loanet-agent enrol --file /boot/firmware/loanet-enrol.txt [--config FILE] [--state-dir DIR]
  --config defaults to ${DEFAULT_CONFIG_PATH}; an existing file keeps its device, audio and state settings.`;

/** `loanet-agent enrol …`: the exit code (0 enrolled, 1 refused or unreachable, 2 bad arguments). */
export async function runEnrolCommand(argv: readonly string[], out: { log(m: string): void; error(m: string): void } = console): Promise<number> {
  const args = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--insecure-http' || a === '--help' || a === '-h') {
      args.set(a, true);
      continue;
    }
    const m = /^--(server|code|config|state-dir|file)(?:=(.*))?$/.exec(a);
    if (!m) {
      out.error(`loanet agent enrol: unknown argument ${JSON.stringify(a)}\n${ENROL_USAGE}`);
      return 2;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined || value === '') {
      out.error(`loanet agent enrol: --${m[1]} needs a value\n${ENROL_USAGE}`);
      return 2;
    }
    args.set(`--${m[1]}`, value);
  }
  if (args.has('--help') || args.has('-h')) {
    out.log(ENROL_USAGE);
    return 0;
  }
  const str = (k: string) => (typeof args.get(k) === 'string' ? (args.get(k) as string) : undefined);
  const configPath = str('--config') ?? DEFAULT_CONFIG_PATH;
  const stateDir = str('--state-dir');
  const file = str('--file');
  if (!file && (!str('--server') || !str('--code'))) {
    out.error(`loanet agent enrol: give --server and --code (or --file)\n${ENROL_USAGE}`);
    return 2;
  }
  try {
    const outcome = file
      ? await enrolFromFile({ file, configPath, ...(stateDir ? { stateDir } : {}), log: { info: out.log, warn: out.error } })
      : await enrol({ server: str('--server')!, code: str('--code')!, configPath, ...(stateDir ? { stateDir } : {}), allowInsecureHttp: args.has('--insecure-http') });
    out.log(
      [
        `loanet agent: enrolled as site ${outcome.siteId}; configuration written to ${outcome.configPath} (owner only, mode 600)`,
        `  broker ${outcome.mqttUrl}; area channels ${outcome.areaChannels.join(', ') || '(none)'}`,
        `next: start the agent — sudo systemctl restart loanet-agent (or: loanet-agent --config ${outcome.configPath});`,
        '      the site turns online on its page in the console within a heartbeat. A board enrolled before for this site is refused from now on.',
      ].join('\n'),
    );
    return 0;
  } catch (e) {
    if (!(e instanceof EnrolError)) throw e;
    out.error(`loanet agent enrol: ${e.message}`);
    return e.failure.kind === 'invalid' ? 2 : 1;
  }
}
