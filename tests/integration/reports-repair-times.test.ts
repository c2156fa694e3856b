/**
 * A report's times to repair come from the work orders where a fault has
 * one: a real server (embedded broker over TCP, the suite's store) and an
 * edge agent as its own process on a simulated board. A speaker line is cut,
 * its alarm made a work order through the maintenance routes, the line
 * repaired (the alarm clears then) and a sound check heard (the order
 * closes then): the report's fault is repaired at the verified close, not at
 * the clearing, and says so; it agrees with the maintenance log's own
 * repairTimesOf. A second cut without a work order is repaired when its
 * alarm clears, and says that.
 */
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repairTimesOf } from '../../server/maintenance/repair-report.ts';
import { faultKindWords, REPAIR_SOURCE_LABEL } from '../../server/reports/labels.ts';
import { buildReport } from '../../server/reports/report-model.ts';
import { readReportInputs } from '../../server/reports/sources.ts';
import { parsePeriod } from '../../server/reports/period.ts';
import { HEADER_ROW } from '../../server/reports/xlsx.ts';
import { wallTimeAt } from '../../server/time/zone.ts';
import { makeAgentSite, type AgentSite } from '../helpers/agent-site.ts';
import { agentCli, stopAllProcesses } from '../helpers/process.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

const BAT_XAT = '02683';
const PASSWORD = 'mat-khau-du-dai-1';

let t: TestServer;
let site: AgentSite;
let tech: { token: string; id: number };

interface Alarm {
  id: string;
  kind: string;
  state: string;
  raisedAt: number;
  cleared: { at: number } | null;
}

