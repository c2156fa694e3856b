/**
 * Periodic reports (issue 19): an area of the user's scope and a period (a
 * month, a quarter, a year or a range of days, in Asia/Ho_Chi_Minh), made by
 * the server as an Excel workbook or a PDF (GET /api/reports) and saved by
 * the browser; and the monthly reports the server keeps (/api/reports/kept).
 * The file is fetched (download.ts), so a refusal (a period too long, a
 * report queue full) is worded in the user's language.
 */
import type { Static } from '@sinclair/typebox';
import { useState } from 'preact/hooks';
import { qs } from '../api.ts';
import { downloadFile } from '../download.ts';
import { formatNumber, formatTime, t } from '../i18n.ts';
import { errorText, useApi } from '../hooks.ts';
import { DayEntry } from '../components/date-entry.tsx';
import type { AreaView, Me } from '../../../api/index.ts';
import type { KeptReportList } from '../../../server/reports/routes.ts';

type PeriodKind = 'month' | 'quarter' | 'year' | 'range';
const PERIOD_KINDS: PeriodKind[] = ['month', 'quarter', 'year', 'range'];
const KIND_KEY = { month: 'reportsMonth', quarter: 'reportsQuarter', year: 'reportsYear', range: 'reportsRange' } as const;

/** Today's year and month in Asia/Ho_Chi_Minh (UTC+7, no DST). */
function nowInProvince(): { year: number; month: number } {
  const d = new Date(Date.now() + 7 * 3_600_000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1 };
}

interface PeriodForm {
  kind: PeriodKind;
  year: number;
  month: number;
  quarter: number;
  from: string;
  to: string;
}

/** The period as GET /api/reports reads it (2026-11, 2026-Q4, 2026, 2026-11-01..2026-11-15), or null when incomplete. */
export function periodParam(p: PeriodForm): string | null {
  if (p.kind === 'month') return `${p.year}-${String(p.month).padStart(2, '0')}`;
  if (p.kind === 'quarter') return `${p.year}-Q${p.quarter}`;
  if (p.kind === 'year') return String(p.year);
  return /^\d{4}-\d{2}-\d{2}$/.test(p.from) && /^\d{4}-\d{2}-\d{2}$/.test(p.to) ? `${p.from}..${p.to}` : null;
}

export function ReportsPage({ me }: { me: Me }) {
  const { year, month } = nowInProvince();
  // The month before: the last whole one.
  const [p, setP] = useState<PeriodForm>({
    kind: 'month',
    year: month === 1 ? year - 1 : year,
    month: month === 1 ? 12 : month - 1,
    quarter: Math.ceil(month / 3),
    from: '',
    to: '',
  });
  const [area, setArea] = useState(me.area ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const provinces = useApi<{ areas: AreaView[] }>('/api/areas?level=province');
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const kept = useApi<Static<typeof KeptReportList>>('/api/reports/kept');
  const areas = [...(provinces.data?.areas ?? []), ...(communes.data?.areas ?? [])].filter((a) => a.retiredAt === null);
  const years = Array.from({ length: 6 }, (_, i) => year - i);

  const get = (format: 'xlsx' | 'pdf') => {
    const period = periodParam(p);
    if (!period) return setError(t('reportsBadPeriod'));
    setBusy(true);
    setError('');
    downloadFile(`/api/reports${qs({ area, period, format })}`, `bao-cao.${format}`).then(
      () => setBusy(false),
      (e: Error) => {
        setBusy(false);
        setError(errorText(e));
      },
    );
  };
  const num = (k: 'year' | 'month' | 'quarter') => (e: Event) => setP({ ...p, [k]: Number((e.currentTarget as HTMLSelectElement).value) });

  return (
    <section class="reports">
      <h1>{t('reportsTitle')}</h1>
      <div class="row">
        <label>
          {t('reportsArea')}
          <select name="area" value={area} onChange={(e) => setArea((e.currentTarget as HTMLSelectElement).value)}>
            {me.area === null && <option value="">{t('whole')}</option>}
            {areas.map((a) => (
              <option value={a.key}>{a.name}</option>
            ))}
          </select>
        </label>
        <label>
          {t('reportsPeriodKind')}
          <select name="periodKind" value={p.kind} onChange={(e) => setP({ ...p, kind: (e.currentTarget as HTMLSelectElement).value as PeriodKind })}>
            {PERIOD_KINDS.map((k) => (
              <option value={k}>{t(KIND_KEY[k])}</option>
            ))}
          </select>
        </label>
        {p.kind !== 'range' && (
          <label>
            {t('reportsYear')}
            <select name="year" value={p.year} onChange={num('year')}>
              {years.map((y) => (
                <option value={y}>{y}</option>
              ))}
            </select>
          </label>
        )}
        {p.kind === 'month' && (
          <label>
            {t('reportsMonth')}
            <select name="month" value={p.month} onChange={num('month')}>
              {Array.from({ length: 12 }, (_, i) => (
                <option value={i + 1}>{i + 1}</option>
              ))}
            </select>
          </label>
        )}
        {p.kind === 'quarter' && (
          <label>
            {t('reportsQuarter')}
            <select name="quarter" value={p.quarter} onChange={num('quarter')}>
              {[1, 2, 3, 4].map((q) => (
                <option value={q}>{q}</option>
              ))}
            </select>
          </label>
        )}
        {p.kind === 'range' && (
          <>
            <label htmlFor="report-from">
              {t('from')}
              <DayEntry id="report-from" name="from" value={p.from} onChange={(from) => setP((x) => ({ ...x, from }))} />
            </label>
            <label htmlFor="report-to">
              {t('to')}
              <DayEntry id="report-to" name="to" value={p.to} onChange={(to) => setP((x) => ({ ...x, to }))} />
            </label>
          </>
        )}
      </div>
      <div class="row">
        <button type="button" data-testid="report-xlsx" disabled={busy} onClick={() => get('xlsx')}>
          {t('reportsExcel')}
        </button>
        <button type="button" data-testid="report-pdf" disabled={busy} onClick={() => get('pdf')}>
          {t('reportsPdf')}
        </button>
        {busy && <span class="muted">{t('reportsMaking')}</span>}
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <h2>{t('reportsKept')}</h2>
      <p class="muted">{t('reportsKeptHint')}</p>
      {kept.error && <p class="error">{kept.error}</p>}
      {kept.data && kept.data.reports.length === 0 && <p class="muted">{t('reportsKeptNone')}</p>}
      {kept.data && kept.data.reports.length > 0 && (
        <div class="scroll">
          <table data-testid="kept-reports">
            <thead>
              <tr>
                <th>{t('reportsMonth')}</th>
                <th>{t('reportsArea')}</th>
                <th>{t('reportsFile')}</th>
                <th class="hide-sm">{t('reportsSize')}</th>
                <th class="hide-sm">{t('reportsCreated')}</th>
              </tr>
            </thead>
            <tbody>
              {kept.data.reports.map((r) => (
                <tr>
                  <td>{r.period}</td>
                  <td>{r.area.name}</td>
                  <td>
                    <a href={r.url} download={r.fileName}>
                      {r.format === 'pdf' ? 'PDF' : t('reportsSheet')}
                    </a>
                  </td>
                  <td class="hide-sm">{formatNumber(r.bytes / 1024, 0, 'KB')}</td>
                  <td class="hide-sm">{formatTime(r.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
