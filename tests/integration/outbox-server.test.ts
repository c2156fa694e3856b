/**
 * The outbox wired into a real server (LOANET_OUTBOX_DESTINATIONS): events
 * enqueued through the server's context while the receiver is down wait in
 * the store, survive a server restart, and once the receiver is up reach it
 * each exactly once, in order, with a signature the receiver checks; /metrics
 * shows them pending, then delivered. The receiver's port is fixed before the
 * server starts (it was listened on once, then closed: "down").
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { OutboxEnvelope } from '../../server/outbox/model.ts';
import { verify } from '../../server/outbox/signature.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/server.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** A webhook receiver checking the signature on its own clock and de-duplicating by webhook-id. */
class Receiver {
  readonly taken: OutboxEnvelope[] = [];
  badSignatures = 0;
  duplicates = 0;
  port = 0;
  private server: http.Server | undefined;

  async up(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const h = (n: string) => req.headers[n] as string | undefined;
        const check = verify(SECRET, { id: h('webhook-id'), timestamp: h('webhook-timestamp'), signature: h('webhook-signature') }, body, Math.floor(Date.now() / 1000));
        if (!check.ok) {
          this.badSignatures++;
          res.writeHead(401).end(check.reason);
          return;
        }
        const e = JSON.parse(body) as OutboxEnvelope;
        if (this.taken.some((t) => t.id === e.id)) this.duplicates++;
        else this.taken.push(e);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** One sample of /metrics, by name and exact label text (`destination="ioc"`), or undefined. */
async function metric(t: TestServer, name: string, labels = ''): Promise<number | undefined> {
  const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('the outbox in a running server', () => {
  const receiver = new Receiver();
  let t: TestServer | undefined;
  afterAll(async () => {
    await t?.stop();
    await receiver.down();
  });

  it('delivers every event once, in order and signed, across a receiver outage and a server restart', async () => {
    await receiver.up();
    await receiver.down();
    const destinations = [{ name: 'ioc', adapter: 'webhook', url: `http://127.0.0.1:${receiver.port}/hooks`, secret: SECRET }];
    t = await startTestServer({ LOANET_OUTBOX_DESTINATIONS: JSON.stringify(destinations) });
    const server = t;

    for (let n = 1; n <= 3; n++) await server.server.ctx.outbox.enqueue('report.ready', { n });
    // Tried and refused by the closed port: the loop runs and the messages wait.
    await waitFor('a failed attempt on /metrics', async () => ((await metric(server, 'loanet_outbox_attempts_total', 'outcome="unavailable"')) ?? 0) >= 1, 30_000);
    expect(await metric(server, 'loanet_outbox_pending', 'destination="ioc"')).toBe(3);

    await server.restart();
    for (let n = 4; n <= 5; n++) await server.server.ctx.outbox.enqueue('report.ready', { n });
    expect(await metric(server, 'loanet_outbox_pending', 'destination="ioc"')).toBe(5);

    await receiver.up();
    // The back-off after several failures is up to a few tens of seconds: a generous deadline, no fixed wait.
    await waitFor('all five taken', () => receiver.taken.length === 5, 120_000, 100);
    expect(receiver.taken.map((e) => (e.data as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
    expect(receiver.taken.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(receiver.taken.every((e) => e.type === 'report.ready')).toBe(true);
    expect(receiver.badSignatures).toBe(0);
    expect(receiver.duplicates).toBe(0);
    await waitFor('pending 0 and 5 delivered on /metrics', async () => {
      const pending = await metric(server, 'loanet_outbox_pending', 'destination="ioc"');
      const delivered = await metric(server, 'loanet_outbox_messages', 'state="delivered"');
      return pending === 0 && delivered === 5;
    });
  }, 240_000);

  it('refuses to start with destinations that are not valid, without repeating the secret', async () => {
    const { loadConfig } = await import('../../server/config.ts');
    const secret = 'whsec_dG9vLXNob3J0';
    expect(() => loadConfig({ LOANET_OUTBOX_DESTINATIONS: JSON.stringify([{ name: 'x', adapter: 'webhook', url: 'https://example.vn/h', secret }]) })).toThrow(
      /LOANET_OUTBOX_DESTINATIONS: outbox destination x: a webhook secret holds 24 to 64 bytes/,
    );
    try {
      loadConfig({ LOANET_OUTBOX_DESTINATIONS: `[{"secret":"${secret}"` });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/is not JSON/);
      expect((e as Error).message).not.toContain(secret);
    }
  });
});
