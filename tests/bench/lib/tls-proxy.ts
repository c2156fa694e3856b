/**
 * TLS in front of a server that speaks none, as a deployment puts nginx or
 * stunnel in front of loanet (docs/security.md, "Exposing loanet"): for the
 * benchmarks that measure what TLS costs the agent (`mqtts://`, `https://`).
 *
 * makeTestCa() makes, with openssl, a CA of its own and a certificate for
 * 127.0.0.1 and localhost signed by it; an agent trusts the CA through
 * NODE_EXTRA_CA_CERTS (Node then also loads its bundled root certificates,
 * as an agent trusting a public CA does). startTlsProxy() terminates TLS and
 * pipes each connection to the plain port; the proxy runs in the benchmark's
 * own process, so its cost is nobody's measured figure.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

export interface TestCa {
  /** The CA's certificate (PEM file): what NODE_EXTRA_CA_CERTS names. */
  caFile: string;
  key: Buffer;
  cert: Buffer;
}

/** A CA and a server certificate (P-256, for 127.0.0.1 and localhost) in `dir`. Needs openssl on PATH. */
export function makeTestCa(dir: string): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  const f = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=loanet bench CA',
  ]);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl([
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('server.pem'),
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
  ]);
  return { caFile: f('ca.pem'), key: fs.readFileSync(f('server.key')), cert: fs.readFileSync(f('server.pem')) };
}

export interface TlsProxy {
  port: number;
  /** TLS handshakes completed, and of them how many resumed a session (a reconnect that skipped the full handshake). */
  handshakes(): { full: number; resumed: number };
  close(): Promise<void>;
}

/** TLS on 127.0.0.1:<a free port>, each connection piped to 127.0.0.1:`upstreamPort`. */
export async function startTlsProxy(ca: TestCa, upstreamPort: number): Promise<TlsProxy> {
  const counts = { full: 0, resumed: 0 };
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ key: ca.key, cert: ca.cert }, (client) => {
    if (client.isSessionReused()) counts.resumed++;
    else counts.full++;
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    handshakes: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
