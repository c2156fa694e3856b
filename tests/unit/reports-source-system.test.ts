/**
 * The source information system schema is defined once: the JSON Schema in
 * docs/ is the TypeBox schema generated, and the documentation's example is
 * a valid document.
 */
import fs from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { SOURCE_SYSTEM_SCHEMA, SourceSystemDocument } from '../../server/reports/source-system/schema.ts';

const docs = (name: string) => fs.readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

describe('the source information system document, version 1', () => {
  it('docs/source-system-v1.schema.json is the TypeBox schema (regenerate it when the schema changes)', () => {
    expect(JSON.parse(docs('source-system-v1.schema.json'))).toEqual(JSON.parse(JSON.stringify(SourceSystemDocument)));
  });

  it("the documentation's example is a valid document", () => {
    const block = /```json\n([\s\S]*?)\n```/.exec(docs('source-system.md'));
    expect(block).not.toBeNull();
    const example: unknown = JSON.parse(block![1]!);
    const errors = [...Value.Errors(SourceSystemDocument, example)].map((e) => `${e.path} ${e.message}`);
    expect(errors).toEqual([]);
    expect((example as { schema: string }).schema).toBe(SOURCE_SYSTEM_SCHEMA);
  });

  it('refuses a document of another version or with a field it does not define', () => {
    const block = /```json\n([\s\S]*?)\n```/.exec(docs('source-system.md'))!;
    const example = JSON.parse(block[1]!) as Record<string, unknown>;
    expect(Value.Check(SourceSystemDocument, { ...example, schema: 'loanet.source-system/2' })).toBe(false);
    expect(Value.Check(SourceSystemDocument, { ...example, extra: 1 })).toBe(false);
  });
});
