import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { SCHEMA_DOCUMENTS, schemaDocument } from '../../protocol/json-schema.ts';

const dir = path.resolve(import.meta.dirname, '../../protocol/json-schema');

describe('published JSON Schema of the wire contract', () => {
  it('matches the code (run `npm run schemas` after changing protocol/)', () => {
    for (const name of Object.keys(SCHEMA_DOCUMENTS)) {
      expect(fs.readFileSync(path.join(dir, name), 'utf8'), name).toBe(schemaDocument(name));
    }
  });
  it('is valid JSON Schema that a plain validator accepts a real heartbeat with, and refuses a broken one', () => {
    const ajv = new Ajv({ strict: false });
    const doc = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
    delete doc.$schema; // ajv's default meta-schema is draft-07; the keywords used are common to both
    const validate = ajv.compile(doc);
    expect(validate({ v: 1, siteId: 'sim-02683-v01', state: 'online', at: 1 })).toBe(true);
    expect(validate({ v: 1, siteId: 'sim-02683-v01', state: 'maybe', at: 1 })).toBe(false);
  });
});
