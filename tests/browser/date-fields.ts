/** The console's day and time fields (web/src/components/date-entry.tsx), filled as a person types them. */
import type { Page } from 'playwright-core';

/** "YYYY-MM-DDTHH:mm" (Asia/Ho_Chi_Minh) typed into the `${name}Date` (dd/mm/yyyy) and `${name}Time` (HH:mm) fields. */
export async function fillMoment(page: Page, name: string, local: string, scope = ''): Promise<void> {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}:\d{2})$/.exec(local);
  if (!m) throw new Error(`not a local moment: ${local}`);
  const prefix = scope ? `${scope} ` : '';
  await page.fill(`${prefix}input[name=${name}Date]`, `${m[3]}/${m[2]}/${m[1]}`);
  await page.fill(`${prefix}input[name=${name}Time]`, m[4]!);
}
