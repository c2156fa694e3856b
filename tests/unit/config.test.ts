import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';

describe('server configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ httpPort: 8080, mqttPort: 1883, dataDir: './data', heartbeatIntervalS: 30, soundMaxAgeH: 168, areaVersion: '2025', adminPassword: undefined });
  });
  it('reads every LOANET_* value it is given', () => {
    const c = loadConfig({
      LOANET_HTTP_PORT: '9000',
      LOANET_MQTT_PORT: '0',
      LOANET_DATA_DIR: '/var/lib/loanet',
      LOANET_ADMIN_PASSWORD: 'long-enough',
      LOANET_SOUND_CHECK_QUIET_HOURS: '21-6',
      LOANET_AREA_VERSION: '2020',
    });
    expect(c).toMatchObject({
      httpPort: 9000,
      mqttPort: 0,
      dataDir: '/var/lib/loanet',
      adminPassword: 'long-enough',
      soundCheckQuietHours: { startHour: 21, endHour: 6 },
      areaVersion: '2020',
    });
  });
  it('uses the embedded broker unless LOANET_MQTT_URL names an external one', () => {
    expect(loadConfig({})).toMatchObject({ mqttUrl: null, mqttUsername: 'loanet_server', mqttPassword: undefined, brokerHookSecret: undefined });
    const c = loadConfig({
      LOANET_MQTT_URL: 'mqtt://127.0.0.1:1884',
      LOANET_MQTT_USERNAME: 'Loanet',
      LOANET_MQTT_PASSWORD: 'long-enough-pw',
      LOANET_BROKER_HOOK_SECRET: 'sixteen-chars-ok',
    });
    expect(c).toMatchObject({ mqttUrl: 'mqtt://127.0.0.1:1884', mqttUsername: 'Loanet', mqttPassword: 'long-enough-pw', brokerHookSecret: 'sixteen-chars-ok' });
    expect(c.mqttServerUsers).toEqual(['Loanet']);
  });
  it('keeps shared files (media, releases, reports, the Web Push key) in the data folder unless LOANET_SHARED_DIR names another', () => {
    expect(loadConfig({ LOANET_DATA_DIR: '/srv/loanet' })).toMatchObject({ dataDir: '/srv/loanet', sharedDir: '/srv/loanet', releaseKeysDir: '/srv/loanet/release-keys' });
    expect(loadConfig({ LOANET_DATA_DIR: '/srv/loanet', LOANET_SHARED_DIR: '/mnt/loanet' })).toMatchObject({
      dataDir: '/srv/loanet',
      sharedDir: '/mnt/loanet',
      releaseKeysDir: '/mnt/loanet/release-keys',
    });
  });
  it('several servers on one broker: each under its own user, every one listed in LOANET_MQTT_SERVER_USERS', () => {
    const env = { LOANET_MQTT_URL: 'mqtt://127.0.0.1:1884', LOANET_MQTT_PASSWORD: 'long-enough-pw', LOANET_MQTT_SERVER_USERS: ' loanet_a, loanet_b ,loanet_a' };
    expect(loadConfig({ ...env, LOANET_MQTT_USERNAME: 'loanet_b' }).mqttServerUsers).toEqual(['loanet_a', 'loanet_b']);
    expect(() => loadConfig({ ...env, LOANET_MQTT_USERNAME: 'loanet_c' })).toThrow(/LOANET_MQTT_SERVER_USERS does not name this server's LOANET_MQTT_USERNAME="loanet_c"/);
    // A site id is never a server user: it would get the server's rights on the broker.
    expect(() => loadConfig({ ...env, LOANET_MQTT_USERNAME: 'loanet_a', LOANET_MQTT_SERVER_USERS: 'loanet_a,cl-02683-01' })).toThrow(
      /LOANET_MQTT_SERVER_USERS names "cl-02683-01", which is not a valid server user/,
    );
  });
  it('refuses invalid values naming the variable to change', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ LOANET_HTTP_PORT: '80a' }, /^LOANET_HTTP_PORT="80a" is not a whole number; set LOANET_HTTP_PORT/],
      [{ LOANET_MQTT_PORT: '-1' }, /^LOANET_MQTT_PORT=-1 is out of range; set LOANET_MQTT_PORT/],
      [{ LOANET_HEARTBEAT_S: '0' }, /LOANET_HEARTBEAT_S/],
      [{ LOANET_ADMIN_PASSWORD: 'short' }, /^LOANET_ADMIN_PASSWORD must be at least 10 characters; set another LOANET_ADMIN_PASSWORD/],
      [{ LOANET_ADMIN_PASSWORD: 'admin12345' }, /^LOANET_ADMIN_PASSWORD must not be the username or little more/],
      [{ LOANET_ADMIN_PASSWORD: 'qwertyuiop' }, /^LOANET_ADMIN_PASSWORD is one of the most common passwords/],
      [{ LOANET_PASSWORD_MIN_LENGTH: '6' }, /^LOANET_PASSWORD_MIN_LENGTH=6 is out of range/],
      [{ LOANET_API_TOKEN_DAYS: '400' }, /^LOANET_API_TOKEN_DAYS=400 is more than LOANET_API_TOKEN_MAX_DAYS=365/],
      [{ LOANET_TRUST_PROXY: '127.0.0.1, proxy.example' }, /^LOANET_TRUST_PROXY="127.0.0.1, proxy.example": "proxy.example" is not an address/],
      [{ LOANET_TRUST_PROXY: '10.0.0.0/33' }, /LOANET_TRUST_PROXY/],
      [{ LOANET_LOGIN_FAILURES_USER_ADDRESS: '0' }, /^LOANET_LOGIN_FAILURES_USER_ADDRESS=0 is out of range/],
      [{ LOANET_LOG_LEVEL: 'loud' }, /LOANET_LOG_LEVEL="loud" is not valid; set LOANET_LOG_LEVEL to one of/],
      [{ LOANET_AREA_VERSION: 'Năm 2025' }, /LOANET_AREA_VERSION/],
      [{ LOANET_SOUND_CHECK_QUIET_HOURS: '25-3' }, /LOANET_SOUND_CHECK_QUIET_HOURS="25-3"/],
      [
        { LOANET_MQTT_URL: 'http://broker:1883', LOANET_MQTT_PASSWORD: 'long-enough-pw' },
        /^LOANET_MQTT_URL="http:\/\/broker:1883" is not valid; set LOANET_MQTT_URL to mqtt:\/\/host:port/,
      ],
      [{ LOANET_MQTT_URL: 'mqtt://user:pw@broker:1883', LOANET_MQTT_PASSWORD: 'long-enough-pw' }, /credentials go in LOANET_MQTT_USERNAME and LOANET_MQTT_PASSWORD/],
      [{ LOANET_MQTT_URL: 'mqtt://broker:1883' }, /LOANET_MQTT_URL is set but LOANET_MQTT_PASSWORD is not/],
      [{ LOANET_MQTT_PASSWORD: 'short' }, /LOANET_MQTT_PASSWORD is shorter than 12 characters/],
      [{ LOANET_MQTT_USERNAME: 'server-1' }, /LOANET_MQTT_USERNAME="server-1" is not valid.*can never be a site id/],
      [{ LOANET_MQTT_USERNAME: 'a:b' }, /LOANET_MQTT_USERNAME="a:b" is not valid/],
      [{ LOANET_BROKER_HOOK_SECRET: 'short' }, /LOANET_BROKER_HOOK_SECRET is shorter than 16 characters/],
    ];
    for (const [env, msg] of cases) expect(() => loadConfig(env), JSON.stringify(env)).toThrow(msg);
  });
});
