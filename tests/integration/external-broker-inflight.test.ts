/**
 * What the server had in flight to an external broker when that broker
 * stalled or died: every QoS 1 publish it never acknowledged settles as a
 * failure (so its owner knows and acts), the server comes back, and stop()
 * returns even when the broker will never answer again.
 *
 * A real Mosquitto is frozen with SIGSTOP (its socket stays open, nothing is
 * acknowledged), then killed with SIGKILL; the server's own ExternalBroker
 * talks to it over TCP.
 */
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { ExternalBroker } from '../../server/fleet/external-broker.ts';
import { freePort, type RunningMosquitto, startMosquitto, writeMosquittoBootstrap } from '../helpers/mosquitto.ts';
import { tempDir } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';
import { haveTools } from '../helpers/require-tool.ts';

const canRun = haveTools('mosquitto');
const USER = 'loanet_server';
const PASSWORD = 'inflight-test-password';

let dir: string;
let port: number;
let mosquitto: RunningMosquitto | undefined;
let link: ExternalBroker | undefined;

/** Settles to what happened to a promise, without waiting for it. */
function track<T>(p: Promise<T>): { state: 'pending' | 'resolved' | 'rejected'; error?: Error } {
  const s: { state: 'pending' | 'resolved' | 'rejected'; error?: Error } = { state: 'pending' };
  p.then(
    () => (s.state = 'resolved'),
    (e: Error) => ((s.state = 'rejected'), (s.error = e)),
  );
  return s;
}

async function connectLink(opts: { stopGraceMs?: number } = {}): Promise<ExternalBroker> {
  const l = new ExternalBroker(
    { url: `mqtt://127.0.0.1:${port}`, username: USER, password: PASSWORD, keepaliveS: 60, reconnect: { baseMs: 50, capMs: 200 }, retainedCheckMs: 0, ...opts },
    pino({ level: 'silent' }),
  );
  await l.start();
  return l;
}

describe.skipIf(!canRun)('publishes in flight to an external Mosquitto that stalls or dies', () => {
  beforeAll(() => {
    dir = tempDir('loanet-inflight-');
  });

  beforeEach(async () => {
    port = await freePort();
    writeMosquittoBootstrap(dir, { port, serverUser: USER, serverPassword: PASSWORD, maxQueuedMessages: 1000 });
    mosquitto = await startMosquitto(dir, { port });
  });

  afterEach(async () => {
    const p = mosquitto?.child;
    if (p?.pid && p.exitCode === null && p.signalCode === null) process.kill(p.pid, 'SIGCONT');
    await link?.stop();
    link = undefined;
    await mosquitto?.stop('SIGKILL');
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fails what the broker never acknowledged when it dies, asks for the retained state again, and publishes after the reconnect', async () => {
    link = await connectLink();
    const lost: string[] = [];
    link.onRetainedLost(async (why) => void lost.push(why));
    await link.publish('loanet/v1/test/before', Buffer.from('ok'), { qos: 1, retain: true });

    process.kill(mosquitto!.child.pid!, 'SIGSTOP');
    const retained = track(link.publish('loanet/v1/test/retained', Buffer.from('r'), { qos: 1, retain: true }));
    const command = track(link.publish('loanet/v1/test/command', Buffer.from('c'), { qos: 1 }));
    // Frozen, the broker holds the socket open and acknowledges nothing.
    expect(retained.state).toBe('pending');

    await mosquitto!.stop('SIGKILL');
    await waitFor('both publishes settled', () => retained.state !== 'pending' && command.state !== 'pending', 15_000);
    expect(retained).toMatchObject({ state: 'rejected' });
    expect(command).toMatchObject({ state: 'rejected' });
    expect(command.error!.message).toMatch(/did not acknowledge loanet\/v1\/test\/command/);

    mosquitto = await startMosquitto(dir, { port });
    await waitFor('the server back on the broker', () => link!.status().up, 15_000);
    // A new session, and a retained publish known to have failed: its owners publish their retained state again.
    await waitFor('the retained state asked for again', () => lost.length > 0, 15_000);
    await link.publish('loanet/v1/test/after', Buffer.from('ok'), { qos: 1 });
  });

  it('stop() returns when the broker is frozen with a publish in flight, and that publish fails', async () => {
    link = await connectLink({ stopGraceMs: 300 });
    process.kill(mosquitto!.child.pid!, 'SIGSTOP');
    const pending = track(link.publish('loanet/v1/test/frozen', Buffer.from('x'), { qos: 1, retain: true }));
    const l = link;
    link = undefined;
    await l.stop();
    await waitFor('the publish settled', () => pending.state !== 'pending', 5_000);
    expect(pending.state).toBe('rejected');
  });

  it('stop() returns while the broker is down and the server is between reconnects', async () => {
    link = await connectLink();
    process.kill(mosquitto!.child.pid!, 'SIGSTOP');
    const pending = track(link.publish('loanet/v1/test/down', Buffer.from('x'), { qos: 1 }));
    await mosquitto!.stop('SIGKILL');
    await waitFor('the link seen down', () => !link!.status().up, 15_000);
    const l = link;
    link = undefined;
    await l.stop();
    await waitFor('the publish settled', () => pending.state !== 'pending', 5_000);
    expect(pending.state).toBe('rejected');
  });
});
