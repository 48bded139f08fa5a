/**
 * src/protocol/canonical.ts: JCS (RFC 8785) canonical JSON and a frame's signed bytes.
 *
 * Fixed expectations come from RFC 8785 (§3.2.2, §3.2.3, Appendix B) and docs/protocol.md §13; the rest
 * is a seeded property test against `canonicalize`, the reference implementation by the RFC's
 * authors.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { canonicalize, signedBytes, signedText } from '../../src/protocol/canonical.js';

// `canonicalize` is CommonJS (module.exports = fn) while its .d.ts declares `export default`, which
// TypeScript under NodeNext resolves to the module object; require() gives the function itself.
const referenceCanonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

function reference(value: unknown): string {
  const out = referenceCanonicalize(value);
  if (out === undefined) throw new Error('reference returned undefined');
  return out;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('canonicalize: RFC 8785 examples', () => {
  it('§3.2.2 sample: whitespace, number and string normalisation, key order', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    expect(canonicalize(JSON.parse(input))).toBe(expected);
  });

  it('§3.2.3 sorting: keys ordered by UTF-16 code units, not code points or UTF-8', () => {
    const input = String.raw`{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }`;
    const out = canonicalize(JSON.parse(input));
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    // By code point U+1F600 would sort after U+FB33; by UTF-16 unit 0xD83D sorts before 0xFB33.
    expect(out.indexOf('Emoji')).toBeLessThan(out.indexOf('Hebrew'));
  });

  // RFC 8785 Appendix B: IEEE 754 bit pattern → canonical text.
  const appendixB: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'], // -0
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  const fromBits = (hex: string) => Buffer.from(hex, 'hex').readDoubleBE(0);

  it.each(appendixB)('Appendix B number %s → %s', (bits, text) => {
    expect(canonicalize(fromBits(bits))).toBe(text);
    expect(canonicalize([fromBits(bits)])).toBe(`[${text}]`);
  });

  it.each(['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000'])('Appendix B %s (NaN/Infinity) is an error', (bits) => {
    expect(() => canonicalize(fromBits(bits))).toThrow(TypeError);
    expect(() => canonicalize({ a: [1, fromBits(bits)] })).toThrow(TypeError);
  });
});

describe('canonicalize: structure', () => {
  it('number spellings that JSON.parse normalises', () => {
    expect(canonicalize(JSON.parse('[1.0, -0, -0.0, 1e2, 1E-7, 100e-2, 12345678901234567890, 0.1e1]'))).toBe(
      '[1,0,0,100,1e-7,1,12345678901234567000,1]',
    );
  });

  it('sorts keys recursively inside nested arrays and objects, keeping array order', () => {
    const v = JSON.parse('{"b":[{"z":1,"a":{"y":[3,2,1],"x":null}},[],{}],"a":{"d":{},"c":[[["q"]]]}}');
    expect(canonicalize(v)).toBe('{"a":{"c":[[["q"]]],"d":{}},"b":[{"a":{"x":null,"y":[3,2,1]},"z":1},[],{}]}');
  });

  it('sorts integer-like keys as strings ("10" before "2"), unlike Object.keys order', () => {
    const v = JSON.parse('{"2":"b","10":"c","1":"a","a":"d"}');
    expect(Object.keys(v)).toEqual(['1', '2', '10', 'a']); // what a naive implementation would use
    expect(canonicalize(v)).toBe('{"1":"a","10":"c","2":"b","a":"d"}');
  });

  it('treats a parsed "__proto__" key as an ordinary own property', () => {
    const v = JSON.parse('{"z":1,"__proto__":{"polluted":true},"a":[{"__proto__":null}]}') as Record<string, unknown>;
    expect(canonicalize(v)).toBe('{"__proto__":{"polluted":true},"a":[{"__proto__":null}],"z":1}');
    expect(canonicalize(v)).toBe(reference(v));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('sorts objects with many keys (past the insertion sort) and keys that start with a digit', () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${(i * 7919) % 97}`);
    const many = Object.fromEntries(keys.map((k, i) => [k, i]));
    expect(canonicalize(many)).toBe(reference(many));
    const digits = JSON.parse('{"b":1,"1a":2,"a":{"9z":[{"y":1,"x":2}],"b":3},"0x":4}');
    expect(canonicalize(digits)).toBe('{"0x":4,"1a":2,"a":{"9z":[{"x":2,"y":1}],"b":3},"b":1}');
    expect(canonicalize(digits)).toBe(reference(digits));
  });

  it('serialises primitives and empty containers', () => {
    expect(canonicalize(null)).toBe('null');
    expect(canonicalize(true)).toBe('true');
    expect(canonicalize(false)).toBe('false');
    expect(canonicalize('')).toBe('""');
    expect(canonicalize([])).toBe('[]');
    expect(canonicalize({})).toBe('{}');
    expect(canonicalize('\u2028\u2029\u007f\u001f')).toBe('"\u2028\u2029\u007f\\u001f"');
  });

  it('rejects values that are not JSON', () => {
    expect(() => canonicalize(undefined)).toThrow(TypeError);
    expect(() => canonicalize(() => 1)).toThrow(TypeError);
    expect(() => canonicalize(10n)).toThrow(TypeError);
    expect(() => canonicalize(Symbol('x'))).toThrow(TypeError);
    expect(() => canonicalize({ a: undefined })).toThrow(TypeError);
  });
});

describe('signedBytes', () => {
  // docs/protocol.md §13
  const frameText =
    '{"type":"OFFER","id":"offer-1","from":"did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw",' +
    '"to":"did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT","ts":1764028800000,' +
    '"payload":{"type":"offer","sdp":"v=0\\r\\n"},' +
    '"sig":"9dCBys9TVF5HqcntZ5p3xiK2zLaGNNi3LKYen65Ll1IZK5ffCr6Y_VZ9zrJqez4j8nl294QixdAZHGlC2rJbBQ"}';
  const expected =
    '{"from":"did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw","id":"offer-1",' +
    '"payload":{"sdp":"v=0\\r\\n","type":"offer"},"to":"did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT",' +
    '"ts":1764028800000,"type":"OFFER"}';

  it('equals the docs/protocol.md §13 signed bytes for the §13 frame', () => {
    const frame = JSON.parse(frameText) as Record<string, unknown>;
    expect(Buffer.from(signedBytes(frame)).toString('utf8')).toBe(expected);
    expect(signedBytes(frame)).toEqual(utf8(expected));
    expect(signedText(frame)).toBe(expected);
  });

  it('does not depend on the key order of the frame as sent', () => {
    const frame = JSON.parse(frameText) as Record<string, unknown>;
    const reversed = Object.fromEntries(Object.entries(frame).reverse());
    expect(signedBytes(reversed)).toEqual(utf8(expected));
  });

  it('does not modify the frame', () => {
    const frame = JSON.parse(frameText) as Record<string, unknown>;
    const before = JSON.stringify(frame);
    signedBytes(frame);
    expect(JSON.stringify(frame)).toBe(before);
    expect(frame.sig).toBeTypeOf('string');
  });

  it('omits "sig" at the top level only', () => {
    const frame = JSON.parse('{"sig":"top","payload":{"sig":"inner","list":[{"sig":1}]},"a":"sig"}') as Record<string, unknown>;
    expect(Buffer.from(signedBytes(frame)).toString('utf8')).toBe('{"a":"sig","payload":{"list":[{"sig":1}],"sig":"inner"}}');
  });

  it('is the canonical form of the frame without sig, in UTF-8', () => {
    const frame = JSON.parse('{"type":"BYE","payload":{"reason":"au revoir é 😀 \\u0000"},"sig":"x"}') as Record<string, unknown>;
    const bytes = signedBytes(frame);
    expect(bytes).toEqual(utf8(canonicalize({ payload: frame.payload, type: 'BYE' })));
    // é is 2 bytes, the emoji 4 bytes in UTF-8; NUL is escaped as \u0000
    expect(Buffer.from(bytes).toString('hex')).toContain('c3a9');
    expect(Buffer.from(bytes).toString('hex')).toContain('f09f9880');
    expect(Buffer.from(bytes).toString('utf8')).toContain('\\u0000');
  });

  it('a frame without sig signs the same bytes as with it', () => {
    const frame = JSON.parse(frameText) as Record<string, unknown>;
    const { sig: _sig, ...rest } = frame;
    expect(signedBytes(rest)).toEqual(signedBytes(frame));
  });
});

// ---------------------------------------------------------------------------------------------
// Property test: random JSON *texts* (odd spellings, escapes, whitespace, tricky keys) are parsed
// with JSON.parse and canonicalised by both implementations.

/** mulberry32: a tiny seeded PRNG, so failures are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class JsonTextGen {
  constructor(private readonly rnd: () => number) {}

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  ws(): string {
    return this.rnd() < 0.7 ? '' : this.pick([' ', '\n', '\t', '\r\n  ', '  ']);
  }
  digits(n: number, leadingNonZero = false): string {
    let s = leadingNonZero ? String(1 + this.int(9)) : '';
    while (s.length < n) s += String(this.int(10));
    return s;
  }

  number(): string {
    const sign = this.rnd() < 0.3 ? '-' : '';
    switch (this.int(6)) {
      case 0:
        return sign + (this.rnd() < 0.2 ? '0' : this.digits(1 + this.int(22), true));
      case 1:
        return sign + (this.rnd() < 0.3 ? '0' : this.digits(1 + this.int(10), true)) + '.' + this.digits(1 + this.int(20));
      case 2: {
        const exp = this.pick(['e', 'E']) + this.pick(['', '+', '-']) + String(this.int(300));
        return sign + this.digits(1, true) + (this.rnd() < 0.5 ? '.' + this.digits(1 + this.int(17)) : '') + exp;
      }
      case 3: {
        // arbitrary finite double from random bits (subnormals included)
        const view = new DataView(new ArrayBuffer(8));
        for (;;) {
          for (let i = 0; i < 8; i++) view.setUint8(i, this.int(256));
          const x = view.getFloat64(0);
          if (Number.isFinite(x)) return String(x);
        }
      }
      case 4:
        return sign + this.pick(['0', '0.0', '0e0', '0.000000000000000000000000001', '1e-400', '4.50', '1E30', '9007199254740993', '1e21', '1e-7']);
      default:
        return String(this.int(1000));
    }
  }

  /** One character of a string literal (as JSON text), possibly escaped. */
  char(): string {
    const pools: (() => number)[] = [
      () => 0x20 + this.int(0x5f), // printable ASCII
      () => this.int(0x20), // control (must be escaped)
      () => this.pick([0x22, 0x5c, 0x2f, 0x7f, 0x80, 0x9f, 0xf6, 0x2028, 0x2029, 0x20ac, 0xfb33, 0xfeff, 0xffff]),
      () => 0x100 + this.int(0xd700), // BMP below surrogates
      () => 0x10000 + this.int(0xfffff), // astral (surrogate pair)
    ];
    const cp = this.pick(pools)();
    const ch = String.fromCodePoint(cp);
    const literalOk = cp >= 0x20 && cp !== 0x22 && cp !== 0x5c;
    const mode = this.int(4);
    if (literalOk && mode < 2) return ch;
    const short: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x2f: '\\/', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t' };
    if (short[cp] !== undefined && mode === 2) return short[cp];
    let out = '';
    for (let i = 0; i < ch.length; i++) {
      const hex = ch.charCodeAt(i).toString(16).padStart(4, '0');
      out += '\\u' + (this.rnd() < 0.5 ? hex : hex.toUpperCase());
    }
    return out;
  }

  string(maxLen = 12): string {
    let s = '"';
    const n = this.int(maxLen + 1);
    for (let i = 0; i < n; i++) s += this.char();
    return s + '"';
  }

  key(): string {
    if (this.rnd() < 0.35) {
      return JSON.stringify(this.pick(['__proto__', 'constructor', 'toString', 'sig', 'type', '1', '2', '10', '01', '-1', '', 'a', 'A', 'é', '😀', '\ufb33']));
    }
    return this.string(6);
  }

  /** A JSON value; `container` forces an array or object at this level. */
  value(depth: number, container = false): string {
    const kind = container ? 4 + this.int(2) : depth <= 0 ? this.int(4) : this.int(6);
    switch (kind) {
      case 0:
        return this.pick(['null', 'true', 'false']);
      case 1:
        return this.number();
      case 2:
      case 3:
        return this.string();
      case 4: {
        const n = this.int(5);
        const items = Array.from({ length: n }, () => this.ws() + this.value(depth - 1) + this.ws());
        return '[' + items.join(',') + ']';
      }
      default: {
        const n = this.int(6);
        const members = Array.from({ length: n }, () => this.ws() + this.key() + this.ws() + ':' + this.ws() + this.value(depth - 1) + this.ws());
        return '{' + members.join(',') + '}';
      }
    }
  }
}

