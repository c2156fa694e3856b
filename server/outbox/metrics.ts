/**
 * The outbox's figures in the Prometheus text format (docs/webhooks.md, "What
 * operations watch"): read at scrape time from Outbox.metrics(). Labels are
 * states, outcomes and configured destination names: few and bounded.
 */
import type { MetricFamily } from '../metrics/exposition.ts';
import { OUTBOX_STATES } from './model.ts';
import type { Outbox } from './outbox.ts';

export async function outboxFamilies(outbox: Outbox, now: number): Promise<MetricFamily[]> {
  const m = await outbox.metrics();
  // Every configured destination has a sample, 0 when nothing waits: a series that vanishes reads as "no data", not "caught up".
  const pending = new Map(outbox.destinations().map((d) => [d.name, 0]));
  for (const [name, n] of Object.entries(m.pendingByDestination)) pending.set(name, n);
  return [
    {
      name: 'loanet_outbox_messages',
      type: 'gauge',
      help: 'Outbox messages in the store, by state (delivered and failed ones are kept 7 days)',
      samples: OUTBOX_STATES.map((state) => ({ labels: { state }, value: m.byState[state] })),
    },
    {
      name: 'loanet_outbox_pending',
      type: 'gauge',
      help: 'Outbox messages waiting to be delivered, per destination: a receiver that is down shows here',
      samples: [...pending].map(([destination, value]) => ({ labels: { destination }, value })),
    },
    {
      name: 'loanet_outbox_oldest_pending_age_seconds',
      type: 'gauge',
      help: 'Age of the oldest message waiting in the outbox, seconds; 0 when none waits (a message fails for good at 72 h)',
      samples: [{ value: m.oldestPendingAt === null ? 0 : Math.max(0, now - m.oldestPendingAt) / 1000 }],
    },
    {
      name: 'loanet_outbox_attempts_total',
      type: 'counter',
      help: 'Delivery attempts since start, by outcome: accepted (2xx), refused (never retried), unavailable (retried later)',
      samples: (['accepted', 'refused', 'unavailable'] as const).map((outcome) => ({ labels: { outcome }, value: m.attempts[outcome] })),
    },
    {
      name: 'loanet_outbox_lost_claims_total',
      type: 'counter',
      help: "Attempts whose outcome was not written because this server's claim on the message had lapsed (a stalled server)",
      samples: [{ value: m.lostClaims }],
    },
  ];
}
