/**
 * What /metrics says, read at scrape time from the counters and state the
 * services already keep (ingest, broker, fleet and coverage, media lanes,
 * playlist distribution, live streams, alerts) and from the two probes this
 * feature runs itself (event-loop delay, store latency: probes.ts). Nothing
 * here counts on its own what a service counts.
 *
 * Labels stay bounded: an area's official code and level (province,
 * district, commune: at most a few hundred per province), a condition, a
 * reason code, a channel, a lane. Never a site id, a user or a URL.
 */
import { sql } from 'kysely';
import type { ServerContext } from '../context.ts';
import { coverageSnapshotRows } from '../coverage/coverage.ts';
import { SITE_CONDITIONS, type CoveragePolicy } from '../coverage/model.ts';
import type { Lane } from '../media/library.ts';
import { histogramSamples, type MetricFamily, type Sample } from './exposition.ts';
import type { Probes } from './probes.ts';
import { LEASE_NAMES } from '../cluster/lease-policy.ts';
import { outboxFamilies } from '../outbox/metrics.ts';

export type CollectDeps = Pick<
  ServerContext,
  'versions' | 'startedAt' | 'fleet' | 'coverage' | 'ingest' | 'broker' | 'store' | 'disk' | 'live' | 'media' | 'schedule' | 'now' | 'outbox' | 'cluster' | 'alarms'
> & {
  policy: CoveragePolicy;
};

/** Alert time to first sound, seconds: an attention signal within seconds is the goal; minutes means sites were offline or late. */
export const FIRST_SOUND_BUCKETS_S = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600];

