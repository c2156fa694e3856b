/**
 * A site's board enrolment (technicians and admins): make a one-time code
 * and show it large, with its expiry and as a QR code holding the boot
 * partition file's lines (server=…, code=…), and the command to run on the
 * board. For a site that has connected before, the button re-enrols and
 * says first that the running board will be disconnected.
 */
import { useMemo, useState } from 'preact/hooks';
import { encode } from 'uqr';
import { api, ApiError } from '../api.ts';
import { formatTime, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { EnrolmentCreated, EnrolmentStatus } from '../../../api/index.ts';

/** The QR code as one SVG path of dark modules (crisp at any size, no canvas). */
export function QrCode(props: { text: string; label: string }) {
  const qr = useMemo(() => encode(props.text, { ecc: 'M', border: 2 }), [props.text]);
  const d = useMemo(() => {
    let path = '';
    qr.data.forEach((row, y) => row.forEach((dark, x) => dark && (path += `M${x} ${y}h1v1h-1z`)));
    return path;
  }, [qr]);
  return (
    <svg
      viewBox={`0 0 ${qr.size} ${qr.size}`}
      role="img"
      aria-label={props.label}
      data-testid="enrolment-qr"
      data-text={props.text}
      shape-rendering="crispEdges"
      style={{ width: '100%', maxWidth: '16rem', height: 'auto', background: '#fff', display: 'block' }}
    >
      <path d={d} fill="#000" />
    </svg>
  );
}

export function EnrolmentPanel(props: { siteId: string; hasConnected: boolean }) {
  const [made, setMade] = useState<EnrolmentCreated | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const status = useApi<EnrolmentStatus>(`/api/sites/${encodeURIComponent(props.siteId)}/enrolment`);
  const pending = status.data?.pending;

  const make = async () => {
    if (props.hasConnected && !window.confirm(t('enrolReenrolConfirm'))) return;
    setError('');
    setBusy(true);
    try {
      setMade(await api<EnrolmentCreated>('POST', `/api/sites/${encodeURIComponent(props.siteId)}/enrolment`));
      status.reload();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h2>{t('enrolment')}</h2>
      <div class="card" data-testid="enrolment">
        <p class="muted">{t('enrolHint')}</p>
        {props.hasConnected && <p class="muted">{t('enrolReenrolNote')}</p>}
        {status.data?.lastEnrolledAt != null && (
          <p class="muted" data-testid="enrolment-last">
            {t('enrolLast', { time: formatTime(status.data.lastEnrolledAt), from: status.data.lastEnrolledFrom ?? '—' })}
          </p>
        )}
        {pending && !made && (
          <p data-testid="enrolment-pending">
            {t('enrolPending', { created: formatTime(pending.createdAt), by: pending.createdBy ?? '—', expires: formatTime(pending.expiresAt) })}
          </p>
        )}
        <div class="row">
          <button type="button" class={props.hasConnected ? 'danger' : ''} disabled={busy} onClick={make} data-testid="enrolment-make">
            {props.hasConnected ? t('enrolReenrol') : t('enrolMakeCode')}
          </button>
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {made && (
          <div class="two">
            <div>
              <div class="muted">{t('enrolCode')}</div>
              <div
                data-testid="enrolment-code"
                style={{ fontFamily: 'ui-monospace, monospace', fontSize: '2.4rem', fontWeight: 700, letterSpacing: '.12em', whiteSpace: 'nowrap' }}
              >
                {made.code}
              </div>
              <p data-testid="enrolment-expires">{t('enrolExpires', { time: formatTime(made.expiresAt) })}</p>
              <p class="muted">{t('enrolOnBoard')}</p>
              <pre style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}>
                <code>{`sudo loanet-agent enrol --server ${made.server} --code ${made.code}`}</code>
              </pre>
              <p class="muted">{t('enrolBootFile')}</p>
            </div>
            <div>
              <QrCode text={made.qr} label={t('enrolQr')} />
            </div>
          </div>
        )}
      </div>
    </>
  );
}
