"""Signing frames and verifying them end to end (docs/protocol.md §3).

``sig`` = Ed25519 over the UTF-8 of the JCS canonical JSON of the frame without ``sig``, written
as base64url without padding (86 characters). Verification is strict (see :mod:`.ed25519`).
"""

from __future__ import annotations

import base64
from typing import Any, Mapping

from . import ed25519
from .did import public_key_from_did
from .frames import SIGNATURE_PATTERN
from .jcs import signed_bytes
from .keys import KeyPair, b64url_encode

__all__ = ["sign_frame", "verify_frame"]


def sign_frame(frame: Mapping[str, Any], key: KeyPair) -> dict[str, Any]:
    """A copy of ``frame`` with ``sig`` set (any ``sig`` already there is replaced)."""
    unsigned = {k: v for k, v in frame.items() if k != "sig"}
    unsigned["sig"] = b64url_encode(ed25519.sign(key.secret_key, signed_bytes(unsigned)))
    return unsigned


def verify_frame(frame: Mapping[str, Any], did: str) -> bool:
    """True when ``frame["sig"]`` verifies, strictly, with the key of ``did``; never raises."""
    sig = frame.get("sig")
    if not isinstance(sig, str) or SIGNATURE_PATTERN.fullmatch(sig) is None:
        return False
    public_key = public_key_from_did(did)
    if public_key is None:
        return False
    try:
        message = signed_bytes(frame)
    except (TypeError, ValueError):
        return False
    signature = base64.urlsafe_b64decode(sig + "==")
    return ed25519.verify(public_key, signature, message)