const LANES: readonly Lane[] = ['alert', 'bulk'];
const s = (ms: number) => ms / 1000;
/** `packetTooLargeBeforeAuth` → `packet_too_large_before_auth`: a reason label from a counter's key. */
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export async function collect(d: CollectDeps, probes: Probes, ready: { notReady: () => Promise<readonly string[]> }): Promise<MetricFamily[]> {
  // Asked first: its store probe is not timed behind this scrape's own queries.
  const readyNow = (await ready.notReady()).length === 0;
  const now = d.now();
  const fam = (name: string, type: MetricFamily['type'], help: string, samples: Sample[]): MetricFamily => ({ name, type, help, samples });
  const out: MetricFamily[] = [
    fam('loanet_build_info', 'gauge', 'Versions of this server: always 1', [
      { labels: { version: d.versions.loanet, protocol: String(d.versions.protocol), schema: String(d.versions.schema), node: d.versions.node }, value: 1 },
    ]),
    fam('loanet_start_time_seconds', 'gauge', 'When this server started, seconds since the Unix epoch', [{ value: s(d.startedAt) }]),
    fam('loanet_ready', 'gauge', '1 when /readyz answers 200 (started, store and broker up, not shutting down)', [{ value: readyNow ? 1 : 0 }]),
  ];

  // Process: the same numbers as any Node exporter, under our prefix.
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  out.push(
    fam('loanet_process_cpu_seconds_total', 'counter', 'CPU time of the server process (user + system), seconds', [{ value: (cpu.user + cpu.system) / 1e6 }]),
    fam('loanet_process_resident_memory_bytes', 'gauge', 'Resident memory of the server process, bytes', [{ value: mem.rss }]),
    fam('loanet_process_heap_used_bytes', 'gauge', 'V8 heap in use, bytes', [{ value: mem.heapUsed }]),
  );

  // Event loop: every heartbeat, ack and HTTP answer waits behind a blocked loop.
  const loop = probes.eventLoop();
  out.push(
    fam('loanet_event_loop_delay_seconds', 'summary', 'Event-loop delay (perf_hooks monitorEventLoopDelay); quantiles over the last complete minute, sum and count since start', [
      ...loop.quantiles.map((q) => ({ labels: { quantile: String(q.quantile) }, value: q.seconds })),
      { suffix: '_sum', value: loop.sumSeconds },
      { suffix: '_count', value: loop.count },
    ]),
    fam('loanet_event_loop_delay_max_seconds', 'gauge', 'Longest event-loop delay in the last complete minute', [{ value: loop.maxSeconds }]),
  );

  // Store.
  const store = probes.store();
  out.push(
    fam('loanet_store_up', 'gauge', '1 when the last probe query answered (and, on SQLite, the database file is the one opened)', [{ value: store.up ? 1 : 0 }]),
    fam(
      'loanet_store_probe_duration_seconds',
      'histogram',
      "Time of the periodic store probe (every 10 s; SQLite: a read through the server's one connection, PostgreSQL: a SELECT 1 round trip through the pool): what any statement waits",
      [...histogramSamples(store.bounds, store.counts, store.sumSeconds)],
    ),
    fam('loanet_store_probe_failures_total', 'counter', 'Store probes that failed (the file gone, the database closed, unreadable, unreachable or not answering within 5 s)', [
      { value: store.failures },
    ]),
  );
  // The fleet's statuses and events are written behind its memory (fleet-state.ts): what waits, fails or was dropped.
  const w = d.fleet.stats();
  out.push(
    fam('loanet_fleet_store_writes_total', 'counter', "Transactions of the fleet's site statuses and events committed to the store, by kind", [
      { labels: { kind: 'status' }, value: w.statusWrites },
      { labels: { kind: 'event' }, value: w.eventWrites },
    ]),
    fam('loanet_fleet_store_rows_total', 'counter', "Rows of the fleet's site statuses and events committed to the store, by kind", [
      { labels: { kind: 'status' }, value: w.statusRows },
      { labels: { kind: 'event' }, value: w.eventRows },
    ]),
    fam('loanet_fleet_store_write_failures_total', 'counter', 'Fleet writes that failed (each kept and retried with the next)', [{ value: w.failures }]),
    fam('loanet_fleet_store_pending_events', 'gauge', 'Site events received and not yet written to the store', [{ value: w.pendingEvents }]),
    fam('loanet_fleet_store_dropped_events_total', 'counter', 'Site events dropped while the store kept failing, past the pending bound', [{ value: w.eventsDropped }]),
  );
  // The alarms' effects (raised, updated, cleared, their history) go through one ordered write queue (alarms/service.ts).
  // A server that does not hold the alarms lease writes none: its counters stay at zero.
  const a = d.alarms.writeStats();
  out.push(
    fam('loanet_alarm_store_writes_total', 'counter', "Transactions of the alarms' effects committed to the store", [{ value: a.writes }]),
    fam('loanet_alarm_store_effects_total', 'counter', 'Alarm effects (transitions, history rows, incidents) committed to the store', [{ value: a.effects }]),
    fam('loanet_alarm_store_write_failures_total', 'counter', 'Alarm writes that failed (each kept and retried with the next)', [{ value: a.failures }]),
    fam('loanet_alarm_store_pending_effects', 'gauge', 'Alarm effects decided and not yet written to the store', [{ value: a.pending }]),
    fam('loanet_alarm_store_dropped_effects_total', 'counter', 'Alarm effects given up after repeated failed writes', [{ value: a.dropped }]),
  );
  const disk = d.disk.status();
  out.push(
    fam('loanet_data_disk_free_bytes', 'gauge', "Free space of the data folder's file system, bytes", [{ value: disk.freeBytes }]),
    fam('loanet_data_disk_size_bytes', 'gauge', "Size of the data folder's file system, bytes", [{ value: disk.totalBytes }]),
    fam(
      'loanet_data_disk_state',
      'gauge',
      "The data disk's state (ok, low, critical): 1 for the current one",
      (['ok', 'low', 'critical'] as const).map((st) => ({ labels: { state: st }, value: disk.state === st ? 1 : 0 })),
    ),
  );

  // Broker.
  const b = d.broker.status();
  const refusals: Array<[string, number]> = b.refusals
    ? Object.entries(b.refusals).map(([k, v]) => [snake(k), v])
    : [
        ['auth_failures', b.refusedConnects],
        ['acl_denied_publishes', b.deniedPublishes],
        ['acl_denied_subscribes', b.deniedSubscribes],
      ];
  out.push(
    fam('loanet_broker_up', 'gauge', '1 when the broker listens (embedded) or the server is connected to it (external)', [{ labels: { kind: b.kind }, value: b.up ? 1 : 0 }]),
    fam('loanet_broker_connections', 'gauge', 'MQTT connections open on the embedded broker (an external broker: its own exporter says)', [
      { labels: { kind: b.kind }, value: b.clients },
    ]),
    fam(
      'loanet_broker_refusals_total',
      'counter',
      'Connections, packets, logins, publishes and subscribes the broker refused, by reason',
      refusals.map(([reason, v]) => ({ labels: { reason }, value: v })),
    ),
  );

  // Site messages: heartbeats are channel="telemetry".
  const ing = d.ingest.stats(0);
  out.push(
    fam(
      'loanet_site_messages_total',
      'counter',
      'Messages from sites accepted, by channel (telemetry = heartbeats)',
      (['state', 'telemetry', 'event', 'clock'] as const).map((ch) => ({ labels: { channel: ch }, value: ing.acceptedByChannel[ch] ?? 0 })),
    ),
    fam(
      'loanet_site_messages_rejected_total',
      'counter',
      'Messages from sites rejected at the boundary and dropped, by reason code',
      Object.entries(ing.rejectedByCode).map(([reason, v]) => ({ labels: { reason }, value: v ?? 0 })),
    ),
  );

  // Sites by condition and villages, per province, district and commune: what coverage says now.
  const obs = d.fleet.observations();
  const rows = coverageSnapshotRows(d.coverage.areaIndex(), obs, (o) => d.fleet.classify(o.siteId, now)!, now, d.policy);
  const idx = d.coverage.areaIndex();
  const siteSamples: Sample[] = [];
  const villageSamples: Sample[] = [];
  for (const r of rows) {
    const node = idx.get(r.areaKey);
    if (!node) continue;
    const area = { area: node.code, version: node.version, level: r.level };
    for (const c of SITE_CONDITIONS) siteSamples.push({ labels: { ...area, condition: c }, value: r[c] });
    villageSamples.push(
      { labels: { ...area, state: 'covered' }, value: r.villagesCovered },
      { labels: { ...area, state: 'failing' }, value: r.villagesFailing },
      { labels: { ...area, state: 'without_cluster' }, value: r.villagesWithoutCluster },
    );
  }
  out.push(
    fam('loanet_sites_registered', 'gauge', 'Sites registered (not retired)', [{ value: obs.length }]),
    fam(
      'loanet_sites',
      'gauge',
      'Sites by condition (operational, degraded, faulty, offline, unverified) per area of province, district and commune level, as GET /api/coverage counts them',
      siteSamples,
    ),
    fam('loanet_villages', 'gauge', 'Villages per area: covered (an operational cluster), failing (clusters, none operational), without_cluster', villageSamples),
  );

  // Alerts: dispatch and time to first sound, from the alert tables.
  out.push(...(await storeRead(alertFamilies(d))));

  // Live streams on air: the sites' reports of each stream, summed.
  const onAir = d.live.onAir({ limit: 1000 });
  const outcomes: Record<string, number> = { received: 0, late: 0, lost: 0, concealed: 0, fec_recovered: 0, played: 0 };
  let worstLoss = 0;
  for (const st of onAir) {
    outcomes.received! += st.sites.received;
    outcomes.late! += st.sites.late;
    outcomes.lost! += st.sites.lost;
    outcomes.concealed! += st.sites.concealed;
    outcomes.fec_recovered! += st.sites.fecRecovered;
    outcomes.played! += st.sites.played;
    worstLoss = Math.max(worstLoss, st.sites.unconcealedLossRatio ?? 0);
  }
  out.push(
    fam('loanet_live_streams', 'gauge', 'Live streams on air', [{ value: onAir.length }]),
    fam('loanet_live_stream_sites', 'gauge', 'Sites that reported on the streams on air', [{ value: onAir.reduce((n, st) => n + st.sites.sites, 0) }]),
    fam(
      'loanet_live_packets',
      'gauge',
      'Audio packets of the streams on air as the sites report them, by outcome (resets when a stream ends)',
      Object.entries(outcomes).map(([outcome, v]) => ({ labels: { outcome }, value: v })),
    ),
    fam('loanet_live_unconcealed_loss_ratio', 'gauge', 'Worst loss heard (neither played, concealed nor rebuilt by FEC, over packets due) among the streams on air; 0 when none', [
      { value: worstLoss },
    ]),
    ...(await storeRead(liveEndFamilies(d))),
    ...liveRecordFamilies(d.live.recordStats()),
  );

  // Media jobs: the alert lane must never wait behind the bulk one.
  out.push(
    fam(
      'loanet_media_jobs',
      'gauge',
      'Media jobs (upload processing, text to speech) by lane and state (running, waiting)',
      LANES.flatMap((lane) => {
        const l = d.media.library.laneLoad(lane);
        return [
          { labels: { lane, state: 'running' }, value: l.running },
          { labels: { lane, state: 'waiting' }, value: l.waiting },
        ];
      }),
    ),
  );

  // Playlist distribution: how many agents hold the playlist they should, and the last refresh.
  const conv = d.schedule.distribution.convergence();
  const last = d.schedule.distribution.lastRefresh();
  out.push(
    fam('loanet_playlist_sites', 'gauge', 'Sites with a desired playlist, by whether their agent reports holding it (converged) or not', [
      { labels: { state: 'converged' }, value: conv.converged },
      { labels: { state: 'not_converged' }, value: conv.sites - conv.converged },
    ]),
    fam('loanet_playlist_last_refresh_timestamp_seconds', 'gauge', 'When playlists were last recomputed and published, seconds since the Unix epoch; 0 when not yet', [
      { value: last ? s(last.at) : 0 },
    ]),
    fam('loanet_playlist_last_refresh_duration_seconds', 'gauge', "How long the last playlist distribution took, computing every site's playlist and publishing what changed", [
      { value: last ? s(last.tookMs) : 0 },
    ]),
    fam('loanet_playlist_last_refresh_publishes', 'gauge', 'Playlists published and failed (broker refused) at the last refresh', [
      { labels: { result: 'published' }, value: last?.published ?? 0 },
      { labels: { result: 'failed' }, value: last?.failed ?? 0 },
    ]),
  );
  // The webhook outbox: a receiver that is down shows as pending messages growing older.
  out.push(...(await storeRead(outboxFamilies(d.outbox, now))));
  // With several servers exactly one should hold each lease: sum(loanet_lease_held) by (lease) over the instances is 1.
  const owned = new Set(d.cluster.keeper.owned());
  out.push(
    fam(
      'loanet_lease_held',
      'gauge',
      'Work that must happen once across servers: 1 when this server holds its lease and does it now',
      LEASE_NAMES.map((lease) => ({ labels: { lease }, value: owned.has(lease) ? 1 : 0 })),
    ),
  );
  return out;
}

