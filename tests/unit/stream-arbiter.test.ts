import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { StreamArbiter } from '../../edge-agent/playout/stream-arbiter.ts';
import { AUDIO_PRIORITIES } from '../../protocol/index.ts';

describe('StreamArbiter', () => {
  it('plays the first stream at a quiet site', () => {
    const a = new StreamArbiter();
    expect(a.playing).toBeNull();
    expect(a.start({ streamId: 1, priority: 'normal' })).toEqual({ ok: true, state: 'playing', changes: [{ streamId: 1, to: 'playing', why: 'started' }] });
    expect(a.playing).toMatchObject({ streamId: 1, state: 'playing' });
  });

  it('lets an emergency pre-empt a relayed programme, which resumes when the emergency ends', () => {
    const a = new StreamArbiter();
    a.start({ streamId: 1, priority: 'normal', whenPreempted: 'resume' });
    expect(a.start({ streamId: 2, priority: 'emergency' })).toEqual({
      ok: true,
      state: 'playing',
      changes: [
        { streamId: 1, to: 'suspended', why: 'preempted', by: 2 },
        { streamId: 2, to: 'playing', why: 'started' },
      ],
    });
    expect(a.streams.map((s) => [s.streamId, s.state])).toEqual([
      [2, 'playing'],
      [1, 'suspended'],
    ]);
    expect(a.stop(2)).toEqual([
      { streamId: 2, to: 'ended', why: 'stopped' },
      { streamId: 1, to: 'playing', why: 'resumed' },
    ]);
    expect(a.playing?.streamId).toBe(1);
  });

  it('ends a pre-empted live voice instead of resuming it half-way when it says so', () => {
    const a = new StreamArbiter();
    a.start({ streamId: 1, priority: 'priority', whenPreempted: 'end' });
    const r = a.start({ streamId: 2, priority: 'emergency' });
    expect(r.ok && r.changes).toEqual([
      { streamId: 1, to: 'ended', why: 'preempted', by: 2 },
      { streamId: 2, to: 'playing', why: 'started' },
    ]);
    expect(a.stop(2)).toEqual([{ streamId: 2, to: 'ended', why: 'stopped' }]);
    expect(a.playing).toBeNull();
  });

  it('takes the policy from its options when a claim does not say', () => {
    const a = new StreamArbiter({ whenPreempted: 'end' });
    a.start({ streamId: 1, priority: 'normal' });
    const r = a.start({ streamId: 2, priority: 'priority' });
    expect(r.ok && r.changes[0]).toEqual({ streamId: 1, to: 'ended', why: 'preempted', by: 2 });
  });

  it('refuses a second stream of the same priority, naming the one on air', () => {
    const a = new StreamArbiter();
    a.start({ streamId: 1, priority: 'emergency' });
    const r = a.start({ streamId: 2, priority: 'emergency' });
    expect(r).toMatchObject({ ok: false, code: 'same_priority_busy', holder: 1 });
    expect(!r.ok && r.reason).toContain('stream 1');
    expect(a.playing?.streamId).toBe(1);
  });

  it('also refuses a same-priority stream while the holder is suspended', () => {
    const a = new StreamArbiter();
    a.start({ streamId: 1, priority: 'normal' });
    a.start({ streamId: 2, priority: 'emergency' });
    expect(a.start({ streamId: 3, priority: 'normal' })).toMatchObject({ ok: false, code: 'same_priority_busy', holder: 1 });
  });

  it('lets a lower stream that would resume wait, and refuses one that would end', () => {
    const a = new StreamArbiter();
    a.start({ streamId: 1, priority: 'emergency' });
    expect(a.start({ streamId: 2, priority: 'normal', whenPreempted: 'resume' })).toEqual({
      ok: true,
      state: 'suspended',
      changes: [{ streamId: 2, to: 'suspended', why: 'waiting', by: 1 }],
    });
    expect(a.start({ streamId: 3, priority: 'priority', whenPreempted: 'end' })).toMatchObject({ ok: false, code: 'lower_priority', holder: 1 });
    expect(a.stop(1)).toEqual([
      { streamId: 1, to: 'ended', why: 'stopped' },
      { streamId: 2, to: 'playing', why: 'resumed' },
    ]);
  });

  it('resumes the next highest when the top ends, through all three levels', () => {
    const a = new StreamArbiter();
    a.start({ streamId: 1, priority: 'normal' });
    a.start({ streamId: 2, priority: 'priority' });
    a.start({ streamId: 3, priority: 'emergency' });
    expect(a.stop(3).at(-1)).toEqual({ streamId: 2, to: 'playing', why: 'resumed' });
    expect(a.stop(2).at(-1)).toEqual({ streamId: 1, to: 'playing', why: 'resumed' });
    expect(a.stop(1)).toEqual([{ streamId: 1, to: 'ended', why: 'stopped' }]);
  });

  it('stops a suspended stream without touching the one playing, and ignores unknown and repeated ids', () => {
    const a = new StreamArbiter();
    a.start({ streamId: 1, priority: 'normal' });
    a.start({ streamId: 2, priority: 'emergency' });
    expect(a.stop(1)).toEqual([{ streamId: 1, to: 'ended', why: 'stopped' }]);
    expect(a.playing?.streamId).toBe(2);
    expect(a.stop(1)).toEqual([]);
    expect(a.stop(99)).toEqual([]);
    expect(a.start({ streamId: 2, priority: 'emergency' })).toMatchObject({ ok: false, code: 'already_active' });
  });

  it('always plays the highest-priority active stream, with at most one per priority (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('start' as const), id: fc.integer({ min: 1, max: 6 }), priority: fc.constantFrom(...AUDIO_PRIORITIES), when: fc.constantFrom('resume' as const, 'end' as const) }),
      fc.record({ kind: fc.constant('stop' as const), id: fc.integer({ min: 1, max: 6 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const a = new StreamArbiter();
        for (const o of ops) {
          if (o.kind === 'start') a.start({ streamId: o.id, priority: o.priority, whenPreempted: o.when });
          else a.stop(o.id);
          const s = a.streams;
          const ranks = s.map((x) => AUDIO_PRIORITIES.indexOf(x.priority));
          expect(new Set(ranks).size).toBe(s.length);
          expect(ranks).toEqual([...ranks].sort((x, y) => y - x));
          expect(s.filter((x) => x.state === 'playing').length).toBe(s.length ? 1 : 0);
          if (s.length) expect(s[0]!.state).toBe('playing');
          expect(s.slice(1).every((x) => x.whenPreempted === 'resume')).toBe(true);
        }
      }),
    );
  });
});
