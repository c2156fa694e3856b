/**
 * Accounts: logins, users, API tokens and the audit log over HTTP, and the
 * first admin.
 */
import type { Feature } from '../feature.ts';
import type { AdminBootstrap } from './users.ts';
import { authRoutes, type RouteDeps } from './routes.ts';

export function authFeature(deps: RouteDeps, adminPlan: AdminBootstrap): Feature & { generatedAdminPassword(): string | undefined } {
  let generated: string | undefined;
  return {
    name: 'auth',
    routes: [authRoutes(deps)],
    // Last to start: a start that fails earlier (a port in use) must not leave
    // an admin behind whose generated password nobody saw.
    async start() {
      generated = (await deps.users.applyAdmin(adminPlan)).generatedPassword;
    },
    generatedAdminPassword: () => generated,
  };
}
