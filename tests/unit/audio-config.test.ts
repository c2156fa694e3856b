import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentConfigError, loadAgentConfig, parseAgentConfig } from '../../edge-agent/config.ts';
import { AmplifierRecord } from '../../firmware-sim/amplifier-record.ts';

const base = { siteId: 'lc-bx-01', server: { mqttUrl: 'mqtt://127.0.0.1:1883' }, credential: { secret: 's3cret-s3cret' } };

describe('agent config: audio section', () => {
  it("defaults suit a Pi: the driver's own output, 100 ms buffer, 1 GiB cache under stateDir", () => {
    const c = parseAgentConfig({ ...base, stateDir: '/var/lib/loanet-agent' }, { agentVersion: '1' });
    expect(c.audio).toMatchObject({
      sink: 'device',
      alsaDevice: 'default',
      bufferMs: 100,
      cacheDir: '/var/lib/loanet-agent/media-cache',
      cacheLimitBytes: 1024 ** 3,
      partialMaxAgeH: 72,
    });
    expect(parseAgentConfig(base, { agentVersion: '1' }).audio.cacheDir).toBeUndefined();
  });

  it('names the field that is wrong', () => {
    const bad = (audio: unknown) => () => parseAgentConfig({ ...base, audio }, { agentVersion: '1' });
    expect(bad({ sink: 'hdmi' })).toThrow(/audio\.sink: must be one of "device", "alsa", "file", "null"/);
    expect(bad({ sink: 'file' })).toThrow(/audio\.file: sink 'file' needs a WAV path/);
    expect(bad({ cacheLimitBytes: 10 })).toThrow(AgentConfigError);
    expect(bad({ volume: 3 })).toThrow(/unknown field/);
  });

  it('resolves cache and WAV paths against the config file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-agent-cfg-'));
    try {
      const file = path.join(dir, 'agent.json');
      fs.writeFileSync(file, JSON.stringify({ ...base, devices: { driver: 'board' }, stateDir: 'state', audio: { sink: 'file', file: 'out.wav' } }));
      const c = await loadAgentConfig(file);
      expect(c.audio.cacheDir).toBe(path.join(dir, 'state', 'media-cache'));
      expect(c.audio.file).toBe(path.join(dir, 'out.wav'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('simulated amplifier record', () => {
  const batch = (seq: number, n: number, playAt: number, level = -20) => ({ session: 1, seq, playAt, frameMs: 20, levels: new Array<number>(n).fill(level) });

  it('groups consecutive frames into runs and keeps energy-mean levels', () => {
    const r = new AmplifierRecord();
    expect(r.add(batch(0, 10, 1000, -20), null)).toBe(10);
    expect(r.add(batch(10, 10, 1200, -30), null)).toBe(10);
    expect(r.add(batch(20, 5, 5000), 'amp_off')).toBe(0); // a gap in play-at starts a new run
    const s = r.snapshot();
    expect(s.totals).toEqual({ frames: 25, heardFrames: 20, silentFrames: 5, flushedFrames: 0, batches: 3 });
    expect(s.runs).toHaveLength(2);
    // Energy mean of −20 and −30 dB: 10·log10((0.01 + 0.001) / 2) = −22.6 dB.
    expect(s.runs[0]!).toMatchObject({ frames: 20, firstPlayAt: 1000, lastPlayAt: 1380, meanLevelDb: -22.6, peakLevelDb: -20 });
    expect(s.runs[1]!).toMatchObject({ frames: 5, heardFrames: 0, meanLevelDb: null, silent: { amp_off: 5 } });
    expect(r.heardBetween(1000, 1200)).toBe(10);
  });

  it("a flush withdraws frames from a seq on and fixes the run's end", () => {
    const r = new AmplifierRecord();
    r.add(batch(0, 10, 0), null);
    r.add(batch(10, 10, 200), null);
    expect(r.flush(1, 15)).toBe(5);
    expect(r.flush(2, 0)).toBe(0); // another session: nothing
    const s = r.snapshot();
    expect(s.totals).toMatchObject({ frames: 15, heardFrames: 15, flushedFrames: 5 });
    expect(s.runs[0]!).toMatchObject({ lastSeq: 14, lastPlayAt: 280, lastHeardAt: 280, meanLevelDb: -20 });
  });
});
