/**
 * How the update pages word what the wire carries: a site's update state and
 * failure reason (protocol/update.ts), a rollout's and a site's status, why a
 * site is left out or held back (api/rollouts.ts), a component, a size. Every
 * code has its key in strings/updates.ts; one the console does not know yet
 * (a newer server) reads as a plain dash, never as its code.
 */
import { formatNumber, keyOf, t } from './i18n.ts';
import type { ReleaseView } from '../../api/index.ts';

export function wordCode(prefix: 'updState_' | 'updReason_' | 'rolloutStatus_' | 'rolloutSite_' | 'rolloutExcl_' | 'rolloutHeld_' | 'updComponent_', code: string | null): string {
  if (code === null) return '—';
  const k = keyOf(prefix, code);
  return k ? t(k) : '—';
}

/** A size in KB or MB as the user's language writes numbers. */
export function formatBytes(n: number): string {
  if (n < 1024 * 1024) return formatNumber(n / 1024, n < 10 * 1024 ? 1 : 0, 'KB');
  return formatNumber(n / (1024 * 1024), 1, 'MB');
}

/** What a release is made for, in words: every site, or its board, hardware and profiles. */
export function targetText(target: ReleaseView['target']): string {
  const parts: string[] = [];
  if (target.arch) parts.push(t('updTargetArch', { arch: target.arch }));
  if (target.hardware) parts.push(t('updTargetHardware', { hardware: target.hardware }));
  if (target.profiles?.length) parts.push(t('updTargetProfiles', { profiles: target.profiles.join(', ') }));
  return parts.length ? parts.join(', ') : t('updTargetAny');
}
