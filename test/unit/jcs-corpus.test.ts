/**
 * The shared JCS corpus (test/fixtures/jcs-corpus.json): the gateway's canonicaliser
 * (src/protocol/canonical.ts) gives the expected bytes for every case. The Python client's test
 * (clients/python/tests/test_jcs_corpus.py) reads the same file, so both produce identical bytes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalize, signedBytes, signedText } from '../../src/protocol/canonical.js';

interface CorpusCase {
  name: string;
  input: string;
  signed?: boolean;
  expected: string;
}

const corpus = JSON.parse(readFileSync(new URL('../fixtures/jcs-corpus.json', import.meta.url), 'utf8')) as { cases: CorpusCase[] };

describe('JCS corpus shared with the Python client', () => {
  it('has the worked example and enough generated cases', () => {
    expect(corpus.cases.length).toBeGreaterThanOrEqual(60);
    expect(corpus.cases.some((c) => c.signed === true && c.name.includes('worked example'))).toBe(true);
  });

  it.each(corpus.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const value = JSON.parse(c.input) as unknown;
    if (c.signed === true) {
      const frame = value as Record<string, unknown>;
      expect(signedText(frame)).toBe(c.expected);
      expect(Buffer.from(signedBytes(frame))).toEqual(Buffer.from(c.expected, 'utf8'));
    } else {
      expect(canonicalize(value)).toBe(c.expected);
    }
  });
});
