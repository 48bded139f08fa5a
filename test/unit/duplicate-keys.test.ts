/**
 * src/protocol/duplicate-keys.ts: repeated object keys in JSON text (issue 13 §5).
 *
 * Fixed cases for the scanner's corners (escapes, unicode, nesting, the switch from slice
 * comparison to a Set), then properties: JSON texts of random models — keys written plainly or
 * with \u escapes, random whitespace — are checked against the model, with and without an injected
 * duplicate, and JSON.stringify output of random values never has one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countTopLevelKey, describeKey, findDuplicateKey, LINEAR_MAX } from '../../src/protocol/duplicate-keys.js';

const dup = (text: string) => {
  JSON.parse(text); // every fixed case is valid JSON
  return findDuplicateKey(text);
};

describe('findDuplicateKey: fixed cases', () => {
  it.each([
    ['{}'],
    ['{"a":1}'],
    ['{"a":1,"b":2,"A":3}'],
    ['{"a":{"a":1}}'], // parent and child may share a key
    ['{"x":{"a":1},"y":{"a":1}}'], // so may siblings
    ['{"a":[{"b":1},{"b":2}],"b":[1,"b",{"a":null}]}'],
    ['{"s":"{\\"a\\":1,\\"a\\":2}","t":"\\"a\\":"}'], // keys only inside a string value
    ['{"a\\\\":1,"a\\\\\\"":2,"a\\"":3}'], // a\ , a\" , a"
    ['{"\\ud83d\\ude00":1,"\\ud83d":2,"\\ude00":3,"\\ude00\\ud83d":4}'],
    ['{"":1," ":2,"\\u0000":3}'],
    ['{"n":[0,-0,1e400,-1.5E-3,true,false,null],"m":{"x":"}"},"o":"{"}'],
    ['[{"a":1},{"a":2}]'],
    ['"{\\"a\\":1,\\"a\\":2}"'],
    ['42'],
    ['null'],
    [' \n\t{ "a" : 1 ,\r\n "b" : [ ] } '],
  ])('finds none in %s', (text) => {
    expect(dup(text)).toBeNull();
  });

  it.each([
    ['{"a":1,"a":2}', 'a', true],
    ['{"a":1,"b":2,"a":3}', 'a', true],
    ['{"a":1,"a":1}', 'a', true], // equal values are still two keys
    ['{"":1,"":2}', '', true],
    ['{"__proto__":{},"__proto__":{}}', '__proto__', true],
    ['{"payload":{"sdp":"x","sdp":"y"}}', 'sdp', false],
    ['{"a":[1,{"b":1,"b":2}]}', 'b', false],
    ['[{"a":1,"a":2}]', 'a', false], // in an object, but not the top-level value
    // Compared after unescaping.
    ['{"a":1,"\\u0061":2}', 'a', true],
    ['{"\\u0061":1,"a":2}', 'a', true],
    ['{"\\u0074ype":"PING","type":"OFFER"}', 'type', true],
    ['{"\\u0054":1,"\\u0074":2,"t":3}', 't', true], // T and t differ; \u0074 and t do not
    ['{"\\u00e9":1,"é":2}', 'é', true],
    ['{"\\u00E9":1,"\\u00e9":2}', 'é', true], // hex digits in either case
    ['{"\\ud83d\\ude00":1,"😀":2}', '😀', true], // a surrogate pair
    ['{"\\uD83D\\uDE00":1,"\\ud83d\\ude00":2}', '😀', true],
    ['{"\\ud800":1,"\\ud800":2}', '\ud800', true], // a lone surrogate
    ['{"\\/":1,"/":2}', '/', true],
    ['{"\\n":1,"\\u000a":2}', '\n', true],
    ['{"a\\"":1,"a\\u0022":2}', 'a"', true],
    ['{"\\\\":1,"\\u005c":2}', '\\', true],
    ['{"x\\\\":1,"x\\\\":2}', 'x\\', true], // a key ending in an escaped backslash
    // Whitespace between key and colon.
    ['{ "a" : 1 , "a"\n:\t2 }', 'a', true],
  ])('finds the duplicate in %s', (text, key, topLevel) => {
    expect(dup(text)).toEqual({ key, topLevel });
  });

  it('reports the first repetition in text order', () => {
    expect(dup('{"a":{"b":1,"b":2},"a":1}')).toEqual({ key: 'b', topLevel: false });
    expect(dup('{"a":1,"a":{"b":1,"b":2}}')).toEqual({ key: 'a', topLevel: true });
  });

  it(`switches from slice comparison to a Set past ${LINEAR_MAX} keys or at an escaped key`, () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `"k${i}":${i}`);
    for (const n of [LINEAR_MAX - 1, LINEAR_MAX, LINEAR_MAX + 1, 3 * LINEAR_MAX]) {
      expect(dup(`{${keys(n).join(',')}}`), `${n} keys`).toBeNull();
      for (const at of [0, n - 1]) {
        expect(dup(`{${[...keys(n), `"k${at}":0`].join(',')}}`), `${n} keys, k${at} again`).toEqual({ key: `k${at}`, topLevel: true });
        // The repetition written with an escape.
        expect(dup(`{${[...keys(n), `"\\u006b${at}":0`].join(',')}}`)).toEqual({ key: `k${at}`, topLevel: true });
      }
    }
    // An escaped key after plain ones, before further plain ones.
    expect(dup('{"a":1,"b":2,"\\u0063":3,"d":4,"b":5}')).toEqual({ key: 'b', topLevel: true });
    expect(dup('{"a":1,"b":2,"\\u0063":3,"d":4,"c":5}')).toEqual({ key: 'c', topLevel: true });
  });

  it('keeps the keys of each open object apart when objects switch to a Set and back', () => {
    const many = Array.from({ length: 2 * LINEAR_MAX }, (_, i) => `"m${i}":{"a":${i}}`).join(',');
    // Parent in slice mode, child in Set mode, parent again.
    expect(dup(`{"a":{${many}},"b":1}`)).toBeNull();
    expect(dup(`{"a":{${many}},"b":1,"a":2}`)).toEqual({ key: 'a', topLevel: true });
    // Parent in Set mode (escaped key), child in slice mode with the parent's keys.
    expect(dup('{"\\u0061":{"a":1,"b":{"a":1}},"b":1,"c":{"b":1}}')).toBeNull();
    expect(dup('{"\\u0061":{"a":1,"b":{"a":1}},"b":1,"c":{"b":1},"a":0}')).toEqual({ key: 'a', topLevel: true });
    // Many objects one after the other, each in Set mode.
    const objects = Array.from({ length: 50 }, () => `{${Array.from({ length: 20 }, (_, i) => `"\\u0078${i}":0`).join(',')}}`);
    expect(dup(`[${objects.join(',')}]`)).toBeNull();
    expect(dup(`[${objects.join(',')},{"x1":0,"\\u00781":1}]`)).toEqual({ key: 'x1', topLevel: false });
  });

  it('compares long keys of equal length exactly (the native comparison)', () => {
    for (const len of [15, 16, 17, 18, 100, 8000]) {
      const base = 'k'.repeat(len - 1);
      const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((c) => `"${base}${c}":0`);
      expect(dup(`{${keys.join(',')}}`), `${len}`).toBeNull();
      expect(dup(`{"${'k'.repeat(len)}":0,"${'k'.repeat(len - 2)}xk":0,"x${'k'.repeat(len - 1)}":0}`), `${len}`).toBeNull();
      expect(dup(`{${keys.join(',')},"${base}d":1}`), `${len}`).toEqual({ key: `${base}d`, topLevel: true });
      // Same text elsewhere in the frame (a value) is not a key.
      expect(dup(`{"${base}a":"${base}a","v":"${base}a"}`)).toBeNull();
    }
  });

  it('handles an object with as many keys as a frame can hold (the Set path)', () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `"key-${String(i).padStart(5, '0')}":0`);
    expect(dup(`{${keys.join(',')}}`)).toBeNull();
    expect(dup(`{${keys.join(',')},"key-04711":1}`)).toEqual({ key: 'key-04711', topLevel: true });
    expect(dup(`{${keys.join(',')},"key-0471\\u0031":1}`)).toEqual({ key: 'key-04711', topLevel: true });
  });

  it('handles the deepest nesting a 64 KiB frame allows, without recursion', () => {
    const arrays = 32_000;
    expect(dup(`${'['.repeat(arrays)}{"a":1,"b":2}${']'.repeat(arrays)}`)).toBeNull();
    expect(dup(`${'['.repeat(arrays)}{"a":1,"a":2}${']'.repeat(arrays)}`)).toEqual({ key: 'a', topLevel: false });
    const objects = 10_900; // {"a": is 5 bytes a level
    expect(dup(`${'{"a":'.repeat(objects)}0${'}'.repeat(objects)}`)).toBeNull();
    expect(dup(`${'{"a":'.repeat(objects)}{"b":1,"b":2}${'}'.repeat(objects)}`)).toEqual({ key: 'b', topLevel: false });
    expect(dup(`{"a":${'{"a":'.repeat(objects)}0${'}'.repeat(objects)},"a":1}`)).toEqual({ key: 'a', topLevel: true });
    // Deeper than JSON.parse goes: the scanner does not care.
    expect(() => findDuplicateKey(`${'{"a":['.repeat(200_000)}`)).not.toThrow();
  });

  it('handles long strings with escaped quotes and backslash runs', () => {
    const value = JSON.stringify('\\"'.repeat(10_000) + '\\'.repeat(1001) + '"}{"a":1,"a":2}');
    expect(dup(`{"a":${value},"b":${value}}`)).toBeNull();
    expect(dup(`{"a":${value},"b":${value},"a":0}`)).toEqual({ key: 'a', topLevel: true });
  });

  it('never throws, whatever the text (its answer only means something for valid JSON)', () => {
    for (const text of ['', '"', '"\\', '{', '}', '}}}{', '{"a"', '{"a":', '{"a":1,"a', '{"\\u00', '{"\\uZZZZ":1,"\\uZZZZ":2}', ':::', '{"a":1}}}', '\\"']) {
      expect(() => findDuplicateKey(text), text).not.toThrow();
      expect(() => countTopLevelKey(text, 'a'), text).not.toThrow();
    }
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', '\\', ':', ',', 'a', 'u', '0', ' ') }), (text) => {
        findDuplicateKey(text);
        countTopLevelKey(text, 'a');
      }),
      { seed: 1301, numRuns: 2000 },
    );
  });
});

describe('countTopLevelKey', () => {
  it('counts a key of the top-level object only, after unescaping', () => {
    expect(countTopLevelKey('{"id":"a","id":"b"}', 'id')).toBe(2);
    expect(countTopLevelKey('{"id":"a","\\u0069d":"b","i\\u0064":"c"}', 'id')).toBe(3);
    expect(countTopLevelKey('{"id":"a","payload":{"id":1,"id":2}}', 'id')).toBe(1);
    expect(countTopLevelKey('{"x":[{"id":1},{"id":2}],"y":"\\"id\\":"}', 'id')).toBe(0);
    expect(countTopLevelKey('[{"id":1,"id":2}]', 'id')).toBe(0);
    expect(countTopLevelKey(' {"id":1}', 'id')).toBe(1);
    expect(countTopLevelKey('"id"', 'id')).toBe(0);
  });
});

describe('describeKey', () => {
  it('quotes and escapes the key, and keeps at most 32 UTF-16 code units of it', () => {
    expect(describeKey('payload')).toBe('"payload"');
    expect(describeKey('')).toBe('""');
    expect(describeKey('a"b\\c\n\u0000')).toBe('"a\\"b\\\\c\\n\\u0000"');
    expect(describeKey('k'.repeat(32))).toBe(`"${'k'.repeat(32)}"`);
    expect(describeKey('k'.repeat(33))).toBe(`"${'k'.repeat(32)}"…`);
    expect(describeKey('k'.repeat(100_000)).length).toBeLessThan(40);
    // A surrogate pair cut in half is escaped, not written as a broken character.
    expect(describeKey('k'.repeat(31) + '😀')).toBe(`"${'k'.repeat(31)}\\ud83d"…`);
  });
});

// --- properties --------------------------------------------------------------------------------

/** A JSON text model: objects are entry lists (so keys may repeat), written in order. */
type Model = { lit: string } | { arr: Model[] } | { obj: Entry[] };
interface Entry {
  key: string;
  /** How the key is written: 0 plain JSON.stringify, 1 every code unit as \uXXXX, 2 upper-case hex, 3 mixed. */
  style: number;
  value: Model;
}

