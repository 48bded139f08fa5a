/** src/protocol/issues.ts: zod errors as the text of ERROR frames, HTTP 400s and client errors. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatIssue, issuesLine, schemaError } from '../../src/protocol/issues.js';
import { schemaError as codecSchemaError } from '../../src/protocol/codec.js';

const schema = z.strictObject({ a: z.object({ b: z.number() }), c: z.string(), d: z.boolean(), e: z.number() });
const errorOf = (value: unknown, s: z.ZodType = schema): z.ZodError => {
  const parsed = s.safeParse(value);
  if (parsed.success) throw new Error('expected a failure');
  return parsed.error;
};

describe('formatIssue', () => {
  it('writes `path: message` with dotted paths; a root issue is named by the subject, or is its message alone', () => {
    const [nested] = errorOf({ a: { b: 'x' }, c: 'c', d: true, e: 1 }).issues;
    expect(formatIssue(nested!)).toBe(`a.b: ${nested!.message}`);
    expect(formatIssue(nested!, 'frame')).toBe(`a.b: ${nested!.message}`);
    const [root] = errorOf(42).issues;
    expect(formatIssue(root!)).toBe(root!.message);
    expect(formatIssue(root!, 'query')).toBe(`query: ${root!.message}`);
  });
});

describe('schemaError', () => {
  it('names the first issue only, with the subject for a root issue, cut at 200 characters', () => {
    const error = errorOf({ a: { b: 'x' }, c: 1, d: 'no', e: 'no' });
    expect(schemaError(error)).toBe(`a.b: ${error.issues[0]!.message}`);
    expect(schemaError(errorOf(42))).toMatch(/^frame: /);
    expect(schemaError(errorOf(42), 'query')).toMatch(/^query: /);
    const long = errorOf('x', z.string().refine(() => false, 'm'.repeat(500)));
    expect(schemaError(long)).toHaveLength(200);
    expect(schemaError(new z.ZodError([]), 'query')).toBe('query does not match the schema');
  });

  it('is the function codec.ts exports', () => {
    expect(codecSchemaError).toBe(schemaError);
  });
});

describe('issuesLine', () => {
  it('joins the first three issues with "; " (or `max`), root issues without a subject', () => {
    const error = errorOf({ a: { b: 'x' }, c: 1, d: 'no', e: 'no' });
    expect(error.issues.length).toBeGreaterThan(3);
    const all = error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(issuesLine(error)).toBe(all.slice(0, 3).join('; '));
    expect(issuesLine(error, 1)).toBe(all[0]);
    expect(issuesLine(errorOf(42))).toBe(errorOf(42).issues[0]!.message);
  });
});
