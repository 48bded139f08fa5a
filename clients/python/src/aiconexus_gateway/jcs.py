"""JCS canonical JSON (RFC 8785) and the signed bytes of a frame (docs/protocol.md §3).

RFC 8785 serialises strings and numbers exactly as ECMAScript's ``JSON.stringify`` does and sorts
object keys by UTF-16 code units; this module does the same for Python JSON values (``dict`` with
``str`` keys, ``list``/``tuple``, ``str``, ``int``, ``float``, ``bool``, ``None``), so its output is
byte for byte that of the gateway and the TypeScript SDK (test/fixtures/jcs-corpus.json).

Numbers are IEEE-754 doubles, as in JavaScript: an ``int`` beyond 2^53 is written as the double it
becomes (``2**64`` → ``18446744073709552000``), ``-0.0`` as ``0``; NaN, infinities and integers
too large for a double raise :class:`ValueError`.
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["canonicalize", "canonical_bytes", "signed_bytes", "loads"]

_ESCAPES = {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}

_MAX_SAFE = 2**53


def canonicalize(value: Any) -> str:
    """The JCS canonical JSON text of ``value``."""
    out: list[str] = []
    _write(value, out, None)
    return "".join(out)


def canonical_bytes(value: Any) -> bytes:
    """UTF-8 of :func:`canonicalize` (always encodable: lone surrogates are written as escapes)."""
    return canonicalize(value).encode("utf-8")


def signed_bytes(frame: Mapping[str, Any]) -> bytes:
    """The bytes a frame's ``sig`` covers: UTF-8 of the JCS form of the frame without ``sig``."""
    out: list[str] = []
    _write_object(frame, out, "sig")
    return "".join(out).encode("utf-8")


def _write(value: Any, out: list[str], _skip: str | None) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(_number(_to_double(value)) if abs(value) > _MAX_SAFE else str(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        _write_object(value, out, None)
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, None)
        out.append("]")
    else:
        raise TypeError(f"JCS: {type(value).__name__} is not a JSON value")


def _to_double(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise ValueError("JCS: integer too large for a double (it would be Infinity)") from None


def _write_object(obj: Mapping[str, Any], out: list[str], skip: str | None) -> None:
    for key in obj:
        if not isinstance(key, str):
            raise TypeError(f"JCS: object key {key!r} is not a string")
    out.append("{")
    first = True
    for key in sorted(obj, key=_utf16_key):
        if key == skip:
            continue
        if not first:
            out.append(",")
        first = False
        out.append(_string(key))
        out.append(":")
        _write(obj[key], out, None)
    out.append("}")


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 compares byte by byte exactly as its code units compare.
    return _join_surrogates(key).encode("utf-16-be", "surrogatepass")


def _join_surrogates(text: str) -> str:
    """Turns adjacent high+low surrogate code points into the character they encode (as JavaScript sees them)."""
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _string(text: str) -> str:
    """A JSON string as ECMAScript JSON.stringify writes it (well-formed: lone surrogates escaped)."""
    text = _join_surrogates(text)
    parts = ['"']
    for ch in text:
        code = ord(ch)
        if code in _ESCAPES:
            parts.append(_ESCAPES[code])
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def _number(value: float) -> str:
    """ECMAScript Number::toString(10) of a finite double (RFC 8785 §3.2.2.3)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("JCS: non-finite number")
    if value == 0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, as ECMAScript requires.
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    all_digits = int_part + frac_part
    significant = all_digits.lstrip("0")
    # n: where the decimal point falls relative to the first significant digit (ECMAScript's n).
    n = len(int_part) + exponent - (len(all_digits) - len(significant))
    digits = significant.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        body = (digits[0] + ("." + digits[1:] if k > 1 else "")) + ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + body


def loads(text: str | bytes) -> Any:
    """Parses JSON as JavaScript's JSON.parse accepts it, but refuses duplicate keys.

    NaN and Infinity literals are refused (they are not JSON); a repeated key in any object raises
    :class:`ValueError` (docs/protocol.md §1: the gateway refuses such frames, and a parser keeping
    another duplicate than the signer's would see other values than the signed ones).
    """
    import json

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, val in items:
            if key in obj:
                raise ValueError(f"duplicate key {key!r}")
            obj[key] = val
        return obj

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
