/** What every bench scenario returns, and how the runner prints it. */

export interface BenchResult {
  scenario: string;
  /** Which MQTT broker carried the traffic, when there was any: 'embedded' (aedes) or 'mosquitto'. */
  broker?: string;
  params: Record<string, number | string | boolean>;
  figures: Record<string, number>;
  /** What the figure means or why it is missing (e.g. "not measurable yet"). */
  note?: string;
}

const round = (v: number) => (Number.isFinite(v) ? Number(v.toFixed(Math.abs(v) >= 100 ? 1 : 3)) : v);

/** One table per scenario; a scenario with many figures and few rows is printed turned (a row per figure). */
export function printTable(results: readonly BenchResult[]): void {
  const groups = new Map<string, BenchResult[]>();
  for (const r of results) groups.set(r.scenario, [...(groups.get(r.scenario) ?? []), r]);
  for (const [scenario, rs] of groups) {
    const keys = new Set(rs.flatMap((r) => [...Object.keys(r.params), ...Object.keys(r.figures)]));
    console.log(scenario);
    if (keys.size > 9 && rs.length <= 4) {
      const brokers = new Set(rs.map((r) => r.broker));
      const label = (r: BenchResult, i: number) =>
        r.broker && brokers.size === rs.length ? r.broker : r.params.sites !== undefined ? `${r.params.sites} sites` : rs.length > 1 ? `#${i + 1}` : 'value';
      const rows = [...keys].map((k) => ({
        figure: k,
        ...Object.fromEntries(rs.map((r, i) => [label(r, i), k in r.params ? r.params[k]! : round(r.figures[k] ?? NaN)])),
      }));
      console.table(rows);
    } else if (keys.size > 0) {
      console.table(rs.map((r) => ({ ...(r.broker ? { broker: r.broker } : {}), ...r.params, ...Object.fromEntries(Object.entries(r.figures).map(([k, v]) => [k, round(v)])) })));
    }
    for (const r of rs) if (r.note) console.log(`  ${r.broker ? `[${r.broker}] ` : ''}${r.note}`);
  }
}

/**
 * Side by side: each figure of a scenario on the embedded broker and on
 * Mosquitto, and the ratio mosquitto / embedded (below 1: Mosquitto costs
 * less, or answers faster). Returns the ratios as results too.
 */
export function compareBrokers(results: readonly BenchResult[], scenario: string, match: (r: BenchResult) => boolean = () => true): BenchResult | undefined {
  const e = results.find((r) => r.scenario === scenario && r.broker === 'embedded' && match(r));
  const m = results.find((r) => r.scenario === scenario && r.broker === 'mosquitto' && match(r));
  if (!e || !m) return undefined;
  const figures: Record<string, number> = {};
  const rows: Array<Record<string, string | number>> = [];
  for (const k of Object.keys(e.figures)) {
    const a = e.figures[k]!;
    const b = m.figures[k];
    if (b === undefined) continue;
    const ratio = a !== 0 ? b / a : NaN;
    if (Number.isFinite(ratio)) figures[k] = ratio;
    rows.push({ figure: k, embedded: round(a), mosquitto: round(b), 'mosquitto / embedded': Number.isFinite(ratio) ? round(ratio) : '–' });
  }
  console.log(`${scenario}${e.params.sites !== undefined ? ` (${e.params.sites} sites)` : ''}: embedded aedes vs Mosquitto`);
  console.table(rows);
  return { scenario: `${scenario}/ratio`, broker: 'mosquitto/embedded', params: { ...e.params }, figures };
}
