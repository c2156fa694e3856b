/**
 * The Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): metric
 * families with HELP and TYPE, samples with escaped label values. Pure: the
 * collector (collect.ts) reads the services' own counters at scrape time and
 * hands plain numbers here. Written here rather than taken from prom-client
 * because every value is read at scrape time from counters the services
 * already keep: the registry, default collectors and aggregation of that
 * library would go unused.
 */

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';
export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  /** Appended to the family name: '_bucket', '_sum', '_count' for histograms and summaries; '' otherwise. */
  suffix?: string;
  labels?: Labels;
  value: number;
}

export interface MetricFamily {
  /** Prefixed `loanet_`; a counter's name ends in `_total`. */
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const NAME = /^loanet_[a-z_][a-z0-9_]*$/;
const LABEL = /^[a-z_][a-z0-9_]*$/;

/** The families as one exposition body. Throws on a name or label the format (or our naming rules) does not allow: a bug, caught by the tests. */
export function render(families: readonly MetricFamily[]): string {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`metric name ${f.name} is not loanet_[a-z0-9_]*`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) throw new Error(`counter ${f.name} must end in _total`);
    if (seen.has(f.name)) throw new Error(`metric ${f.name} twice`);
    seen.add(f.name);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ''}${labelText(s.labels)} ${numberText(s.value)}`);
  }
  return `${out.join('\n')}\n`;
}

/** A histogram's samples from observations already bucketed: `counts[i]` observations ≤ `bounds[i]` (not cumulative), then the rest. */
export function histogramSamples(bounds: readonly number[], counts: readonly number[], sum: number, labels: Labels = {}): Sample[] {
  const samples: Sample[] = [];
  let cumulative = 0;
  bounds.forEach((le, i) => {
    cumulative += counts[i] ?? 0;
    samples.push({ suffix: '_bucket', labels: { ...labels, le: numberText(le) }, value: cumulative });
  });
  const count = cumulative + (counts[bounds.length] ?? 0);
  samples.push({ suffix: '_bucket', labels: { ...labels, le: '+Inf' }, value: count });
  samples.push({ suffix: '_sum', labels, value: sum });
  samples.push({ suffix: '_count', labels, value: count });
  return samples;
}

function labelText(labels: Labels | undefined): string {
  if (!labels) return '';
  const parts = Object.entries(labels).map(([k, v]) => {
    if (!LABEL.test(k)) throw new Error(`label name ${k} is not [a-z_][a-z0-9_]*`);
    return `${k}="${escapeLabel(v)}"`;
  });
  return parts.length ? `{${parts.join(',')}}` : '';
}

function numberText(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(v);
}

// The format's escapes: in HELP, backslash and newline; in a label value, also the double quote.
const escapeHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabel = (s: string) => escapeHelp(s).replace(/"/g, '\\"');
