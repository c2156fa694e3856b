import { t } from '../i18n.ts';
import { reasonWords } from '../site-words.ts';
import type { Reason, SiteCondition } from '../../../api/index.ts';

export function ConditionPill(props: { condition: SiteCondition | null | undefined }) {
  const c = props.condition ?? 'unverified';
  return (
    <span class={`pill ${c}`} data-condition={c}>
      {t(c)}
    </span>
  );
}

export function Reasons(props: { reasons: Reason[] }) {
  if (props.reasons.length === 0) return null;
  return <span>{props.reasons.map(reasonWords).join('; ')}</span>;
}

export function ShareBar(props: { share: number | null }) {
  return (
    <div class="bar" aria-hidden="true">
      <span style={`width:${Math.round((props.share ?? 0) * 100)}%`} />
    </div>
  );
}
