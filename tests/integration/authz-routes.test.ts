/**
 * Authorization of EVERY API route, enumerated from Fastify at test time (so
 * a route someone adds later without a rule here fails this test): the
 * explicit table below says which roles may call each route and whether it is
 * scoped to the user's area. For each route:
 *  - no token, a forged token, a cookie session without its CSRF token
 *    (unsafe methods), and a site's own credential (except where sites may
 *    call) are refused (401/403);
 *  - every role NOT in the route's list is refused with 403, with a request
 *    that is otherwise valid (so the refusal is the role's, not a 400);
 *  - for area-scoped routes, a user whose role is allowed but who is scoped to
 *    another commune is refused on a target in this commune: 403 for a
 *    target named in the request, 404 for a thing it may not even see
 *    (`scoped: 'hidden'`: reads and changes of one user, area, site, command,
 *    alert or CAP sender outside its area), also on the extra samples of
 *    `alsoScoped` (network-wide changes by a scoped admin);
 *  - for lists, what lies in this commune never appears in the answer to a
 *    user of another commune (`hides`);
 *  - for reads, an allowed user inside the area is NOT refused (the rule is
 *    not vacuous).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { WebSocket } from 'ws';
import { importLaoCai2025, startTestServer, type TestServer } from '../helpers/server.ts';
import { registeredRoutes } from '../helpers/routes.ts';
import { ROLES, type Role } from '../../server/auth/users.ts';

/** Commune A holds every target; users "…-b" are scoped to commune B. */
const COMMUNE_A = '02683'; // Xã Bát Xát
const COMMUNE_B = '02671'; // Phường Cam Đường

interface Fixture {
  siteA: string;
  commandA: string;
  /** A ready media item (text to speech), for schedule and live samples. */
  mediaId: string;
  /** A live stream (of that item) in commune A, possibly ended by now. */
  streamA: number;
  /** A draft broadcast item and a test alert, both targeting commune A. */
  itemA: string;
  alertA: string;
  /** A viewer scoped to commune A, and a CAP sender registered for commune A. */
  userA: number;
  senderA: number;
  now: number;
}

interface Sample {
  url: string;
  body?: unknown;
  contentType?: string;
  /** An endless answer (SSE): read over a socket for its status, since inject waits for an end. */
  endless?: boolean;
}

interface Rule {
  /** Who may call it: roles, or public (no token; the route guards itself or is harmless). */
  roles: readonly Role[] | 'public';
  /** The sample request targets commune A; a user of an allowed role scoped to commune B must be refused: 403, or 404 when it may not see the target ('hidden'). */
  scoped?: boolean | 'hidden';
  /** More requests (method and sample) a user of an allowed role scoped to commune B must be refused (403 or 404): network-wide changes. */
  alsoScoped?: (fx: Fixture) => Array<[string, Sample]>;
  /** A list: this text (something of commune A or network-wide) must not appear in the answer to a user of commune B. */
  hides?: (fx: Fixture) => string;
  sample: (fx: Fixture) => Sample;
  /** A WebSocket route: refused before or at the upgrade. */
  websocket?: boolean;
  /** A site may call it with its own credential (HTTP Basic siteId:secret); every other route refuses sites. */
  siteAccess?: boolean;
}

const EVERYONE = ROLES;
const ADMIN: Role[] = ['admin'];
const COMMANDERS: Role[] = ['admin', 'operator', 'technician'];
/** A notification rule's body (server/notifications/routes.ts). */
const notificationRule = (area: string | null) => ({
  area,
  minSeverity: 'major',
  kinds: null,
  delayS: 60,
  escalateAfterS: 1800,
  steps: [{ roles: ['technician'], userIds: [] }],
  enabled: true,
});
const MEDIA_WRITERS: Role[] = ['admin', 'operator'];
const SCHEDULERS: Role[] = ['admin', 'operator'];
const ALERTERS: Role[] = ['admin', 'emergency'];
const BROADCASTERS: Role[] = ['admin', 'operator'];
/** A rollout request targeting commune A. */
const ROLLOUT_SAMPLE = { releaseId: 'agent-9-9-9-arm64', targets: { areas: [COMMUNE_A] }, waves: [{ name: 'all', percent: 100 }] };

const inAnHour = (fx: Fixture) => fx.now + 3_600_000;

