/** `npx tsx server/reports/source-system/write-schema.ts`: write docs/source-system-v1.schema.json from the TypeBox schema (a unit test keeps the two equal). */
import fs from 'node:fs';
import path from 'node:path';
import { SourceSystemDocument } from './schema.ts';

const out = path.join(import.meta.dirname, '../../../docs/source-system-v1.schema.json');
fs.writeFileSync(out, `${JSON.stringify(SourceSystemDocument, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
