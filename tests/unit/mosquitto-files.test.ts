import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MOSQUITTO_PBKDF2_ITERATIONS,
  ROTATE_MARK,
  mosquittoAclFile,
  mosquittoPasswdFile,
  mosquittoPasswordHash,
  parseMosquittoHash,
  verifyMosquittoPasswordHash,
  type MosquittoSite,
} from '../../server/fleet/mosquitto-files.ts';
import { authorize } from '../../server/fleet/acl.ts';
import { haveTools, MOSQUITTO_PASSWD } from '../helpers/require-tool.ts';

const AT = '2025-11-20T06:00:00.000Z';
const STATION: MosquittoSite = { siteId: 'sim-02683-st', areaKeys: ['2025.02683', '2025.15'], passwordHash: mosquittoPasswordHash('station-secret') };
const CLUSTER: MosquittoSite = { siteId: 'sim-02683-v01', areaKeys: ['2025.02683-01', '2025.02683', '2025.15'], passwordHash: mosquittoPasswordHash('cluster-secret') };
const OLD: MosquittoSite = { siteId: 'old-site', areaKeys: ['2025.02683'], passwordHash: null };
const SERVER = { username: 'loanet_server', passwordHash: mosquittoPasswordHash('server-password-long') };

describe('the $7$ hash (PBKDF2-HMAC-SHA512, as mosquitto_passwd 2.x writes it)', () => {
  it('has the form $7$<iterations>$<base64 12-byte salt>$<base64 64-byte hash> with 101 iterations by default', () => {
    const h = mosquittoPasswordHash('secret');
    expect(h).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    const p = parseMosquittoHash(h)!;
    expect(p.iterations).toBe(MOSQUITTO_PBKDF2_ITERATIONS);
    expect(p.salt).toHaveLength(12);
    expect(p.hash).toHaveLength(64);
  });

  it('is salted (two hashes of one secret differ) and verifies only the right secret', () => {
    const a = mosquittoPasswordHash('secret');
    expect(a).not.toBe(mosquittoPasswordHash('secret'));
    expect(verifyMosquittoPasswordHash('secret', a)).toBe(true);
    expect(verifyMosquittoPasswordHash('Secret', a)).toBe(false);
    expect(verifyMosquittoPasswordHash('secret', 'scrypt$4096$8$1$abc$def')).toBe(false);
  });

  it('matches a known vector (fixed salt)', () => {
    // Computed with Python's hashlib.pbkdf2_hmac('sha512', b'secret', bytes(12), 101, 64).
    expect(mosquittoPasswordHash('secret', { salt: Buffer.alloc(12) })).toBe(
      '$7$101$AAAAAAAAAAAAAAAA$GKi4qDyk9y4EWmYPwoG2Z68xDS4geZItBOL+r9OzoRFUOftyza0bBNYPi42rbBMws2OTLsfxYvabe/4weVE1LQ==',
    );
  });

  it.skipIf(!haveTools('mosquitto_passwd'))('agrees with the real mosquitto_passwd: its hash verifies here', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-pw-')), 'passwd');
    execFileSync(MOSQUITTO_PASSWD, ['-c', '-b', file, 'alice', 'a-site-secret']);
    const line = fs.readFileSync(file, 'utf8').trim();
    const hash = line.slice('alice:'.length);
    expect(parseMosquittoHash(hash)?.iterations).toBe(101);
    expect(verifyMosquittoPasswordHash('a-site-secret', hash)).toBe(true);
    expect(verifyMosquittoPasswordHash('another', hash)).toBe(false);
  });
});

