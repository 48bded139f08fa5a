"""Ed25519 with RFC 8032's strict rules, as the gateway and the TypeScript SDK apply them.

Signing and the signature equation are done by ``cryptography`` (OpenSSL). OpenSSL alone is more
lenient than the protocol (docs/protocol.md §3): it may accept a non-canonical public key encoding
and small-order public keys (under the identity key ``0100…00`` or its non-canonical form
``eeff…ff7f``, R = identity and S = 0 verifies for any message). So before asking OpenSSL this
module checks, itself:

* the signature is 64 bytes and S (bytes 32–63, little-endian) is below the group order L;
* the public key is a canonical encoding (y < p, and not x = 0 with the sign bit set) of a point on
  the curve that is not of small order (8·A ≠ identity).

R is checked by OpenSSL: it recomputes R and compares the canonical encoding byte for byte.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["L", "is_acceptable_public_key", "is_canonical_s", "sign", "verify", "public_key_of"]

#: The field prime 2^255 − 19.
P = 2**255 - 19
#: The order of the prime-order subgroup (RFC 8032 §5.1).
L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, P - 2, P)) % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)


def is_canonical_s(signature: bytes) -> bool:
    """True when ``signature`` is 64 bytes and its S is below L (no malleated signatures)."""
    return len(signature) == 64 and int.from_bytes(signature[32:], "little") < L


def _decode_point(encoded: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3 strict decoding: (x, y), or None for a non-canonical encoding or a non-point."""
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (_D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    vx2 = (v * x * x) % P
    if vx2 == u:
        pass
    elif vx2 == (-u) % P:
        x = (x * _SQRT_M1) % P
    else:
        return None
    if x == 0 and sign == 1:
        return None
    if (x & 1) != sign:
        x = P - x
    return x, y


def _double(point: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Doubling in extended coordinates (RFC 8032 §5.1.4)."""
    x1, y1, z1, _ = point
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = (a + b) % P
    e = (h - (x1 + y1) * (x1 + y1)) % P
    g = (a - b) % P
    f = (c + g) % P
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def is_acceptable_public_key(public_key: bytes) -> bool:
    """True for a canonical encoding of a curve point that is not of small order."""
    point = _decode_point(public_key)
    if point is None:
        return False
    x, y = point
    ext = (x, y, 1, x * y % P)
    for _ in range(3):
        ext = _double(ext)
    # 8·A is the identity (0, 1) ⇔ X = 0 and Y = Z.
    return not (ext[0] % P == 0 and (ext[1] - ext[2]) % P == 0)


def public_key_of(secret_key: bytes) -> bytes:
    """The 32-byte public key of a 32-byte secret key (RFC 8032 seed)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.from_private_bytes(secret_key)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(secret_key: bytes, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message``."""
    return Ed25519PrivateKey.from_private_bytes(secret_key).sign(message)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Strict verification; False (never an exception) for anything that does not verify."""
    if not is_canonical_s(signature) or not is_acceptable_public_key(public_key):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