const status = async () => (await t.inject('GET', `/api/sites/${site.id}`)).body.status as { condition: string; reasons: Array<{ code: string }> };
const lineOpen = async () => (await status()).reasons.some((r) => r.code === 'line_open');
const as = (method: string, url: string, body?: unknown) => t.inject(method, url, body, { token: tech.token });
const alarms = async () => (await t.inject('GET', `/api/alarms?site=${site.id}&state=open,cleared&limit=50`)).body.alarms as Alarm[];
const ymd = (at: number) => {
  const w = wallTimeAt(at, 'Asia/Ho_Chi_Minh');
  return `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
};

/** A speaker line cut until its alarm is raised; resolves to the alarm. */
async function cutLine(seen: ReadonlySet<string>): Promise<Alarm> {
  site.device.injectFault({ kind: 'line_open', line: 1 });
  return waitFor('a new speaker line alarm', async () => (await alarms()).find((a) => a.kind === 'speaker_line' && a.state !== 'cleared' && !seen.has(a.id)), 30_000);
}

/** The line repaired until its alarm has cleared. */
async function repairLine(alarmId: string): Promise<Alarm> {
  site.device.clearFault({ kind: 'line_open', line: 1 });
  await waitFor('the line seen repaired', async () => ((await lineOpen()) ? undefined : true), 30_000);
  return waitFor('the alarm cleared', async () => (await alarms()).find((a) => a.id === alarmId && a.cleared !== null), 30_000);
}

beforeAll(async () => {
  t = await startTestServer({ LOANET_ALARM_HOLD_DOWN_S: '1', LOANET_ALARM_PENDING_S: '0' });
  await importLaoCai2025(t);
  const u = await t.api('POST', '/api/users', { username: 'ky-thuat-bat-xat', password: PASSWORD, role: 'technician', area: BAT_XAT });
  if (u.status !== 201) throw new Error(`user: ${u.status} ${JSON.stringify(u.body)}`);
  tech = {
    token: (await t.api('POST', '/api/auth/login', { username: 'ky-thuat-bat-xat', password: PASSWORD }, { token: null })).body.token as string,
    id: (await t.server.ctx.users.byUsername('ky-thuat-bat-xat'))!.id,
  };
  site = await makeAgentSite(t, tempDir('loanet-reports-repair-'), { name: 'Cụm loa thôn Sàng Ma Sáo', area: BAT_XAT, seed: 47 });
  agentCli('--config', site.config);
  await waitFor(
    `${site.id} online`,
    async () => {
      const c = (await status())?.condition;
      return c !== undefined && c !== 'offline' && c !== 'unverified' ? c : undefined;
    },
    60_000,
  );
}, 120_000);

afterAll(async () => {
  await stopAllProcesses();
  await site?.relay.down();
  await site?.deviceServer.close();
  await t?.stop();
});

describe("a report's time to repair: the work order's verified close where there is one, else the alarm's clearing", () => {
  let withOrder: Alarm;
  let verifiedAt: number;
  let withoutOrder: Alarm;

  it('a fault with a work order is repaired when a sound check closes the order, not when its alarm clears', async () => {
    const raised = await cutLine(new Set());
    const made = await as('POST', '/api/work-orders', { alarmId: raised.id, notes: 'mất tiếng nhánh 1' });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const id = made.body.id as number;
    expect((await as('POST', `/api/work-orders/${id}/assign`, { userId: tech.id })).body.state).toBe('assigned');
    expect((await as('POST', `/api/work-orders/${id}/resolve`, { resolution: 'đã nối lại dây' })).body.state).toBe('resolved');
    withOrder = await repairLine(raised.id);
    const check = await as('POST', `/api/work-orders/${id}/sound-check`, {});
    expect(check.status, JSON.stringify(check.body)).toBe(202);
    const closed = await waitFor(
      'the order closed by the sound check',
      async () => {
        const o = (await as('GET', `/api/work-orders/${id}`)).body.order as { state: string; verifiedAt: number | null };
        return o.state === 'closed' ? o : undefined;
      },
      60_000,
    );
    verifiedAt = closed.verifiedAt!;
    // The alarm cleared with the line; the order closed later, on the check heard after it.
    expect(verifiedAt).toBeGreaterThan(withOrder.cleared!.at);
  }, 120_000);

  it('a fault without a work order is repaired when its alarm clears', async () => {
    const raised = await cutLine(new Set([withOrder.id]));
    withoutOrder = await repairLine(raised.id);
  }, 90_000);

  it('the report counts each from its own source and says which; its figures are the maintenance log’s', async () => {
    await t.server.ctx.alarms.settled();
    const period = `${ymd(withOrder.raisedAt)}..${ymd(Date.now())}`;
    const ctx = t.server.ctx;
    const commune = ctx.coverage.areaIndex().order.find((a) => a.code === BAT_XAT)!;
    const report = buildReport(await readReportInputs(ctx, commune, parsePeriod(period)!));
    const f = report.totals.faults.byKind.speaker_line!;
    const a = withOrder.raisedAt;
    const b = withoutOrder.raisedAt;
    expect(f).toMatchObject({ count: 2, repaired: 2, repairedByWorkOrder: 1, open: 0 });
    expect(f.repairMs).toBe(verifiedAt - a + (withoutOrder.cleared!.at - b));
    // The cut line also raises alarms of other kinds (each timed by its own alarm): the speaker line's are these.
    expect(report.faults.filter((r) => r.kind === 'speaker_line').map((r) => [r.startedAt, r.endedAt, r.repairSource])).toEqual([
      [a, verifiedAt, 'work_order'],
      [b, withoutOrder.cleared!.at, 'alarm'],
    ]);

    // The maintenance log's own figure for the fault with a closed order is the report's.
    const p = parsePeriod(period)!;
    const rows = await repairTimesOf(
      { alarms: ctx.alarms.store, orders: ctx.maintenance.store, index: ctx.coverage.areaIndex() },
      { areaIds: [...ctx.coverage.subtreeIds(commune.id)], from: p.from, to: p.to },
    );
    const row = rows.find((r) => r.kind === 'speaker_line')!;
    expect(row.repair).toMatchObject({ count: 1, meanMs: verifiedAt - a });
    expect(row.unrepaired).toBe(1);

    // The workbook says, per fault, which source timed it.
    const res = await fetch(`${t.baseUrl}/api/reports?area=${BAT_XAT}&period=${period}`, { headers: { authorization: `Bearer ${t.token}` } });
    expect(res.status).toBe(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(await res.arrayBuffer());
    const ws = wb.getWorksheet('Sự cố')!;
    const headers = (ws.getRow(HEADER_ROW).values as unknown[]).map((v) => (typeof v === 'string' ? v : ''));
    const sources: unknown[] = [];
    ws.eachRow((r, n) => {
      const v = r.values as unknown[];
      if (n > HEADER_ROW && v[headers.indexOf('Loại sự cố')] === faultKindWords('speaker_line', 'vi')) sources.push(v[headers.indexOf('Khắc phục tính theo')]);
    });
    expect(sources).toEqual([REPAIR_SOURCE_LABEL.work_order.vi, REPAIR_SOURCE_LABEL.alarm.vi]);
  }, 60_000);
});
