/**
 * server/http/serializer-schema.ts: the serialiser's copy of a schema says a
 * union that only the JSON type decides as a type list, and leaves every other
 * union as declared; what fast-json-stringify writes through the copy is
 * what it wrote through the declared schema.
 */
import { Type } from '@sinclair/typebox';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { describe, expect, it } from 'vitest';
import { Nullable, SiteCondition } from '../../api/common.ts';
import { serializerSchema } from '../../server/http/serializer-schema.ts';

const plain = (s: unknown) => JSON.parse(JSON.stringify(s));
/** fast-json-stringify as Fastify builds it for a route's answer. */
const fjs = (schema: unknown) => SerializerSelector()(undefined, {})({ schema, method: 'GET', url: '/', httpStatus: '200' }) as (v: unknown) => string;

describe('serializerSchema', () => {
  it('a nullable primitive, object or array is its type or null (annotations, which a serialiser never reads, are not kept)', () => {
    expect(plain(serializerSchema(Nullable(Type.String({ description: 'a name' }))))).toEqual({ type: ['string', 'null'] });
    expect(plain(serializerSchema(Nullable(Type.Integer())))).toEqual({ type: ['integer', 'null'] });
    const obj = plain(serializerSchema(Nullable(Type.Object({ a: Type.String() }))));
    expect(obj).toMatchObject({ type: ['object', 'null'], properties: { a: { type: 'string' } }, required: ['a'] });
    expect(plain(serializerSchema(Nullable(Type.Array(Type.Number()))))).toMatchObject({ type: ['array', 'null'], items: { type: 'number' } });
  });

  it("an enumeration of constants is its constants' type, nullable or not, however deep", () => {
    expect(plain(serializerSchema(SiteCondition))).toEqual({ type: 'string' });
    const view = plain(serializerSchema(Type.Object({ c: Nullable(SiteCondition), list: Type.Array(Type.Object({ c: SiteCondition })) })));
    expect(view.properties.c).toEqual({ type: ['string', 'null'] });
    expect(view.properties.list.items.properties.c).toEqual({ type: 'string' });
  });

  it('distinct primitive types are one type list (a reason parameter: string, number or null)', () => {
    expect(plain(serializerSchema(Type.Union([Type.String(), Type.Number(), Type.Null()])))).toEqual({ type: ['string', 'number', 'null'] });
  });

  it('leaves a union the type cannot decide as declared', () => {
    const twoShapes = Type.Union([Type.Object({ kind: Type.Literal('a'), x: Type.String() }), Type.Object({ kind: Type.Literal('b'), y: Type.String() })]);
    expect(plain(serializerSchema(twoShapes)).anyOf).toHaveLength(2);
    const dateOrText = Type.Union([Type.String({ format: 'date-time' }), Type.String()]);
    expect(plain(serializerSchema(dateOrText)).anyOf).toHaveLength(2);
    expect(plain(serializerSchema(Type.Union([Type.Integer(), Type.Number()]))).anyOf).toHaveLength(2);
    expect(plain(serializerSchema(Type.Union([Type.Ref('Other'), Type.Null()]))).anyOf).toHaveLength(2);
    // The shapes inside a union left alone are still rewritten.
    const inner = plain(serializerSchema(Type.Union([Type.Object({ n: Nullable(Type.String()) }), Type.Object({ m: Type.String() })])));
    expect(inner.anyOf[0].properties.n).toEqual({ type: ['string', 'null'] });
  });

  it('does not change the schema it is given', () => {
    const s = Type.Object({ a: Nullable(Type.String()) });
    const before = JSON.stringify(s);
    serializerSchema(s);
    expect(JSON.stringify(s)).toBe(before);
  });

  it('fast-json-stringify writes the same JSON through the copy, and still refuses a value of no declared type', () => {
    const Row = Type.Object({
      id: Type.String(),
      name: Nullable(Type.String()),
      seen: Nullable(Type.Integer()),
      condition: Nullable(SiteCondition),
      where: Nullable(Type.Object({ lat: Type.Number(), lon: Type.Number() })),
      tags: Nullable(Type.Array(Type.String())),
      params: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()])),
    });
    const schema = Type.Object({ rows: Type.Array(Row) });
    const declared = fjs(schema);
    const copy = fjs(serializerSchema(schema));
    const values = {
      rows: [
        {
          id: 'a',
          name: 'Bát Xát',
          seen: 1_800_000_000_000,
          condition: 'operational',
          where: { lat: 22.5, lon: 103.9, extra: 1 },
          tags: ['x'],
          params: { n: 3, s: 'v', z: null },
          secret: 'no',
        },
        { id: 'b', name: null, seen: null, condition: null, where: null, tags: null, params: {} },
      ],
    };
    expect(copy(values)).toBe(declared(values));
    expect(JSON.parse(copy(values)).rows[0]).not.toHaveProperty('secret');
    expect(() => declared({ rows: [{ ...values.rows[1], seen: 'soon' }] })).toThrow();
    expect(() => copy({ rows: [{ ...values.rows[1], seen: 'soon' }] })).toThrow();
  });
});