describe('canonicalize: property test against the reference implementation', () => {
  const CASES = 400;
  const gen = new JsonTextGen(prng(0x8785));
  const texts = Array.from({ length: CASES }, (_, i) => (i % 8 === 0 ? gen.value(0) : gen.value(4, true)));

  it(`agrees with \`canonicalize\` on ${CASES} generated JSON texts`, () => {
    let objects = 0;
    for (const text of texts) {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null) objects++;
      const ours = canonicalize(value);
      expect(ours, text).toBe(reference(value));
      // canonical form is a fixed point and parses back to an equal value
      expect(canonicalize(JSON.parse(ours)), text).toBe(ours);
      expect(ours).not.toMatch(/^\s|\s$/);
    }
    // the generator really produces structure, escapes, tricky keys and exponent numbers
    expect(objects).toBeGreaterThan(CASES * 0.8);
    expect(texts.filter((t) => t.includes('"__proto__"')).length).toBeGreaterThan(10);
    expect(texts.filter((t) => /\\u[dD][89abAB]/.test(t)).length).toBeGreaterThan(10);
    expect(texts.filter((t) => /\d[eE][+-]?\d/.test(t)).length).toBeGreaterThan(10);
  });

  it('signedBytes agrees with the reference on generated frames without sig', () => {
    for (const text of texts) {
      const payload: unknown = JSON.parse(text);
      const frame = JSON.parse(`{"type":"OFFER","sig":"s","payload":${text},"ts":1}`) as Record<string, unknown>;
      const expected = reference({ type: 'OFFER', payload, ts: 1 });
      expect(Buffer.from(signedBytes(frame)).toString('utf8'), text).toBe(expected);
    }
  });
});