const keyUnit = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'b', 'i', 'd') },
  { weight: 2, arbitrary: fc.constantFrom('"', '\\', '/', '\u0000', '\n', '\u001f', '\u2028', 'é', '😀', '\ud83d', '\ude00', '{', '}', ':', ',', ' ') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
/** Short keys over a small alphabet: repetitions are frequent. */
const keyArb = fc.string({ unit: keyUnit, maxLength: 3 });
const literal = fc.oneof(
  fc.constantFrom('0', '-0', '1e400', '-1.5E-3', '12345678901234567890', 'true', 'false', 'null', '"a\\"b"', '"\\\\"', '"\\\\\\""', '"{\\"a\\":1,\\"a\\":2}"', '"\\ud83d\\ude00"', '"\\ud800"', '"}"', '"{"', '":"', '"[\\"a\\":"'),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => JSON.stringify(s)),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
);

const models = (uniqueKeys: boolean) =>
  fc.letrec<{ value: Model; obj: Model }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, literal.map((lit) => ({ lit })), fc.array(tie('value'), { maxLength: 4 }).map((arr) => ({ arr })), tie('obj')),
    obj: (uniqueKeys
      ? fc.uniqueArray(fc.record({ key: keyArb, style: fc.nat(3), value: tie('value') }), { maxLength: 6, selector: (e) => e.key })
      : fc.array(fc.record({ key: keyArb, style: fc.nat(3), value: tie('value') }), { maxLength: 6 })
    ).map((obj) => ({ obj })),
  })).obj;

