/**
 * The set_acoustic_delay command (issue 4): the per-site acoustic delay a
 * technician sets remotely. Good params decode; bad ones are refused naming
 * the field, and its answer decodes as a cmd_result.
 */
import { describe, expect, it } from 'vitest';
import { COMMAND_TYPES, decodeCommand, decodeEvent, encodeJson } from '../../protocol/index.ts';

const base = { v: 1, id: 'cmd-acoustic-1', siteId: 'sim-02683-v01', issuedAt: 1_795_000_000_000, expiresAt: 1_795_000_600_000, type: 'set_acoustic_delay' };
const reason = (params: unknown): string => {
  const d = decodeCommand.decode(encodeJson({ ...base, params }));
  expect(d.ok).toBe(false);
  return d.ok ? '' : d.error.reason;
};

describe('set_acoustic_delay command', () => {
  it('is a command type the API and the agent know', () => {
    expect(COMMAND_TYPES).toContain('set_acoustic_delay');
  });

  it('accepts metres from -100 to 1000, fractions included', () => {
    for (const metres of [-100, -12.5, 0, 34, 343, 1000]) {
      const d = decodeCommand.decode(encodeJson({ ...base, params: { metres } }));
      expect(d).toEqual({ ok: true, value: { ...base, params: { metres } } });
    }
  });

  it('refuses out-of-range, missing, non-numeric and unknown params, naming them', () => {
    expect(reason({ metres: 1000.5 })).toMatch(/\/params\/metres/);
    expect(reason({ metres: -101 })).toMatch(/\/params\/metres/);
    expect(reason({ metres: '34' })).toMatch(/\/params\/metres/);
    expect(reason({ metres: null })).toMatch(/\/params\/metres/);
    expect(reason({})).toMatch(/metres/);
    expect(reason({ metres: 34, seconds: 0.1 })).toMatch(/seconds/);
  });

  it('is answered by a cmd_result carrying the value and the delay in ms', () => {
    const answer = {
      v: 1,
      siteId: base.siteId,
      at: 1_795_000_000_500,
      type: 'cmd_result',
      cmdId: base.id,
      cmdType: 'set_acoustic_delay',
      ok: true,
      result: { acousticDelayM: 34, delayMs: 99.125 },
    };
    expect(decodeEvent.decode(encodeJson(answer))).toEqual({ ok: true, value: answer });
  });
});