/** The table: "METHOD /path" as Fastify registers it → who may call it. */
const TABLE: Record<string, Rule> = {
  'GET /api/health': { roles: 'public', sample: () => ({ url: '/api/health' }) },
  'POST /api/auth/login': { roles: 'public', sample: () => ({ url: '/api/auth/login', body: { username: 'nobody', password: 'x' } }) },
  'POST /api/auth/logout': { roles: EVERYONE, sample: () => ({ url: '/api/auth/logout' }) },
  'GET /api/auth/me': { roles: EVERYONE, sample: () => ({ url: '/api/auth/me' }) },
  'GET /api/auth/tokens': { roles: EVERYONE, sample: () => ({ url: '/api/auth/tokens' }) },
  'POST /api/auth/tokens': { roles: EVERYONE, sample: () => ({ url: '/api/auth/tokens', body: { name: 'x' } }) },
  'DELETE /api/auth/tokens/:id': { roles: EVERYONE, sample: () => ({ url: '/api/auth/tokens/999999' }) },
  'POST /api/auth/password': { roles: EVERYONE, sample: () => ({ url: '/api/auth/password', body: { currentPassword: 'wrong-password', newPassword: 'another-password' } }) },
  'GET /api/audit': { roles: ADMIN, hides: (fx) => fx.siteA, sample: () => ({ url: '/api/audit' }) },
  'GET /api/users': { roles: ADMIN, hides: () => '"viewer-a"', sample: () => ({ url: '/api/users' }) },
  'POST /api/users': {
    roles: ADMIN,
    scoped: true,
    sample: () => ({ url: '/api/users', body: { username: 'mallory', password: 'password-123', role: 'admin', area: COMMUNE_A } }),
    alsoScoped: () => [['POST', { url: '/api/users', body: { username: 'mallory2', password: 'password-123', role: 'admin' } }]],
  },
  // User 1 is the bootstrap admin: setting its role to admin changes nothing when an allowed caller gets through.
  'PATCH /api/users/:id': {
    roles: ADMIN,
    scoped: 'hidden',
    sample: () => ({ url: '/api/users/1', body: { role: 'admin' } }),
    alsoScoped: (fx) => [['PATCH', { url: `/api/users/${fx.userA}`, body: { disabled: true } }]],
  },

  'POST /api/users/:id/unlock': { roles: ADMIN, scoped: 'hidden', sample: (fx) => ({ url: `/api/users/${fx.userA}/unlock` }) },

  'GET /api/areas': { roles: EVERYONE, hides: () => `"2025.${COMMUNE_A}"`, sample: () => ({ url: '/api/areas' }) },
  'POST /api/areas': {
    roles: ADMIN,
    scoped: true,
    sample: () => ({ url: '/api/areas', body: { code: `${COMMUNE_A}-77`, name: 'Thôn 77', level: 'village', parent: COMMUNE_A } }),
    alsoScoped: () => [['POST', { url: '/api/areas', body: { code: '99', name: 'Tỉnh mới', level: 'province' } }]],
  },
  'POST /api/areas/import': {
    roles: ADMIN,
    scoped: true,
    sample: () => ({ url: '/api/areas/import?version=2025', body: 'code,name,level,parent_code\n', contentType: 'text/csv' }),
  },
  'GET /api/areas/:key': { roles: EVERYONE, scoped: 'hidden', sample: () => ({ url: `/api/areas/${COMMUNE_A}` }) },
  'PATCH /api/areas/:key': { roles: ADMIN, scoped: 'hidden', sample: () => ({ url: `/api/areas/${COMMUNE_A}`, body: { name: 'Xã Bát Xát' } }) },
  'DELETE /api/areas/:key': { roles: ADMIN, scoped: 'hidden', sample: () => ({ url: `/api/areas/${COMMUNE_A}` }) },
  'GET /api/areas/:key/languages': { roles: EVERYONE, scoped: 'hidden', sample: () => ({ url: `/api/areas/${COMMUNE_A}/languages` }) },
  'PUT /api/areas/:key/languages': { roles: ADMIN, scoped: 'hidden', sample: () => ({ url: `/api/areas/${COMMUNE_A}/languages`, body: { languages: ['hmn', 'vi'] } }) },
  'DELETE /api/areas/:key/languages': { roles: ADMIN, scoped: 'hidden', sample: () => ({ url: `/api/areas/${COMMUNE_A}/languages` }) },

  'GET /api/sites': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/sites?area=${COMMUNE_A}` }) },
  'POST /api/sites': { roles: ADMIN, scoped: true, sample: () => ({ url: '/api/sites', body: { name: 'Cụm loa mới', kind: 'cluster', area: COMMUNE_A } }) },
  'GET /api/sites/:id': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}` }) },
  'PATCH /api/sites/:id': { roles: ADMIN, scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}`, body: { name: 'Đài xã Bát Xát' } }) },
  'DELETE /api/sites/:id': { roles: ADMIN, scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}` }) },
  'POST /api/sites/:id/credential': { roles: ADMIN, scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}/credential` }) },
  'GET /api/sites/:id/enrolment': { roles: ['admin', 'technician'], scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}/enrolment` }) },
  'POST /api/sites/:id/enrolment': { roles: ['admin', 'technician'], scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}/enrolment` }) },
  'POST /api/enrol': { roles: 'public', sample: () => ({ url: '/api/enrol', body: { code: 'AAAA-AAAA' } }) },
  'POST /api/sites/:id/commands': { roles: COMMANDERS, scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}/commands`, body: { type: 'test_tone' } }) },
  'GET /api/sites/:id/commands': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}/commands` }) },
  'GET /api/sites/:id/events': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}/events` }) },
  'GET /api/sites/:id/uptime': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/sites/${fx.siteA}/uptime` }) },
  'GET /api/sites/:id/playlist': { roles: EVERYONE, scoped: true, sample: (fx) => ({ url: `/api/sites/${fx.siteA}/playlist` }) },
  'GET /api/commands/:id': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/commands/${fx.commandA}` }) },

  'GET /api/coverage': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/coverage?area=${COMMUNE_A}` }) },
  'GET /api/coverage/history': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/coverage/history?area=${COMMUNE_A}` }) },
  'GET /api/fleet/messages': { roles: EVERYONE, sample: () => ({ url: '/api/fleet/messages' }) },
  'GET /api/fleet/versions': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/fleet/versions?area=${COMMUNE_A}` }) },
  // Rollouts: changes by technicians and admins, inside their area (the release named need not exist: the scope and role are checked first).
  'GET /api/alarms': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/alarms?area=${COMMUNE_A}` }) },
  'GET /api/alarms/summary': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/alarms/summary?area=${COMMUNE_A}` }) },
  'GET /api/alarms/:id': { roles: EVERYONE, sample: () => ({ url: '/api/alarms/al-999999' }) },
  'POST /api/alarms/:id/acknowledge': { roles: COMMANDERS, sample: () => ({ url: '/api/alarms/al-999999/acknowledge', body: {} }) },
  'POST /api/alarms/:id/clear': { roles: COMMANDERS, sample: () => ({ url: '/api/alarms/al-999999/clear', body: { note: 'đã thay dây loa' } }) },
  'POST /api/alarms/:id/comments': { roles: COMMANDERS, sample: () => ({ url: '/api/alarms/al-999999/comments', body: { note: 'ghi chú' } }) },
  // The maintenance log (server/maintenance): read by everyone in the area, changed by whoever may act on sites.
  'GET /api/work-orders': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/work-orders?area=${COMMUNE_A}` }) },
  'POST /api/work-orders': { roles: COMMANDERS, scoped: 'hidden', sample: (fx) => ({ url: '/api/work-orders', body: { siteId: fx.siteA, notes: 'bảo dưỡng định kỳ' } }) },
  'GET /api/work-orders/:id': { roles: EVERYONE, sample: () => ({ url: '/api/work-orders/999999' }) },
  'GET /api/work-orders/:id/assignees': { roles: COMMANDERS, sample: () => ({ url: '/api/work-orders/999999/assignees' }) },
  'POST /api/work-orders/:id/assign': { roles: COMMANDERS, sample: () => ({ url: '/api/work-orders/999999/assign', body: { userId: 1 } }) },
  'POST /api/work-orders/:id/visit': { roles: COMMANDERS, sample: () => ({ url: '/api/work-orders/999999/visit', body: { on: 1_800_000_000_000 } }) },
  'POST /api/work-orders/:id/record': { roles: COMMANDERS, sample: () => ({ url: '/api/work-orders/999999/record', body: { notes: 'ghi chú' } }) },
  'POST /api/work-orders/:id/resolve': { roles: COMMANDERS, sample: () => ({ url: '/api/work-orders/999999/resolve', body: { resolution: 'đã thay cầu chì' } }) },
  'POST /api/work-orders/:id/cancel': { roles: COMMANDERS, sample: () => ({ url: '/api/work-orders/999999/cancel', body: { note: 'trùng' } }) },
  'POST /api/work-orders/:id/sound-check': { roles: COMMANDERS, sample: () => ({ url: '/api/work-orders/999999/sound-check', body: {} }) },
  'GET /api/maintenance/repair-times': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/maintenance/repair-times?area=${COMMUNE_A}&from=0&to=1` }) },
  'GET /api/rollouts': { roles: EVERYONE, sample: () => ({ url: '/api/rollouts' }) },
  'GET /api/rollouts/:id': { roles: EVERYONE, sample: () => ({ url: '/api/rollouts/ro-none' }) },
  'POST /api/rollouts/dry-run': { roles: ['admin', 'technician'], scoped: true, sample: () => ({ url: '/api/rollouts/dry-run', body: ROLLOUT_SAMPLE }) },
  'POST /api/rollouts': { roles: ['admin', 'technician'], scoped: true, sample: () => ({ url: '/api/rollouts', body: ROLLOUT_SAMPLE }) },
  'POST /api/rollouts/:id/pause': { roles: ['admin', 'technician'], sample: () => ({ url: '/api/rollouts/ro-none/pause', body: {} }) },
  'POST /api/rollouts/:id/resume': { roles: ['admin', 'technician'], sample: () => ({ url: '/api/rollouts/ro-none/resume', body: {} }) },
  'POST /api/rollouts/:id/abort': { roles: ['admin', 'technician'], sample: () => ({ url: '/api/rollouts/ro-none/abort', body: {} }) },
  'GET /api/stream': { roles: EVERYONE, sample: () => ({ url: '/api/stream', endless: true }) },
  // Who is told (server/notifications): rules by admins inside their area; everyone's own bell and push subscriptions.
  'GET /api/notification-rules': { roles: ADMIN, sample: () => ({ url: '/api/notification-rules' }) },
  'POST /api/notification-rules': {
    roles: ADMIN,
    scoped: true,
    sample: () => ({ url: '/api/notification-rules', body: notificationRule(COMMUNE_A) }),
    alsoScoped: () => [['POST', { url: '/api/notification-rules', body: notificationRule(null) }]],
  },
  'PUT /api/notification-rules/:id': { roles: ADMIN, sample: () => ({ url: '/api/notification-rules/999999', body: notificationRule(COMMUNE_A) }) },
  'DELETE /api/notification-rules/:id': { roles: ADMIN, sample: () => ({ url: '/api/notification-rules/999999' }) },
  'GET /api/notifications': { roles: EVERYONE, sample: () => ({ url: '/api/notifications' }) },
  'POST /api/notifications/read': { roles: EVERYONE, sample: () => ({ url: '/api/notifications/read', body: {} }) },
  'GET /api/notifications/alarm/:alarmId': { roles: EVERYONE, sample: () => ({ url: '/api/notifications/alarm/al-999999' }) },
  'GET /api/notifications/sw.js': { roles: 'public', sample: () => ({ url: '/api/notifications/sw.js' }) },
  'GET /api/notifications/push/key': { roles: EVERYONE, sample: () => ({ url: '/api/notifications/push/key' }) },
  'POST /api/notifications/push/subscriptions': {
    roles: EVERYONE,
    sample: () => ({
      url: '/api/notifications/push/subscriptions',
      body: { endpoint: 'https://push.example.net/x', keys: { p256dh: `B${'A'.repeat(86)}`, auth: 'A'.repeat(22) } },
    }),
  },
  'DELETE /api/notifications/push/subscriptions': {
    roles: EVERYONE,
    sample: () => ({ url: '/api/notifications/push/subscriptions', body: { endpoint: 'https://push.example.net/x' } }),
  },

  'GET /api/broker/mosquitto/passwd': { roles: ADMIN, sample: () => ({ url: '/api/broker/mosquitto/passwd' }) },
  'GET /api/broker/mosquitto/acl': { roles: ADMIN, sample: () => ({ url: '/api/broker/mosquitto/acl' }) },
  // The broker's hooks: no user token, a shared secret instead (checked in tests/integration/broker-hooks.test.ts).
  'POST /api/broker/emqx/authn': { roles: 'public', sample: () => ({ url: '/api/broker/emqx/authn', body: { clientid: 'x', username: 'x', password: 'x' } }) },
  'POST /api/broker/emqx/authz': { roles: 'public', sample: () => ({ url: '/api/broker/emqx/authz', body: { clientid: 'x', username: 'x', topic: 'x', action: 'publish' } }) },

  'GET /api/media': { roles: EVERYONE, sample: () => ({ url: '/api/media' }) },
  'POST /api/media': { roles: MEDIA_WRITERS, sample: () => ({ url: '/api/media', body: {} }) },
  'GET /api/media/languages': { roles: EVERYONE, sample: () => ({ url: '/api/media/languages' }) },
  'GET /api/media/tts/voices': { roles: EVERYONE, sample: () => ({ url: '/api/media/tts/voices' }) },
  'POST /api/media/tts': { roles: MEDIA_WRITERS, sample: () => ({ url: '/api/media/tts', body: { title: 'Thử', text: 'Thông báo thử' } }) },
  'POST /api/media/tts/docx': { roles: MEDIA_WRITERS, sample: () => ({ url: '/api/media/tts/docx', body: {} }) },
  'GET /api/media/:id': { roles: EVERYONE, sample: (fx) => ({ url: `/api/media/${fx.mediaId}` }) },
  'PATCH /api/media/:id': { roles: MEDIA_WRITERS, sample: (fx) => ({ url: `/api/media/${fx.mediaId}`, body: { title: 'x' } }) },
  'DELETE /api/media/:id': { roles: MEDIA_WRITERS, sample: (fx) => ({ url: `/api/media/${fx.mediaId}` }) },
  'GET /api/media/:id/audio': { roles: EVERYONE, siteAccess: true, sample: (fx) => ({ url: `/api/media/${fx.mediaId}/audio` }) },
  'GET /api/releases': { roles: EVERYONE, sample: () => ({ url: '/api/releases' }) },
  'GET /api/releases/:id': { roles: EVERYONE, sample: () => ({ url: '/api/releases/agent-9-9-9-arm64' }) },
  'POST /api/releases': { roles: ['admin', 'technician'], sample: () => ({ url: '/api/releases', body: { manifest: 'e30=', signatures: [] } }) },
  'PUT /api/releases/:id/files/:path': {
    roles: ['admin', 'technician'],
    sample: () => ({ url: '/api/releases/agent-9-9-9-arm64/files/a.deb', body: 'x', contentType: 'application/octet-stream' }),
  },
  'POST /api/releases/:id/retire': { roles: ['admin', 'technician'], sample: () => ({ url: '/api/releases/agent-9-9-9-arm64/retire' }) },
  'GET /api/releases/:id/manifest': { roles: EVERYONE, siteAccess: true, sample: () => ({ url: '/api/releases/agent-9-9-9-arm64/manifest' }) },
  'GET /api/releases/:id/signatures': { roles: EVERYONE, siteAccess: true, sample: () => ({ url: '/api/releases/agent-9-9-9-arm64/signatures' }) },
  'GET /api/releases/:id/files/:path': { roles: EVERYONE, siteAccess: true, sample: () => ({ url: '/api/releases/agent-9-9-9-arm64/files/a.deb' }) },

  'GET /api/schedule/items': { roles: EVERYONE, sample: () => ({ url: '/api/schedule/items' }) },
  'POST /api/schedule/items': {
    roles: SCHEDULERS,
    scoped: true,
    sample: (fx) => ({ url: '/api/schedule/items', body: { title: 'Bản tin', mediaId: fx.mediaId, targets: { areas: [COMMUNE_A] }, start: { at: inAnHour(fx) } } }),
  },
  'POST /api/schedule/check': {
    roles: SCHEDULERS,
    scoped: true,
    sample: (fx) => ({ url: '/api/schedule/check', body: { title: 'Bản tin', mediaId: fx.mediaId, targets: { areas: [COMMUNE_A] }, start: { at: inAnHour(fx) } } }),
  },
  // Another commune's item is not even visible (404, so its existence does not leak); covered in tests/integration/schedule.test.ts.
  'GET /api/schedule/items/:id': { roles: EVERYONE, sample: (fx) => ({ url: `/api/schedule/items/${fx.itemA}` }) },
  'PATCH /api/schedule/items/:id': { roles: SCHEDULERS, scoped: true, sample: (fx) => ({ url: `/api/schedule/items/${fx.itemA}`, body: { title: 'x' } }) },
  'POST /api/schedule/items/:id/approve': { roles: SCHEDULERS, scoped: true, sample: (fx) => ({ url: `/api/schedule/items/${fx.itemA}/approve` }) },
  'POST /api/schedule/items/:id/cancel': { roles: SCHEDULERS, scoped: true, sample: (fx) => ({ url: `/api/schedule/items/${fx.itemA}/cancel` }) },
  'GET /api/schedule/calendar': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/schedule/calendar?area=${COMMUNE_A}` }) },
  'GET /api/schedule/distribution': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/schedule/distribution?area=${COMMUNE_A}` }) },
  'GET /api/as-run': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/as-run?area=${COMMUNE_A}` }) },
  'GET /api/as-run/languages': { roles: EVERYONE, scoped: true, sample: (fx) => ({ url: `/api/as-run/languages?item=${fx.itemA}&area=${COMMUNE_A}` }) },
  'GET /api/schedule/languages': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/schedule/languages?area=${COMMUNE_A}` }) },
  'GET /api/reports': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/reports?area=${COMMUNE_A}&period=2026-11` }) },
  'GET /api/reports/kept': { roles: EVERYONE, sample: () => ({ url: '/api/reports/kept' }) },
  'GET /api/reports/kept/:period/:file': { roles: EVERYONE, sample: () => ({ url: '/api/reports/kept/2026-11/bao-cao_02683_2026-11.pdf' }) },
  'GET /api/source-system/v1': { roles: EVERYONE, scoped: true, sample: () => ({ url: `/api/source-system/v1?area=${COMMUNE_A}&period=2026-11` }) },

  'POST /api/alerts': { roles: ALERTERS, scoped: true, sample: () => ({ url: '/api/alerts', body: { areas: [COMMUNE_A], message: { text: 'Thử nghiệm' }, test: true } }) },
  'POST /api/alerts/upload': { roles: ALERTERS, sample: () => ({ url: '/api/alerts/upload', body: {} }) },
  'POST /api/alerts/cap': { roles: ALERTERS, sample: () => ({ url: '/api/alerts/cap', body: '<alert/>', contentType: 'text/plain' }) },
  'GET /api/alerts': { roles: EVERYONE, hides: (fx) => fx.alertA, sample: () => ({ url: '/api/alerts' }) },
  'GET /api/alerts/:id': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/alerts/${fx.alertA}` }) },
  'GET /api/alerts/:id/sites/:siteId': { roles: EVERYONE, scoped: 'hidden', siteAccess: true, sample: (fx) => ({ url: `/api/alerts/${fx.alertA}/sites/${fx.siteA}` }) },
  'POST /api/alerts/:id/cancel': { roles: ALERTERS, scoped: 'hidden', sample: (fx) => ({ url: `/api/alerts/${fx.alertA}/cancel` }) },
  'POST /api/alerts/:id/update': { roles: ALERTERS, scoped: 'hidden', sample: (fx) => ({ url: `/api/alerts/${fx.alertA}/update`, body: { title: 'x' } }) },
  'POST /api/alerts/:id/versions': {
    roles: ALERTERS,
    scoped: 'hidden',
    sample: (fx) => ({ url: `/api/alerts/${fx.alertA}/versions`, body: { versions: [{ language: 'hmn', mediaId: fx.mediaId }] } }),
  },
  'GET /api/alerts/:id/cap-ack': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/alerts/${fx.alertA}/cap-ack` }) },
  'GET /api/alerts/:id/report': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/alerts/${fx.alertA}/report` }) },
  'GET /api/alerts/cap/senders': { roles: ADMIN, hides: () => 'ubnd@batxat.laocai.gov.vn', sample: () => ({ url: '/api/alerts/cap/senders' }) },
  'POST /api/alerts/cap/senders': {
    roles: ADMIN,
    scoped: true,
    sample: () => ({ url: '/api/alerts/cap/senders', body: { sender: 'mallory@batxat', area: COMMUNE_A, accounts: [] } }),
    alsoScoped: () => [['POST', { url: '/api/alerts/cap/senders', body: { sender: 'mallory@tinh', accounts: [] } }]],
  },
  'PATCH /api/alerts/cap/senders/:id': { roles: ADMIN, scoped: 'hidden', sample: (fx) => ({ url: `/api/alerts/cap/senders/${fx.senderA}`, body: { accounts: [] } }) },
  'DELETE /api/alerts/cap/senders/:id': { roles: ADMIN, scoped: 'hidden', sample: (fx) => ({ url: `/api/alerts/cap/senders/${fx.senderA}` }) },

  'POST /api/live/streams': {
    roles: BROADCASTERS,
    scoped: true,
    sample: () => ({ url: '/api/live/streams', body: { source: { kind: 'relay', url: 'http://127.0.0.1:9/stream' }, areas: [COMMUNE_A] } }),
  },
  'GET /api/live/streams': { roles: EVERYONE, sample: () => ({ url: '/api/live/streams' }) },
  'GET /api/live/streams/:id': { roles: EVERYONE, scoped: 'hidden', sample: (fx) => ({ url: `/api/live/streams/${fx.streamA}` }) },
  'POST /api/live/streams/:id/stop': { roles: BROADCASTERS, scoped: true, sample: (fx) => ({ url: `/api/live/streams/${fx.streamA}/stop` }) },
  'GET /api/live/delay': { roles: BROADCASTERS, scoped: true, sample: () => ({ url: `/api/live/delay?areas=${COMMUNE_A}` }) },
  'GET /api/live/voice': { roles: BROADCASTERS, scoped: true, websocket: true, sample: () => ({ url: `/api/live/voice?areas=${COMMUNE_A}` }) },
};

let t: TestServer;
let routes: string[];
const fx: Fixture = { siteA: '', commandA: '', mediaId: '', streamA: 0, itemA: '', alertA: '', userA: 0, senderA: 0, now: Date.now() };
/** tokens[role] = province-wide user of that role; scopedB[role] = same role scoped to commune B. */
const tokens = {} as Record<Role, string>;
const scopedB = {} as Record<Role, string>;
let cookieSession: { cookie: string };
/** HTTP Basic with site A's own id and secret. */
let siteBasic = '';

async function makeUser(username: string, role: Role, area?: string): Promise<string> {
  const password = `password-of-${username}`;
  const r = await t.api('POST', '/api/users', { username, password, role, ...(area ? { area } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return (await t.api('POST', '/api/auth/login', { username, password }, { token: null })).body.token as string;
}

/** One request as the role would send it: through inject (every hook, auth and schema; no socket), or over a socket for an endless answer. */
async function call(method: string, s: Sample, token: string | null, extra: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { ...extra };
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (s.body !== undefined) {
    headers['content-type'] = s.contentType ?? 'application/json';
    body = typeof s.body === 'string' ? s.body : JSON.stringify(s.body);
  } else if (method !== 'GET' && method !== 'DELETE') {
    headers['content-type'] = 'application/json';
    body = '{}';
  }
  if (!s.endless) {
    const res = await t.inject(method, s.url, body, { token: null, headers, ...(headers['content-type'] ? { contentType: headers['content-type'] } : {}) });
    return { status: res.status, body: res.text };
  }
  // A fresh connection each time (no pooled keep-alive socket the server may be closing), ended once the status is known
  // for a stream (SSE never ends), or read whole for a refusal.
  return new Promise((resolve, reject) => {
    const req = http.request(`${t.baseUrl}${s.url}`, { method, headers, agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      if (res.headers['content-type']?.includes('event-stream')) {
        res.destroy();
        return resolve({ status, body: '' });
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Open a WebSocket; resolves with the HTTP status that refused the upgrade, or the close code after it. */
function wsOutcome(url: string, token: string | null): Promise<{ httpStatus?: number; closeCode?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${t.baseUrl.replace('http', 'ws')}${url}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ httpStatus: res.statusCode });
      ws.terminate();
    });
    ws.on('close', (code) => resolve({ closeCode: code }));
    ws.on('error', () => {});
    ws.on('message', () => {});
  });
}

const refused = (status: number) => status === 401 || status === 403;

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  const created = (await t.api('POST', '/api/sites', { name: 'Đài xã Bát Xát', kind: 'station', area: COMMUNE_A })).body as {
    site: { id: string };
    credential: { siteId: string; secret: string };
  };
  fx.siteA = created.site.id;
  siteBasic = `Basic ${Buffer.from(`${created.credential.siteId}:${created.credential.secret}`).toString('base64')}`;
  fx.commandA = (await t.api('POST', `/api/sites/${fx.siteA}/commands`, { type: 'test_tone' })).body.id;
  // The users (a password hash and a login each, two at a time at the server) while the spoken media is made.
  const users = Promise.all(
    ROLES.map(async (role) => {
      tokens[role] = await makeUser(`${role}-all`, role);
      scopedB[role] = await makeUser(`${role}-b`, role, COMMUNE_B);
    }),
  );
  const media = await t.api('POST', '/api/media/tts', { title: 'Bản tin thử', text: 'Thông báo của Ủy ban nhân dân xã.' });
  expect(media.status, JSON.stringify(media.body)).toBe(201);
  fx.mediaId = media.body.id;
  const stream = await t.api('POST', '/api/live/streams', { source: { kind: 'media', mediaId: fx.mediaId }, areas: [COMMUNE_A] });
  expect(stream.status, JSON.stringify(stream.body)).toBeLessThan(300);
  fx.streamA = stream.body.id;
  const item = await t.api('POST', '/api/schedule/items', { title: 'Bản tin xã', mediaId: fx.mediaId, targets: { areas: [COMMUNE_A] }, start: { at: fx.now + 86_400_000 } });
  expect(item.status, JSON.stringify(item.body)).toBe(201);
  fx.itemA = item.body.id;
  const alert = await t.api('POST', '/api/alerts', { areas: [COMMUNE_A], message: { mediaId: fx.mediaId }, test: true });
  expect(alert.status, JSON.stringify(alert.body)).toBe(201);
  fx.alertA = alert.body.id;
  await users;
  await makeUser('viewer-a', 'viewer', COMMUNE_A);
  fx.userA = ((await t.api('GET', '/api/users')).body.users as Array<{ id: number; username: string }>).find((u) => u.username === 'viewer-a')!.id;
  const sender = await t.api('POST', '/api/alerts/cap/senders', { sender: 'ubnd@batxat.laocai.gov.vn', area: COMMUNE_A, accounts: [{ username: 'viewer-a' }] });
  expect(sender.status, JSON.stringify(sender.body)).toBe(201);
  fx.senderA = sender.body.id;
  const login = await fetch(`${t.baseUrl}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'viewer-all', password: 'password-of-viewer-all', cookie: true }),
  });
  cookieSession = { cookie: (login.headers.get('set-cookie') ?? '').split(';')[0]! };
  routes = registeredRoutes(t.server.app.printRoutes({ commonPrefix: false })).filter((r) => r.split(' ')[1]!.startsWith('/api/'));
  // Spoken media, a live stream and 25 password hashes: seconds on a quiet machine, a minute on a loaded one. Bounds a hang only.
}, 180_000);
afterAll(async () => {
  // A live stream still on air keeps the server's stop waiting: end it first.
  if (fx.streamA) await t.api('POST', `/api/live/streams/${fx.streamA}/stop`);
  await t?.stop();
});

