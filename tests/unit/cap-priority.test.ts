import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CapInfo } from '../../server/alerts/cap/model.ts';
import { broadcastImmediately, capPriority, DEFAULT_CAP_PRIORITY_TABLE, parsePriorityTable, vnRiskLevel } from '../../server/alerts/cap/priority.ts';
import { capPriorityTableFrom } from '../../server/alerts/cap/priority-config.ts';

function info(o: Partial<CapInfo> & { params?: Array<[string, string]> } = {}): CapInfo {
  return {
    language: 'vi-VN',
    category: ['Met'],
    event: 'x',
    responseType: [],
    urgency: 'Immediate',
    severity: 'Extreme',
    certainty: 'Likely',
    eventCode: [],
    resource: [],
    area: [],
    ...o,
    parameter: (o.params ?? []).map(([valueName, value]) => ({ valueName, value })),
  };
}

describe('CAP urgency, severity and certainty → loanet priority (one table)', () => {
  it('a flash flood (Extreme, Immediate, Likely) is an emergency with a siren', () => {
    expect(capPriority(info())).toMatchObject({ priority: 'emergency', attention: 'siren', rule: 'severe-imminent' });
  });

  it('a Minor advisory with Broadcast_Immediately=No does not pre-empt, and says why', () => {
    const d = capPriority(info({ severity: 'Minor', urgency: 'Expected', params: [['layer:SOREM:1.0:Broadcast_Immediately', 'No']] }));
    expect(d).toMatchObject({ priority: 'normal', attention: null, rule: 'not-immediate-minor' });
    expect(d.reason).toBe('Expected/Minor/Likely, Broadcast_Immediately=No → normal (rule not-immediate-minor)');
  });

  it.each([
    [{ severity: 'Moderate' }, 'priority', 'chime'],
    [{ severity: 'Minor' }, 'normal', null],
    [{ severity: 'Severe', urgency: 'Future' }, 'priority', 'chime'],
    [{ severity: 'Severe', certainty: 'Possible' }, 'emergency', 'chime'],
    [{ severity: 'Extreme', urgency: 'Past' }, 'priority', 'chime'],
    [{ severity: 'Moderate', urgency: 'Past' }, 'normal', null],
    [{ severity: 'Unknown', urgency: 'Unknown', certainty: 'Unknown' }, 'priority', 'chime'],
    [{ severity: 'Unknown', urgency: 'Past' }, 'priority', 'chime'],
  ] as const)('%j → %s, %s', (o, priority, attention) => {
    expect(capPriority(info(o as Partial<CapInfo>))).toMatchObject({ priority, attention });
  });

  it('Broadcast_Immediately=Yes makes even a Moderate message an emergency; =No keeps a Severe one from a siren', () => {
    expect(capPriority(info({ severity: 'Moderate', params: [['Broadcast_Immediately', 'Yes']] }))).toMatchObject({ priority: 'emergency', attention: 'siren' });
    expect(capPriority(info({ params: [['Broadcast_Immediately', 'No']] }))).toMatchObject({ priority: 'priority', attention: 'chime' });
    expect(broadcastImmediately(info({ params: [['Broadcast_Immediately', 'maybe']] }))).toBeUndefined();
  });

  it('the Decision 18/2021/QĐ-TTg risk level, when given, decides before CAP severity', () => {
    expect(vnRiskLevel(info({ params: [['cấp độ rủi ro thiên tai', 'Cấp 4']] }))).toBe(4);
    expect(vnRiskLevel(info({ params: [['VN-RISK-LEVEL', '2']] }))).toBe(2);
    expect(vnRiskLevel(info({ params: [['CAP_DO_RUI_RO', '6']] }))).toBeUndefined();
    expect(capPriority(info({ severity: 'Moderate', params: [['cấp độ rủi ro thiên tai', '5']] }))).toMatchObject({
      priority: 'emergency',
      attention: 'siren',
      rule: 'vn-risk-4-5',
    });
    expect(capPriority(info({ params: [['CAP_DO_RUI_RO', '1']] }))).toMatchObject({ priority: 'priority', attention: 'chime', rule: 'vn-risk-1-2' });
    expect(capPriority(info({ params: [['cấp độ rủi ro thiên tai', '3']] })).reason).toContain('cấp độ rủi ro 3');
  });

  it('every combination of urgency, severity and certainty gets a decision, and only Extreme/Severe or a sender’s Yes get a siren', () => {
    for (const urgency of ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'] as const)
      for (const severity of ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'] as const)
        for (const certainty of ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown'] as const) {
          const d = capPriority(info({ urgency, severity, certainty }));
          expect(d.rule).not.toBe('default');
          if (d.attention === 'siren') expect(['Extreme', 'Severe']).toContain(severity);
        }
  });
});

describe('a province’s own table (LOANET_CAP_PRIORITY_TABLE)', () => {
  it('the default table round-trips through the checker', () => {
    expect(parsePriorityTable(JSON.parse(JSON.stringify(DEFAULT_CAP_PRIORITY_TABLE)))).toEqual({ ok: true, table: DEFAULT_CAP_PRIORITY_TABLE });
  });

  it('refuses a bad table naming the rule and field', () => {
    const r = parsePriorityTable([{ name: 'x', when: { severity: ['Huge'], colour: 'red' }, priority: 'urgent', attention: 'horn' }]);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors).toEqual([
      'rule 1.priority: one of emergency, priority, normal',
      'rule 1.attention: "siren", "chime" or null',
      'rule 1.when: unknown condition colour',
      'rule 1.when.severity: must be a non-empty list of Extreme, Severe, Moderate, Minor, Unknown',
    ]);
    expect(parsePriorityTable({}).ok).toBe(false);
  });

  it('is read from the file the environment names, and a broken file stops the start naming it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cap-priority-'));
    const good = path.join(dir, 'good.json');
    fs.writeFileSync(good, JSON.stringify([{ name: 'everything', when: {}, priority: 'emergency', attention: 'siren' }]));
    expect(capPriorityTableFrom({ LOANET_CAP_PRIORITY_TABLE: good })).toEqual([{ name: 'everything', when: {}, priority: 'emergency', attention: 'siren' }]);
    expect(capPriorityTableFrom({})).toBe(DEFAULT_CAP_PRIORITY_TABLE);
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '[{"name": "x"');
    expect(() => capPriorityTableFrom({ LOANET_CAP_PRIORITY_TABLE: bad })).toThrow(/LOANET_CAP_PRIORITY_TABLE=.*bad\.json cannot be read as JSON/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
