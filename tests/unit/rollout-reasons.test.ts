/**
 * A rollout's reason (why its status last changed) leaves the server as a code
 * with params, never as a sentence: every code (api/rollouts.ts
 * ROLLOUT_REASON_CODES) has the rollout page's words in Vietnamese and English
 * (web/src/strings/updates.ts), the ones the rollout decides itself have the
 * audit log's too (web/src/strings/audit.ts), and every placeholder of those
 * words is a param the pure core sends. Rows stored before the codes read
 * back as the code they meant. (The audit page's sentence around them:
 * tests/browser/updates.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { ROLLOUT_REASON_CODES } from '../../api/rollouts.ts';
import { planWaves, stepRollout, type RolloutReason, type RolloutSpec, type SiteNow, type SiteRolloutState } from '../../server/updates/rollout.ts';
import { readReason } from '../../server/updates/store.ts';
import * as audit from '../../web/src/strings/audit.ts';
import * as updates from '../../web/src/strings/updates.ts';

const VIETNAMESE = /[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]/i;
type Dict = Record<string, string>;

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
const fill = (s: string, params: Record<string, unknown>) => s.replace(/\{(\w+)\}/g, (_, k: string) => String(params[k]));

/** The reasons the pure core gives, one of each kind, from a small rollout driven through its waves. */
function reasonsOfTheCore(): RolloutReason[] {
  const spec: RolloutSpec = {
    id: 'roll-reasons',
    waves: [
      { name: 'Thử trước', sites: ['s1'] },
      { name: 'Đợt 2: 100 %', percent: 100 },
    ],
    successThreshold: 1,
    errorThreshold: 0.075,
    minFinished: 1,
    onError: 'pause',
    maxInFlight: 10,
    broadcastMarginMs: 0,
  };
  const targets = ['s1', 's2', 's3'];
  const waves = planWaves(spec, targets);
  const fleet = (state: (id: string) => SiteRolloutState) =>
    new Map<string, SiteNow>(targets.map((id) => [id, { siteId: id, state: state(id), online: true, playing: false, nextBroadcastAt: null }]));
  const next = stepRollout(
    spec,
    waves,
    { status: 'running', wave: 0 },
    fleet((id) => (id === 's1' ? 'updated' : 'waiting')),
    0,
  );
  const stop = stepRollout(
    spec,
    waves,
    { status: 'running', wave: 1 },
    fleet((id) => (id === 's2' ? 'failed' : 'updated')),
    0,
  );
  const done = stepRollout(
    spec,
    waves,
    { status: 'running', wave: 1 },
    fleet(() => 'updated'),
    0,
  );
  return [next.reason!, stop.reason!, done.reason!];
}

/** A person's reason as the service stores it. */
const PERSON = (code: 'paused_by' | 'resumed_by' | 'aborted_by'): RolloutReason => ({ code, params: { by: 'kt-capnhat', text: 'chờ kiểm tra tại chỗ' } });

describe("a rollout's reasons", () => {
  const core = reasonsOfTheCore();
  const examples = new Map<string, RolloutReason>([...core, PERSON('paused_by'), PERSON('resumed_by'), PERSON('aborted_by')].map((r) => [r.code, r]));

  it('the core decides with codes and numbers, the threshold a percentage with at most one decimal', () => {
    expect(core).toEqual([
      { code: 'success_threshold', params: { wave: 'Thử trước', next: 'Đợt 2: 100 %' } },
      { code: 'error_threshold', params: { wave: 'Đợt 2: 100 %', failed: 1, finished: 2, thresholdPct: 7.5 } },
      { code: 'completed', params: {} },
    ]);
  });

  it('every code the wire carries comes from the core or a person, and every one has an example here', () => {
    expect([...examples.keys()].sort()).toEqual([...ROLLOUT_REASON_CODES].sort());
  });

  it.each([...ROLLOUT_REASON_CODES])('words %s on the rollout page in both languages from its params', (code) => {
    const [vi, en] = [updates.vi as Dict, updates.en as Dict].map((d) => d[`rolloutReason_${code}`]);
    expect(vi, code).toBeDefined();
    expect(en, code).toBeDefined();
    expect(vi, code).toMatch(VIETNAMESE);
    expect(en, code).not.toBe(vi);
    const params = examples.get(code)!.params as Record<string, unknown>;
    // Every placeholder is a param the server sends (a person's text the page adds after the words).
    for (const words of [vi!, en!]) {
      expect(
        placeholders(words).filter((k) => !(k in params)),
        `${code}: ${words}`,
      ).toEqual([]);
      expect(fill(words, params), code).not.toMatch(/[{}]|undefined|NaN/);
    }
  });

  it.each(['error_threshold', 'success_threshold', 'completed'])('words the rollout own %s in the audit log in both languages, as the page does', (code) => {
    for (const [a, u] of [
      [audit.vi, updates.vi],
      [audit.en, updates.en],
    ] as const) {
      expect((a as Dict)[`av_reason_${code}`], code).toBe((u as Dict)[`rolloutReason_${code}`]);
    }
  });

  it('writes the threshold the Vietnamese way: a no-break space before %, none in English', () => {
    const stop = { wave: 'Đợt 1', failed: 2, finished: 5, thresholdPct: '7,5' };
    expect(fill(updates.vi.rolloutReason_error_threshold, stop)).toBe('Đợt 1: 2/5 trạm đã xong bị lỗi, vượt ngưỡng lỗi 7,5\u00a0%.');
    expect(fill(updates.en.rolloutReason_error_threshold, { ...stop, thresholdPct: '7.5' })).toBe('Đợt 1: 2 of 5 finished sites failed, over the error threshold of 7.5%.');
  });

  it('reads a stored reason back, and the English sentences rows held before as the codes they meant', () => {
    expect(readReason(JSON.stringify(core[1]), 'paused')).toEqual(core[1]);
    expect(readReason(null, 'running')).toBeNull();
    expect(readReason('Đợt 1: 3 of 10 finished sites failed, over the error threshold of 5 %', 'aborted')).toEqual({
      code: 'error_threshold',
      params: { wave: 'Đợt 1', failed: 3, finished: 10, thresholdPct: 5 },
    });
    expect(readReason('canary reached its success threshold; 5 % starts', 'running')).toEqual({ code: 'success_threshold', params: { wave: 'canary', next: '5 %' } });
    expect(readReason('every wave reached its success threshold', 'completed')).toEqual({ code: 'completed', params: {} });
    expect(readReason('pause by kt-capnhat', 'paused')).toEqual({ code: 'paused_by', params: { by: 'kt-capnhat', text: null } });
    // A person's own words stay theirs; which action, the status says.
    expect(readReason('dừng để kiểm tra', 'aborted')).toEqual({ code: 'aborted_by', params: { by: null, text: 'dừng để kiểm tra' } });
    expect(readReason('{ not json', 'running')).toEqual({ code: 'resumed_by', params: { by: null, text: '{ not json' } });
  });
});
