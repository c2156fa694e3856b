/**
 * What a technician does to an open work order, each a small form that
 * posts one action of /api/work-orders/:id/* and shows the server's refusal
 * in the user's language: assign (to someone the server says may take it),
 * plan the visit day, record parts and notes, resolve with what was done,
 * cancel with why, and, once resolved, ask the site for the sound check
 * whose hearing closes the order. Only the actions the order's state allows
 * are offered (work-orders.ts ALLOWED_FROM).
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { t } from '../i18n.ts';
import { errorText, useApi } from '../hooks.ts';
import { allows, dayStart, type PartUsed, type WorkOrderAssignees, type WorkOrderRecord } from '../work-orders.ts';
import { DayEntry } from './date-entry.tsx';

type Post = (path: string, body: unknown) => Promise<string | undefined>;

/** A form with one submit: its own busy state and refusal. */
function ActionForm(props: { name: string; label: string; submit: () => Promise<string | undefined>; children?: preact.ComponentChildren; secondary?: boolean }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  return (
    <form
      class="note-form"
      data-testid={`wo-${props.name}-form`}
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        props.submit().then(
          (err) => {
            setBusy(false);
            setError(err ?? '');
          },
          () => setBusy(false),
        );
      }}
    >
      {props.children}
      <button type="submit" class={props.secondary ? 'secondary' : ''} disabled={busy}>
        {props.label}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function AssignForm({ order, post }: { order: WorkOrderRecord; post: Post }) {
  const people = useApi<WorkOrderAssignees>(`/api/work-orders/${order.id}/assignees`);
  const [userId, setUserId] = useState(order.assignee ? String(order.assignee.userId) : '');
  return (
    <ActionForm name="assign" label={t('woAssign')} submit={() => (userId ? post('assign', { userId: Number(userId) }) : Promise.resolve(t('woPickAssignee')))}>
      <label>
        {t('woAssignTo')}
        <select name="assignee" value={userId} onChange={(e) => setUserId((e.currentTarget as HTMLSelectElement).value)}>
          <option value="">{t('woPickAssignee')}</option>
          {(people.data?.users ?? []).map((u) => (
            <option value={String(u.userId)}>
              {u.username} · {t(`role_${u.role}` as 'role_technician')} · {u.areaName ?? t('whole')}
            </option>
          ))}
        </select>
      </label>
      {people.error && <span class="error">{people.error}</span>}
    </ActionForm>
  );
}

function RecordForm({ order, post }: { order: WorkOrderRecord; post: Post }) {
  const [parts, setParts] = useState<PartUsed[]>(order.parts);
  const [notes, setNotes] = useState(order.notes ?? '');
  const setPart = (i: number, patch: Partial<PartUsed>) => setParts(parts.map((p, j) => (j === i ? { ...p, ...patch } : p)));
  return (
    <ActionForm
      name="record"
      label={t('woSaveRecord')}
      submit={() => post('record', { parts: parts.filter((p) => p.part.trim() !== ''), notes: notes.trim() === '' ? null : notes.trim() })}
    >
      <fieldset>
        <legend>{t('woParts')}</legend>
        {parts.map((p, i) => (
          <div class="row" data-testid="wo-part">
            <label>
              {t('woPart')}
              <input name="part" value={p.part} maxLength={200} onInput={(e) => setPart(i, { part: (e.currentTarget as HTMLInputElement).value })} />
            </label>
            <label>
              {t('woQuantity')}
              <input
                name="quantity"
                type="number"
                inputMode="decimal"
                min="0"
                step="any"
                value={String(p.quantity)}
                onInput={(e) => setPart(i, { quantity: Number((e.currentTarget as HTMLInputElement).value) })}
              />
            </label>
          </div>
        ))}
        <button type="button" class="secondary" data-testid="wo-add-part" onClick={() => setParts([...parts, { part: '', quantity: 1 }])}>
          {t('woAddPart')}
        </button>
      </fieldset>
      <label>
        {t('woNotes')}
        <textarea name="notes" rows={2} maxLength={4000} value={notes} onInput={(e) => setNotes((e.currentTarget as HTMLTextAreaElement).value)} />
      </label>
    </ActionForm>
  );
}

/** A required note (resolve, cancel): refused here when empty, as the server would. */
function NoteAction({ name, label, field, missing, post, body }: { name: string; label: string; field: string; missing: string; post: Post; body: (note: string) => unknown }) {
  const [note, setNote] = useState('');
  return (
    <ActionForm name={name} label={label} secondary={name === 'cancel'} submit={() => (note.trim() === '' ? Promise.resolve(missing) : post(name, body(note.trim())))}>
      <label>
        {field}
        <textarea name="note" rows={2} maxLength={4000} value={note} onInput={(e) => setNote((e.currentTarget as HTMLTextAreaElement).value)} />
      </label>
    </ActionForm>
  );
}

export function WorkOrderActions({ order: o, done }: { order: WorkOrderRecord; done: () => void }) {
  const [day, setDay] = useState('');
  const [sent, setSent] = useState('');
  const post: Post = async (path, body) => {
    try {
      await api('POST', `/api/work-orders/${o.id}/${path}`, body);
      done();
      return undefined;
    } catch (e) {
      return errorText(e as Error);
    }
  };
  return (
    <div class="card alarm-act" data-testid="wo-actions">
      {o.awaitingVerification && (
        <ActionForm
          name="sound-check"
          label={t('woSoundCheck')}
          submit={async () => {
            const err = await post('sound-check', {});
            if (!err) setSent(t('woSoundCheckSent'));
            return err;
          }}
        >
          {sent && <p data-testid="wo-sound-check-sent">{sent}</p>}
        </ActionForm>
      )}
      {allows('assign', o.state) && <AssignForm order={o} post={post} />}
      {allows('plan_visit', o.state) && (
        <ActionForm name="visit" label={t('woPlanVisit')} submit={() => (day ? post('visit', { on: dayStart(day) }) : Promise.resolve(t('woVisitDay')))}>
          <label for={`wo-${o.id}-visit`}>{t('woVisitDay')}</label>
          <DayEntry id={`wo-${o.id}-visit`} name="visit" value={day} onChange={setDay} required />
        </ActionForm>
      )}
      {allows('record', o.state) && <RecordForm order={o} post={post} />}
      {allows('resolve', o.state) && (
        <NoteAction name="resolve" label={t('woResolve')} field={t('woResolution')} missing={t('woResolutionMissing')} post={post} body={(resolution) => ({ resolution })} />
      )}
      {allows('cancel', o.state) && (
        <NoteAction name="cancel" label={t('woCancel')} field={t('woCancelNote')} missing={t('woCancelNoteMissing')} post={post} body={(note) => ({ note })} />
      )}
    </div>
  );
}
