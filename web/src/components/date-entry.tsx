/**
 * Date and time entry that reads and shows day/month/year and a 24-hour
 * clock in every language (a browser's own date field follows the browser's
 * locale: mm/dd/yyyy on most phones sold here). Plain text fields with a
 * number keypad on phones; what they accept is date-entry.ts's. A field that
 * holds something it cannot read blocks its form with a message saying what
 * to type.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { t, type StringKey } from '../i18n.ts';
import { parseDayEntry, parseTimeEntry, showDayEntry, splitLocal } from '../date-entry.ts';

interface EntryProps {
  name: string;
  /** The wire form ("YYYY-MM-DD" or "HH:mm"); "" when empty or not readable. */
  value: string;
  onChange: (value: string) => void;
  required?: boolean;
  ariaLabel?: string;
  /** For a label's htmlFor. */
  id?: string;
}

function Entry(props: EntryProps & { parse: (s: string) => string | null; show: (v: string) => string; placeholder: StringKey; invalid: StringKey; width: string }) {
  const [text, setText] = useState(() => props.show(props.value));
  // What this field last said to its owner: a value that differs came from outside (a reset, a preset) and is shown.
  const said = useRef(props.value);
  useEffect(() => {
    if (props.value !== said.current) {
      said.current = props.value;
      setText(props.show(props.value));
    }
  }, [props.value]);
  const read = (el: HTMLInputElement, normalise: boolean) => {
    const v = el.value;
    const parsed = props.parse(v);
    el.setCustomValidity(v.trim() === '' || parsed !== null ? '' : t(props.invalid));
    if (normalise && parsed !== null) setText(props.show(parsed));
    else setText(v);
    const next = parsed ?? '';
    if (next !== said.current) {
      said.current = next;
      props.onChange(next);
    }
  };
  const bad = text.trim() !== '' && props.parse(text) === null;
  return (
    <input
      name={props.name}
      id={props.id}
      type="text"
      inputMode="numeric"
      autoComplete="off"
      placeholder={t(props.placeholder)}
      title={t(props.invalid)}
      aria-label={props.ariaLabel}
      aria-invalid={bad}
      style={`width:${props.width}`}
      value={text}
      required={props.required}
      onInput={(e) => read(e.currentTarget, false)}
      onBlur={(e) => read(e.currentTarget, true)}
    />
  );
}

/** A day as dd/mm/yyyy; `value` and `onChange` speak "YYYY-MM-DD". */
export function DayEntry(props: EntryProps) {
  return <Entry {...props} parse={parseDayEntry} show={showDayEntry} placeholder="dayEntryHint" invalid="dayEntryInvalid" width="9.5em" />;
}

/** A time of day as HH:mm (24 hours); `value` and `onChange` speak "HH:mm". */
export function TimeEntry(props: EntryProps) {
  return <Entry {...props} parse={parseTimeEntry} show={(v) => v} placeholder="timeEntryHint" invalid="timeEntryInvalid" width="5em" />;
}

/**
 * A moment as a day and a time side by side (Asia/Ho_Chi_Minh, what the server reads as local time);
 * `value` and `onChange` speak "YYYY-MM-DDTHH:mm", "" while either part is missing or unreadable.
 * The fields are named `${name}Date` and `${name}Time`; `id` goes to the day's.
 */
export function DateTimeEntry(props: EntryProps) {
  const outside = splitLocal(props.value);
  const [day, setDay] = useState(outside.day);
  const [time, setTime] = useState(outside.time);
  const said = useRef(props.value);
  useEffect(() => {
    if (props.value !== said.current) {
      said.current = props.value;
      const p = splitLocal(props.value);
      setDay(p.day);
      setTime(p.time);
    }
  }, [props.value]);
  const tell = (d: string, tm: string) => {
    const next = d && tm ? `${d}T${tm}` : '';
    if (next !== said.current) {
      said.current = next;
      props.onChange(next);
    }
  };
  return (
    <span class="row" style="gap:.3rem;flex-wrap:nowrap">
      <DayEntry
        id={props.id}
        name={`${props.name}Date`}
        value={day}
        required={props.required}
        ariaLabel={t('dayEntryHint')}
        onChange={(d) => {
          setDay(d);
          tell(d, time);
        }}
      />
      <TimeEntry
        name={`${props.name}Time`}
        value={time}
        required={props.required}
        ariaLabel={t('timeEntryHint')}
        onChange={(tm) => {
          setTime(tm);
          tell(day, tm);
        }}
      />
    </span>
  );
}