function writeKey(key: string, style: number): string {
  if (style === 0) return JSON.stringify(key);
  let out = '"';
  for (let i = 0; i < key.length; i++) {
    const hex = key.charCodeAt(i).toString(16).padStart(4, '0');
    if (style === 3 && i % 2 === 0) out += JSON.stringify(key[i]).slice(1, -1);
    else out += `\\u${style === 2 ? hex.toUpperCase() : hex}`;
  }
  return `${out}"`;
}

const SPACES = ['', ' ', '\n', '\t', '\r\n  '];
/** Writes the model as JSON text; `ws` picks whitespace around tokens. */
function write(m: Model, ws: number): string {
  const s = () => SPACES[(ws = (ws * 1103515245 + 12345) & 0x7fffffff) % SPACES.length] as string;
  const go = (m: Model): string => {
    if ('lit' in m) return m.lit;
    if ('arr' in m) return `[${s()}${m.arr.map((x) => `${go(x)}${s()}`).join(`,${s()}`)}]`;
    return `{${s()}${m.obj.map((e) => `${writeKey(e.key, e.style)}${s()}:${s()}${go(e.value)}${s()}`).join(`,${s()}`)}}`;
  };
  return go(m);
}

/** The reference answer: the first repeated key in text order (keys precede their values). */
function firstDuplicate(root: Model): { key: string; topLevel: boolean } | null {
  const go = (m: Model, topLevel: boolean): { key: string; topLevel: boolean } | null => {
    if ('lit' in m) return null;
    if ('arr' in m) {
      for (const x of m.arr) {
        const found = go(x, false);
        if (found) return found;
      }
      return null;
    }
    const seen = new Set<string>();
    for (const e of m.obj) {
      if (seen.has(e.key)) return { key: e.key, topLevel };
      seen.add(e.key);
      const found = go(e.value, false);
      if (found) return found;
    }
    return null;
  };
  return go(root, true);
}

