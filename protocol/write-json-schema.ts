/** `npm run schemas`: write protocol/json-schema/*.json from the TypeBox schemas. */
import fs from 'node:fs';
import path from 'node:path';
import { SCHEMA_DOCUMENTS, schemaDocument } from './json-schema.ts';

const dir = path.join(import.meta.dirname, 'json-schema');
fs.mkdirSync(dir, { recursive: true });
for (const name of Object.keys(SCHEMA_DOCUMENTS)) {
  fs.writeFileSync(path.join(dir, name), schemaDocument(name));
  console.log(`wrote protocol/json-schema/${name}`);
}
