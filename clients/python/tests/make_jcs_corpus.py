"""Regenerates test/fixtures/jcs-corpus.json: JSON texts and their JCS (RFC 8785) canonical form.

Inputs are written here (fixed cases plus seeded random ones); the expected output is computed by
`canonicalize`, the reference implementation by RFC 8785's authors (a devDependency of the
repository), not by either canonicaliser under test. Run from the repository root after npm install:

    /usr/bin/python3 clients/python/tests/make_jcs_corpus.py
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "test" / "fixtures" / "jcs-corpus.json"

WORKED_EXAMPLE = (
    '{"type":"OFFER","id":"offer-1","from":"did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw",'
    '"to":"did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT","ts":1764028800000,'
    '"payload":{"type":"offer","sdp":"v=0\\r\\n"},'
    '"sig":"9dCBys9TVF5HqcntZ5p3xiK2zLaGNNi3LKYen65Ll1IZK5ffCr6Y_VZ9zrJqez4j8nl294QixdAZHGlC2rJbBQ"}'
)


def fixed_cases() -> list[tuple[str, str, bool]]:
    """(name, JSON text, signed: canonicalise the frame without its top-level "sig")."""
    cases: list[tuple[str, str, bool]] = [
        ("docs/protocol.md §13 worked example: signed bytes of the OFFER (sig left out)", WORKED_EXAMPLE, True),
        ("docs/protocol.md §13 worked example: the whole frame", WORKED_EXAMPLE, False),
        (
            "RFC 8785 §3.2.2 sample",
            '{\n  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n'
            '  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n  "literals": [null, true, false]\n}',
            False,
        ),
        (
            "RFC 8785 §3.2.3 key sorting by UTF-16 code units",
            '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One",'
            '"\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
            False,
        ),
        ("literals and empty containers", '[null,true,false,{},[],"",[[]],{"a":{}}]', False),
        ("whitespace everywhere", ' \t\r\n{ "b" : [ 1 , 2 ] ,\n "a" : { "y" : null , "x" : "" } } \n', False),
        ("control characters U+0000..U+001F and U+007F", json.dumps("".join(chr(c) for c in range(0x20)) + "\x7f"), False),
        ("named escapes and solidus", '"\\b\\f\\n\\r\\t\\"\\\\\\/"', False),
        ("non-ASCII written raw: Latin, Greek, CJK, RTL, combining, BOM, U+2028/U+2029, U+FFFF", '"é ε 漢字 עברית e\\u0301 \\ufeff \\u2028\\u2029 \\uffff"', False),
        ("non-ASCII as UTF-8 input", json.dumps("naïve café 😀 𝄞 ﬀ", ensure_ascii=False), False),
        ("escaped astral characters (surrogate pairs) come out raw", '"\\ud83d\\ude00 \\ud834\\udd1e \\udbff\\udfff"', False),
        ("lone high surrogate is escaped", '"a\\ud800b"', False),
        ("lone low surrogate is escaped", '"\\udc00"', False),
        ("reversed surrogate pair: two lone surrogates", '"\\ude00\\ud83d"', False),
        ("high surrogate at the end", '"x\\udbff"', False),
        ("surrogates in keys: ordered by UTF-16 units", '{"\\uffff":1,"\\ud800":2,"\\ud83d\\ude00":3,"\\ue000":4,"\\udc00":5}', False),
        ("keys: ASCII order, case, prefixes", '{"b":1,"a":2,"B":3,"A":4,"aa":5,"a0":6,"_":7,"~":8," ":9,"":10}', False),
        ("integer-like keys sort as strings", '{"10":"a","2":"b","1":"c","b":"d","01":"e","-1":"f","1.5":"g"}', False),
        ("__proto__ and constructor keys", '{"__proto__":{"x":1},"constructor":2,"toString":3,"a":4}', False),
        ("nested objects sorted at every level", '{"z":{"c":[{"b":1,"a":2}],"a":{"d":{"f":1,"e":2}}},"a":[{"y":1,"x":{"q":1,"p":2}}]}', False),
        ("deep nesting (64 levels)", "[" * 32 + '{"k":' * 32 + "0" + "}" * 32 + "]" * 32, False),
        ("zero forms", "[0,-0,0.0,-0.0,0e0,-0e-5,0E+10]", False),
        ("integers", "[1,-1,42,9007199254740991,-9007199254740991,9007199254740992,9007199254740993,-9007199254740993]", False),
        ("large integers become doubles", "[18446744073709551616,123456789012345678901234567890,-98765432109876543210,1000000000000000000000,999999999999999999999]", False),
        ("exponent forms", "[1e0,1E0,1e+0,1e-0,1.5e3,-1.5E-3,100e-2,1e21,1e20,1e-6,1e-7,12e-7,1.0e+21,0.1e1,10E-1]", False),
        ("decimal point boundaries", "[0.000001,0.0000001,123456789012345680000,1234567890123456789012,0.1,0.2,0.30000000000000004,1.1,100.5]", False),
        ("extremes", "[5e-324,-5e-324,2.2250738585072014e-308,2.225073858507201e-308,1.7976931348623157e308,-1.7976931348623157e308,4.9e-324]", False),
        ("RFC 8785 Appendix B style values", "[333333333.3333332,333333333.33333325,333333333.3333333,333333333.3333334,333333333.33333343,9.999999999999997e+22,1e+23,1.0000000000000001e+23,999999999999999700000,295147905179352830000,-0.0000033333333333333333,1424953923781206.2]", False),
        ("numbers as object values and keys that look like numbers", '{"1e2":1e2,"0.5":0.50,"-0":-0,"1":1.0}', False),
    ]
    return cases


def random_cases(rng: random.Random) -> list[tuple[str, str, bool]]:
    cases: list[tuple[str, str, bool]] = []
    doubles: list[str] = []
    for _ in range(300):
        kind = rng.randrange(4)
        if kind == 0:
            value = struct.unpack("<d", rng.randbytes(8))[0]
            if value != value or value in (float("inf"), float("-inf")):
                continue
            doubles.append(repr(value))
        elif kind == 1:
            doubles.append(repr(rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30)))
        elif kind == 2:
            doubles.append(str(rng.randint(-(2**70), 2**70)))
        else:
            mantissa = rng.randint(1, 10**17)
            doubles.append(f"{'-' if rng.random() < 0.5 else ''}{mantissa}e{rng.randint(-330, 300)}")
    for i in range(0, len(doubles), 25):
        cases.append((f"random numbers #{i // 25 + 1}", "[" + ",".join(doubles[i : i + 25]) + "]", False))

    alphabet = ["a", "B", "é", "€", "\u2028", "\x00", "\x1f", '"', "\\", "/", "😀", "\ufb33", "\ud800", "\udfff", "漢", "\x7f", " ", "1"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    def random_value(depth: int) -> object:
        kind = rng.randrange(7 if depth < 4 else 4)
        if kind == 0:
            return text()
        if kind == 1:
            return rng.choice([None, True, False])
        if kind == 2:
            return rng.randint(-(10**6), 10**6)
        if kind == 3:
            return rng.uniform(-1e6, 1e6)
        if kind in (4, 5):
            return {text(): random_value(depth + 1) for _ in range(rng.randint(0, 5))}
        return [random_value(depth + 1) for _ in range(rng.randint(0, 4))]

    for i in range(40):
        doc = {text(): random_value(0) for _ in range(rng.randint(1, 6))}
        cases.append((f"random document #{i + 1}", json.dumps(doc, ensure_ascii=True), False))
    return cases


REFERENCE = """
const canonicalize = require('canonicalize');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(([name, input, signed]) => {
  const value = JSON.parse(input);
  if (signed) delete value.sig;
  return { name, input, ...(signed ? { signed: true } : {}), expected: canonicalize(value) };
});
process.stdout.write(JSON.stringify({
  description: 'JCS (RFC 8785) corpus shared by the TypeScript (test/unit/jcs-corpus.test.ts) and Python (clients/python/tests/test_jcs_corpus.py) canonicalisers. Each case: parse "input" as JSON; "expected" is its canonical JSON text; with "signed", of the object without its top-level "sig" (the signed bytes of docs/protocol.md section 3). Expected values come from the reference implementation (npm canonicalize); regenerate with clients/python/tests/make_jcs_corpus.py.',
  cases: out,
}, null, 1) + '\\n');
"""


def main() -> None:
    cases = fixed_cases() + random_cases(random.Random(8785))
    result = subprocess.run(["node", "-e", REFERENCE], cwd=ROOT, input=json.dumps(cases), capture_output=True, text=True, check=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(result.stdout, encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
