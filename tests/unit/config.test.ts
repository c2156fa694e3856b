import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';

describe('server configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ httpPort: 8080, mqttPort: 1883, dataDir: './data', heartbeatIntervalS: 30, soundMaxAgeH: 168, areaVersion: '2025', adminPassword: undefined });
  });
  it('reads every LOANET_* value it is given', () => {
    const c = loadConfig({ LOANET_HTTP_PORT: '9000', LOANET_MQTT_PORT: '0', LOANET_DATA_DIR: '/var/lib/loanet', LOANET_ADMIN_PASSWORD: 'long-enough', LOANET_SOUND_CHECK_QUIET_HOURS: '21-6', LOANET_AREA_VERSION: '2020' });
    expect(c).toMatchObject({ httpPort: 9000, mqttPort: 0, dataDir: '/var/lib/loanet', adminPassword: 'long-enough', soundCheckQuietHours: { startHour: 21, endHour: 6 }, areaVersion: '2020' });
  });
  it('refuses invalid values naming the variable to change', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ LOANET_HTTP_PORT: '80a' }, /^LOANET_HTTP_PORT="80a" is not a whole number; set LOANET_HTTP_PORT/],
      [{ LOANET_MQTT_PORT: '-1' }, /^LOANET_MQTT_PORT=-1 is out of range; set LOANET_MQTT_PORT/],
      [{ LOANET_HEARTBEAT_S: '0' }, /LOANET_HEARTBEAT_S/],
      [{ LOANET_ADMIN_PASSWORD: 'short' }, /LOANET_ADMIN_PASSWORD is shorter than 8 characters/],
      [{ LOANET_LOG_LEVEL: 'loud' }, /LOANET_LOG_LEVEL="loud" is not valid; set LOANET_LOG_LEVEL to one of/],
      [{ LOANET_AREA_VERSION: 'Năm 2025' }, /LOANET_AREA_VERSION/],
      [{ LOANET_SOUND_CHECK_QUIET_HOURS: '25-3' }, /LOANET_SOUND_CHECK_QUIET_HOURS="25-3"/],
    ];
    for (const [env, msg] of cases) expect(() => loadConfig(env), JSON.stringify(env)).toThrow(msg);
  });
});