describe('the Mosquitto password file', () => {
  it('has the server user and every site with a hash, sorted, and lists sites without one for rotation', () => {
    const { text, withoutHash } = mosquittoPasswdFile([CLUSTER, OLD, STATION], SERVER, AT);
    const lines = text.trimEnd().split('\n');
    const users = lines.filter((l) => !l.startsWith('#'));
    expect(users.map((l) => l.split(':')[0])).toEqual(['loanet_server', 'sim-02683-st', 'sim-02683-v01']);
    expect(users[1]).toBe(`sim-02683-st:${STATION.passwordHash}`);
    expect(withoutHash).toEqual(['old-site']);
    expect(lines).toContain(`${ROTATE_MARK}old-site`);
    expect(lines[0]).toMatch(new RegExp(`^# .*${AT}.*SIGHUP`));
    expect(text.endsWith('\n')).toBe(true);
  });

  it('says so when the server user is not known', () => {
    const { text } = mosquittoPasswdFile([STATION], { username: 'loanet_server', passwordHash: null }, AT);
    expect(text.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([`sim-02683-st:${STATION.passwordHash}`]);
    expect(text).toMatch(/# the server's own user loanet_server is missing: set LOANET_MQTT_PASSWORD/);
  });

  it('refuses a stored value that is not a $7$ hash rather than writing it into the file', () => {
    expect(() => mosquittoPasswdFile([{ ...STATION, passwordHash: '$7$101$abc\nevil:x' }], SERVER, AT)).toThrow(/sim-02683-st is malformed/);
  });
});

describe('the Mosquitto ACL file', () => {
  const text = mosquittoAclFile([CLUSTER, STATION], 'loanet_server', AT);
  const sections = new Map<string, string[]>();
  const patterns: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('user ')) sections.set((current = line.slice(5)), []);
    else if (line.startsWith('pattern ')) patterns.push(line);
    else if (line.startsWith('topic ')) {
      expect(current, 'no topic line before the first user (anonymous)').not.toBe('');
      sections.get(current)!.push(line);
    }
  }
  /** What Mosquitto makes of the file for one user: its own lines and every pattern with %u as its username. */
  const rulesOf = (user: string) => [...patterns.map((p) => p.replace(/^pattern /, 'topic ').replace('%u', user)), ...(sections.get(user) ?? [])];

  it('gives the server readwrite on loanet/v1/# and la/#', () => {
    expect(sections.get('loanet_server')).toEqual(['topic readwrite loanet/v1/#', 'topic readwrite la/#']);
  });

  it('gives every server the same rights when several share the broker, and lists each in the password file', () => {
    const acl = mosquittoAclFile([CLUSTER], ['loanet_a', 'loanet_b'], AT);
    for (const u of ['loanet_a', 'loanet_b']) expect(acl).toContain(`user ${u}\ntopic readwrite loanet/v1/#\ntopic readwrite la/#\n`);
    const { text } = mosquittoPasswdFile([CLUSTER], [SERVER, { ...SERVER, username: 'loanet_b' }], AT);
    expect(text).toMatch(/^loanet_server:\$7\$/m);
    expect(text).toMatch(/^loanet_b:\$7\$/m);
  });

  it("lets a site write its own uplink topics and read its cmd, time, playlist, ack, config and update topics and its area and ancestors' audio and control, nothing else", () => {
    expect(rulesOf('sim-02683-v01')).toEqual([
      'topic write loanet/v1/sites/sim-02683-v01/state',
      'topic write loanet/v1/sites/sim-02683-v01/telemetry',
      'topic write loanet/v1/sites/sim-02683-v01/event',
      'topic write loanet/v1/sites/sim-02683-v01/clock',
      'topic read loanet/v1/sites/sim-02683-v01/cmd',
      'topic read loanet/v1/sites/sim-02683-v01/time',
      'topic read loanet/v1/sites/sim-02683-v01/playlist',
      'topic read loanet/v1/sites/sim-02683-v01/ack',
      'topic read loanet/v1/sites/sim-02683-v01/config',
      'topic read loanet/v1/sites/sim-02683-v01/update',
      'topic read la/2025.02683-01',
      'topic read loanet/v1/areas/2025.02683-01/control',
      'topic read la/2025.02683',
      'topic read loanet/v1/areas/2025.02683/control',
      'topic read la/2025.15',
      'topic read loanet/v1/areas/2025.15/control',
    ]);
  });

  it("lists under a site's user only its area channels; its own topics are one set of patterns for every site", () => {
    expect(sections.get('sim-02683-v01')).toHaveLength(6);
    expect(patterns).toHaveLength(10);
    expect(
      mosquittoAclFile([CLUSTER, STATION, OLD], 'loanet_server', AT)
        .split('\n')
        .filter((l) => l.startsWith('pattern ')),
    ).toEqual(patterns);
  });

  it('agrees with the pure ACL the embedded broker enforces', () => {
    for (const s of [CLUSTER, STATION]) {
      const actor = { kind: 'site' as const, siteId: s.siteId, areaKeys: s.areaKeys };
      for (const line of rulesOf(s.siteId)) {
        const [, access, topic] = line.split(' ') as [string, 'write' | 'read', string];
        expect(authorize(actor, access === 'write' ? 'publish' : 'subscribe', topic), line).toEqual({ allow: true });
      }
    }
  });

  it('covers sites without a Mosquitto hash too (their rules are ready when they are rotated)', () => {
    expect(mosquittoAclFile([OLD], 'loanet_server', AT)).toMatch(/^user old-site$/m);
  });
});
