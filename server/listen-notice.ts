/**
 * What the server exposes, said at start-up beside the listeners (pure): on
 * which addresses HTTP and MQTT listen, what a stranger on the network meets
 * there, that neither speaks TLS, and how to keep both to this machine.
 */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::ffff:127.0.0.1';
}

const where = (host: string) => (isLoopbackHost(host) ? 'this machine only' : host === '0.0.0.0' || host === '::' ? 'every network interface' : `interface ${host}`);

export function listenNotice(o: { httpHost: string; httpPort: number; mqttHost: string; mqttPort: number; externalBroker: string | null }): string {
  const http = `HTTP ${o.httpHost}:${o.httpPort} (${where(o.httpHost)}): console and API, login required except /api/health, /docs, /livez and /readyz (/metrics: from this machine, or with LOANET_METRICS_TOKEN)`;
  const mqtt = o.externalBroker
    ? `MQTT: external broker ${o.externalBroker}, nothing listened on here`
    : `MQTT ${o.mqttHost}:${o.mqttPort} (${where(o.mqttHost)}): each site with its own credential`;
  const exposed = [isLoopbackHost(o.httpHost) ? null : 'HTTP', o.externalBroker || isLoopbackHost(o.mqttHost) ? null : 'MQTT'].filter((x) => x !== null);
  const advice =
    exposed.length === 0
      ? 'reachable from this machine only'
      : `no TLS: put a TLS proxy in front before exposing ${exposed.join(' and ')} beyond a LAN; for this machine only set ${exposed.map((x) => `LOANET_${x}_HOST=127.0.0.1`).join(' ')}`;
  return `listening: ${http}; ${mqtt}; ${advice}`;
}