/**
 * Families read from the store, left out of a scrape the store cannot answer (PostgreSQL unreachable) rather than
 * failing it: loanet_store_up 0 and every other family still reach Prometheus, as they do on SQLite.
 */
function storeRead(families: Promise<MetricFamily[]>): Promise<MetricFamily[]> {
  return families.catch(() => []);
}

/** The alert figures, read from the alert tables (exported for the store's tests in both dialects). */
export async function alertFamilies(d: Pick<CollectDeps, 'store'>): Promise<MetricFamily[]> {
  // Read-only aggregates over the alert feature's tables (migration 5): alerts are rare, their rows few. COUNT is a
  // BIGINT and SUM a NUMERIC on PostgreSQL (a string from the driver): every figure goes through Number().
  const db = d.store.db;
  const started = await db
    .selectFrom('alerts')
    .select((eb) => ['origin', 'test', eb.fn.countAll().as('n')])
    .groupBy(['origin', 'test'])
    .execute();
  const active = await db
    .selectFrom('alerts')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('state', '=', 'active')
    .executeTakeFirstOrThrow();
  const deliveries = await db
    .selectFrom('alert_deliveries as d')
    .innerJoin('alerts as a', 'a.id', 'd.alert_id')
    .select((eb) => ['d.status', eb.fn.countAll().as('n')])
    .where('a.state', '=', 'active')
    .groupBy('d.status')
    .execute();
  // One row per test flag: the deliveries counted into each bucket (not cumulative), the overflow and the sum, in
  // the database (a province's deliveries over years are many rows). A clock that put the first sound before the
  // start counts as 0 (CASE, not SQLite's two-argument MAX, which PostgreSQL spells GREATEST).
  const t = sql<number>`CASE WHEN d.first_sound_at > a.created_at THEN d.first_sound_at - a.created_at ELSE 0 END`;
  const buckets = FIRST_SOUND_BUCKETS_S.map((le, i) => {
    const above = i > 0 ? sql` AND ${t} > ${sql.lit(FIRST_SOUND_BUCKETS_S[i - 1]! * 1000)}` : sql``;
    return sql<string>`SUM(CASE WHEN ${t} <= ${sql.lit(le * 1000)}${above} THEN 1 ELSE 0 END)`.as(`b${i}`);
  });
  const first = (await db
    .selectFrom('alert_deliveries as d')
    .innerJoin('alerts as a', 'a.id', 'd.alert_id')
    .select([
      'a.test',
      ...buckets,
      sql<string>`SUM(CASE WHEN ${t} > ${sql.lit(FIRST_SOUND_BUCKETS_S.at(-1)! * 1000)} THEN 1 ELSE 0 END)`.as('over'),
      sql<string>`SUM(${t})`.as('sum'),
    ])
    .where('d.first_sound_at', 'is not', null)
    .groupBy('a.test')
    .execute()) as Array<Record<string, string | number | null>>;
  const statuses = ['pending', 'received', 'playing', 'completed', 'failed', 'stopped'];
  const firstSamples: Sample[] = [];
  for (const test of [0, 1]) {
    const r = first.find((x) => Number(x.test) === test);
    const n = (v: string | number | null | undefined) => Number(v ?? 0);
    const counts = [...FIRST_SOUND_BUCKETS_S.map((_, i) => n(r?.[`b${i}`])), n(r?.over)];
    firstSamples.push(...histogramSamples(FIRST_SOUND_BUCKETS_S, counts, n(r?.sum) / 1000, { test: test ? 'true' : 'false' }));
  }
  return [
    {
      name: 'loanet_alerts_started_total',
      type: 'counter',
      help: 'Emergency alerts started, by origin (api, cap) and whether a test',
      samples: ['api', 'cap'].flatMap((origin) =>
        [0, 1].map((test) => ({ labels: { origin, test: test ? 'true' : 'false' }, value: Number(started.find((x) => x.origin === origin && x.test === test)?.n ?? 0) })),
      ),
    },
    { name: 'loanet_alerts_active', type: 'gauge', help: 'Emergency alerts in force now', samples: [{ value: Number(active.n) }] },
    {
      name: 'loanet_alert_deliveries',
      type: 'gauge',
      help: 'Targeted sites of the alerts in force, by delivery status',
      samples: statuses.map((status) => ({ labels: { status }, value: Number(deliveries.find((x) => x.status === status)?.n ?? 0) })),
    },
    {
      name: 'loanet_alert_first_sound_seconds',
      type: 'histogram',
      help: "Time from an alert's start to its first sound at each site that sounded it (the site's estimate of the server clock), every alert stored",
      samples: firstSamples,
    },
  ];
}

