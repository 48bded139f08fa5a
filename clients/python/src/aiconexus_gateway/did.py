"""did:key ⇄ Ed25519 public key (docs/protocol.md §2): ``did:key:z`` + base58btc(0xed 0x01 ‖ key)."""

from __future__ import annotations

import re

__all__ = ["did_from_public_key", "public_key_from_did", "is_did_key", "DID_SHAPE"]

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_PREFIX = "did:key:z"
_MULTICODEC = b"\xed\x01"
#: A string shaped like an Ed25519 did:key (47 base58 characters); see :func:`is_did_key` for the full check.
DID_SHAPE = re.compile(r"did:key:z[1-9A-HJ-NP-Za-km-z]{47}")


def b58encode(data: bytes) -> str:
    """Base58btc (Bitcoin alphabet), leading zero bytes as ``1``."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    num = int.from_bytes(data, "big")
    chars: list[str] = []
    while num:
        num, rem = divmod(num, 58)
        chars.append(_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(chars))


def b58decode(text: str) -> bytes:
    """Decodes base58btc; raises ValueError on a character outside the alphabet."""
    num = 0
    for ch in text:
        if ch not in _INDEX:
            raise ValueError(f"invalid base58 character {ch!r}")
        num = num * 58 + _INDEX[ch]
    zeros = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\0" * zeros + body


def did_from_public_key(public_key: bytes) -> str:
    """The did:key of a 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise ValueError("Ed25519 public key must be 32 bytes")
    return _PREFIX + b58encode(_MULTICODEC + bytes(public_key))


def public_key_from_did(did: str) -> bytes | None:
    """The 32-byte key of an Ed25519 did:key, or None when ``did`` is not one (encoding only)."""
    if not isinstance(did, str) or DID_SHAPE.fullmatch(did) is None:
        return None
    try:
        raw = b58decode(did[len(_PREFIX) :])
    except ValueError:
        return None
    if len(raw) != 34 or raw[:2] != _MULTICODEC:
        return None
    return raw[2:]


def is_did_key(did: str) -> bool:
    """True when ``did`` is an Ed25519 did:key (encoding only; the key itself is vetted by :mod:`.ed25519`)."""
    return public_key_from_did(did) is not None
