"""The shared JCS corpus (test/fixtures/jcs-corpus.json), also run by test/unit/jcs-corpus.test.ts:
the Python canonicaliser gives the reference bytes for every case, so it agrees with the gateway's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiconexus_gateway import canonicalize, signed_bytes
from aiconexus_gateway.jcs import loads

CORPUS = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "jcs-corpus.json"
CASES: list[dict[str, Any]] = json.loads(CORPUS.read_text(encoding="utf-8"))["cases"]


def test_corpus_has_the_worked_example_and_generated_cases() -> None:
    assert len(CASES) >= 60
    assert any(c.get("signed") and "worked example" in c["name"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    value = loads(case["input"])
    if case.get("signed"):
        assert signed_bytes(value) == case["expected"].encode("utf-8")
    else:
        out = canonicalize(value)
        assert out == case["expected"]
        # Always encodable: lone surrogates are written as \\u escapes.
        assert out.encode("utf-8").decode("utf-8") == case["expected"]


def test_python_values_that_json_text_cannot_carry() -> None:
    # Adjacent surrogate code points in a Python str are the character they encode, as in JavaScript.
    assert canonicalize("\ud83d\ude00") == '"😀"'
    assert canonicalize({"b": (1, 2), "a": 2**64, "c": -0.0}) == '{"a":18446744073709552000,"b":[1,2],"c":0}'
    for bad in (float("nan"), float("inf"), 10**400):
        with pytest.raises(ValueError):
            canonicalize(bad)
    with pytest.raises(TypeError):
        canonicalize({1: "non-string key"})
    with pytest.raises(TypeError):
        canonicalize(b"bytes")