describe('every API route has an authorization rule', () => {
  it('the route tree is read (sanity: known routes are found)', () => {
    expect(routes).toContain('GET /api/sites/:id');
    expect(routes).toContain('POST /api/sites/:id/commands');
    expect(routes).toContain('DELETE /api/auth/tokens/:id');
  });

  it('no registered route is missing from the table', () => {
    const missing = routes.filter((r) => !(r in TABLE));
    expect(missing, `add these routes to TABLE in ${import.meta.filename}: who may call them, and whether they are area-scoped`).toEqual([]);
  });
});

describe('refusals, route by route', () => {
  // The routes are known only after beforeAll, so one test walks them all and reports every failure at once.
  it('refuses callers without a token, with a forged one, cookie sessions without the CSRF token, and sites outside their one route', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      const rule = TABLE[route];
      if (!rule || rule.roles === 'public') continue;
      const [method] = route.split(' ') as [string];
      const s = rule.sample(fx);
      if (rule.websocket) {
        const o = await wsOutcome(s.url, null);
        if (o.httpStatus !== 401) failures.push(`${route} without a token: ${JSON.stringify(o)}`);
        continue;
      }
      const none = await call(method, s, null);
      if (none.status !== 401) failures.push(`${route} without a token: ${none.status}`);
      const forged = await call(method, s, 'lnt_forged-token-that-was-never-issued');
      if (forged.status !== 401) failures.push(`${route} with a forged token: ${forged.status}`);
      if (method !== 'GET') {
        const csrf = await call(method, s, null, { cookie: cookieSession.cookie });
        if (csrf.status !== 403) failures.push(`${route} by cookie without CSRF token: ${csrf.status}`);
      }
      if (!rule.siteAccess) {
        const site = await call(method, s, null, { authorization: siteBasic });
        if (!refused(site.status)) failures.push(`${route} with a site's own credential: ${site.status}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('refuses every role not in the table (403), and users of an allowed role outside the area', async () => {
    const failures: string[] = [];
    const checked: string[] = [];
    for (const route of routes) {
      const rule = TABLE[route];
      if (!rule || rule.roles === 'public') continue;
      const allowed = rule.roles;
      const [method] = route.split(' ') as [string];
      const s = rule.sample(fx);
      for (const role of ROLES.filter((r) => !allowed.includes(r))) {
        if (rule.websocket) {
          const o = await wsOutcome(s.url, tokens[role]);
          if (!(o.httpStatus === 403 || o.closeCode === 4403)) failures.push(`${route} as ${role}: ${JSON.stringify(o)}`);
        } else {
          const r = await call(method, s, tokens[role]);
          if (r.status !== 403) failures.push(`${route} as ${role}: ${r.status} ${r.body.slice(0, 160)}`);
        }
        checked.push(`${route} ${role}`);
      }
      if (rule.scoped) {
        const want = rule.scoped === 'hidden' ? 404 : 403;
        for (const role of allowed) {
          if (rule.websocket) {
            const o = await wsOutcome(s.url, scopedB[role]);
            if (!(o.httpStatus === 403 || o.closeCode === 4403)) failures.push(`${route} as ${role} of commune B: ${JSON.stringify(o)}`);
          } else {
            const r = await call(method, s, scopedB[role]);
            if (r.status !== want) failures.push(`${route} as ${role} of commune B: ${r.status} (want ${want}) ${r.body.slice(0, 160)}`);
          }
          checked.push(`${route} ${role}-b`);
        }
      }
      for (const [m, extra] of rule.alsoScoped?.(fx) ?? []) {
        for (const role of allowed) {
          const r = await call(m, extra, scopedB[role]);
          if (r.status !== 403 && r.status !== 404) failures.push(`${route} ${JSON.stringify(extra.body)} as ${role} of commune B: ${r.status} ${r.body.slice(0, 160)}`);
          checked.push(`${route} ${role}-b (more)`);
        }
      }
      if (rule.hides) {
        for (const role of allowed) {
          const r = await call(method, s, scopedB[role]);
          const secret = rule.hides(fx);
          if (r.status !== 200 || r.body.includes(secret)) failures.push(`${route} as ${role} of commune B: ${r.status}, answer shows ${secret}: ${r.body.slice(0, 160)}`);
          checked.push(`${route} ${role}-b (list)`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked.length).toBeGreaterThan(50);
  });

  it('lets an allowed user inside the area read (the refusals above are not vacuous)', async () => {
    const failures: string[] = [];
    for (const route of routes) {
      const rule = TABLE[route];
      if (!rule || rule.roles === 'public' || rule.websocket || !route.startsWith('GET ')) continue;
      const s = rule.sample(fx);
      for (const role of rule.roles) {
        const r = await call('GET', s, tokens[role]);
        if (refused(r.status)) failures.push(`${route} as ${role}: ${r.status} ${r.body.slice(0, 160)}`);
      }
      if (rule.siteAccess) {
        const r = await call('GET', s, null, { authorization: siteBasic });
        if (refused(r.status)) failures.push(`${route} as the site itself: ${r.status} ${r.body.slice(0, 160)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