/** Live streams ended, by how, from the live streams' table. */
/** How the live record keeps up: a store that refuses the sites' reports shows as failed writes and reports waiting. */
export function liveRecordFamilies(r: { writes: number; failures: number; waiting: number }): MetricFamily[] {
  return [
    {
      name: 'loanet_live_record_writes_total',
      type: 'counter',
      help: "Batches of the sites' live stream reports written to the store, by result (what a failed one held goes with the next)",
      samples: [
        { labels: { result: 'written' }, value: r.writes },
        { labels: { result: 'failed' }, value: r.failures },
      ],
    },
    {
      name: 'loanet_live_record_reports_waiting',
      type: 'gauge',
      help: 'Site reports on live streams gone from memory (or closed by a restart) not yet written to the store',
      samples: [{ value: r.waiting }],
    },
  ];
}

export async function liveEndFamilies(d: Pick<CollectDeps, 'store'>): Promise<MetricFamily[]> {
  const rows = await d.store.db
    .selectFrom('live_streams')
    .select((eb) => ['end_reason as reason', eb.fn.countAll().as('n')])
    .where('ended_at', 'is not', null)
    .groupBy('end_reason')
    .execute();
  return [
    {
      name: 'loanet_live_streams_ended_total',
      type: 'counter',
      help: 'Live streams ended, by how (ended, operator, source_lost, error, server_shutdown, server_restart, server_lost, ...)',
      samples: rows.map((r) => ({ labels: { reason: r.reason ?? 'unknown' }, value: Number(r.n) })),
    },
  ];
}
