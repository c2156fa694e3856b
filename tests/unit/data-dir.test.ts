/** The data folder's modes (server/store/data-dir.ts): owner only, owner's bits kept. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { secureDataDir, tightenedMode } from '../../server/store/data-dir.ts';
import { tempDir } from '../helpers/server.ts';

describe('tightenedMode', () => {
  it('644 → 600, 755 → 700, private ones unchanged', () => {
    expect(tightenedMode(0o100644, false)).toBe(0o600);
    expect(tightenedMode(0o40755, true)).toBe(0o700);
    expect(tightenedMode(0o100600, false)).toBeNull();
    expect(tightenedMode(0o40700, true)).toBeNull();
    expect(tightenedMode(0o100666, false)).toBe(0o600);
  });

  it('property: the result never lets group or others in, keeps what the owner had, and a folder stays usable by its owner', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0o777 }), fc.boolean(), (m, dir) => {
        const to = tightenedMode(m, dir);
        if ((m & 0o077) === 0) {
          expect(to).toBeNull();
          return;
        }
        expect(to! & 0o077).toBe(0);
        expect(to! & (m & 0o700)).toBe(m & 0o700);
        if (dir) expect(to).toBe(0o700);
        else expect(to).toBe(m & 0o700);
      }),
    );
  });
});

describe('secureDataDir', () => {
  it('tightens a folder tree, not following symbolic links, and says what it changed', () => {
    const root = tempDir('loanet-datadir-');
    const outside = path.join(root, 'outside.txt');
    fs.writeFileSync(outside, 'x');
    fs.chmodSync(outside, 0o644);
    const data = path.join(root, 'data');
    fs.mkdirSync(path.join(data, 'media', 'tmp'), { recursive: true });
    fs.chmodSync(data, 0o755);
    fs.writeFileSync(path.join(data, 'media', 'a.opus'), 'x');
    fs.chmodSync(path.join(data, 'media', 'a.opus'), 0o644);
    fs.symlinkSync(outside, path.join(data, 'link'));
    const changes = secureDataDir(data);
    expect(changes.map((c) => [path.relative(data, c.path), c.from, c.to])).toContainEqual(['media/a.opus', '644', '600']);
    expect(changes.map((c) => path.relative(data, c.path))).toContain('');
    expect(fs.statSync(data).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(data, 'media', 'a.opus')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(outside).mode & 0o777).toBe(0o644);
    expect(secureDataDir(data)).toEqual([]);
  });
});