/** Every object of the model, the root first. */
function objectsOf(root: Model): Entry[][] {
  const out: Entry[][] = [];
  const stack: Model[] = [root];
  while (stack.length > 0) {
    const m = stack.pop() as Model;
    if ('arr' in m) stack.push(...m.arr);
    else if ('obj' in m) {
      out.push(m.obj);
      for (const e of m.obj) stack.push(e.value);
    }
  }
  return out;
}

describe('findDuplicateKey: properties', () => {
  it('finds none in JSON.stringify output of random values (any indentation)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary' }), fc.constantFrom(undefined, 1, 2, '\t'), (value, indent) => {
        expect(findDuplicateKey(JSON.stringify(value, null, indent))).toBeNull();
      }),
      { seed: 1302, numRuns: 1000 },
    );
  });

  it('finds none in texts of models without repeated keys (escaped keys, whitespace)', () => {
    fc.assert(
      fc.property(models(true), fc.nat(), (model, ws) => {
        const text = write(model, ws);
        JSON.parse(text);
        expect(findDuplicateKey(text)).toBeNull();
      }),
      { seed: 1303, numRuns: 1000 },
    );
  });

  it('finds a duplicate injected anywhere, whether written like the original or escaped', () => {
    fc.assert(
      fc.property(
        models(true).filter((m) => objectsOf(m).some((o) => o.length > 0)),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.nat(3),
        literal,
        fc.nat(),
        (model, whichObject, whichEntry, where, style, value, ws) => {
          const objects = objectsOf(model).filter((o) => o.length > 0);
          const target = objects[whichObject % objects.length] as Entry[];
          const original = target[whichEntry % target.length] as Entry;
          target.splice(where % (target.length + 1), 0, { key: original.key, style, value: { lit: value } });
          const text = write(model, ws);
          JSON.parse(text);
          expect(findDuplicateKey(text)).toEqual({ key: original.key, topLevel: target === (model as { obj: Entry[] }).obj });
        },
      ),
      { seed: 1304, numRuns: 1000 },
    );
  });

  it('agrees with the model on any text: which key repeats first, and whether at the top level', () => {
    fc.assert(
      fc.property(models(false), fc.nat(), (model, ws) => {
        const text = write(model, ws);
        JSON.parse(text);
        expect(findDuplicateKey(text)).toEqual(firstDuplicate(model));
        const ids = (model as { obj: Entry[] }).obj.filter((e) => e.key === 'id').length;
        expect(countTopLevelKey(text, 'id')).toBe(ids);
      }),
      { seed: 1305, numRuns: 2000 },
    );
  });
});
