"""An agent's identity: an Ed25519 key pair and its did:key; raw, JWK and key-file forms.

The key file is the one ``aiconexus keygen`` writes (the TypeScript CLI), so both read each other's:
``{"did": "did:key:z6Mk…", "secretKey": "<base64url, 32 bytes>", "publicKey": "<base64url>"}``,
mode 0600. An OKP/Ed25519 private JWK (RFC 8037) is accepted as a key file too.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
import secrets
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .did import did_from_public_key
from .ed25519 import public_key_of

__all__ = ["KeyPair", "b64url_encode", "b64url_decode"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decodes base64url without padding; raises ValueError on anything else (padding, other alphabets, stray bits)."""
    if not isinstance(text, str) or _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise ValueError("not base64url") from err
    if b64url_encode(data) != text:
        raise ValueError("not canonical base64url (unused bits set)")
    return data


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 key pair: ``secret_key`` (32-byte RFC 8032 seed), ``public_key`` and ``did``.

    >>> key = KeyPair.generate()
    >>> key.did.startswith("did:key:z6Mk")
    True
    """

    secret_key: bytes = field(repr=False)
    public_key: bytes
    did: str

    @classmethod
    def generate(cls) -> KeyPair:
        """A fresh key pair from the operating system's secure random source."""
        return cls.from_raw(secrets.token_bytes(32))

    @classmethod
    def from_raw(cls, secret_key: bytes) -> KeyPair:
        """The key pair of a 32-byte secret key (the ``secretKey`` of a key file, decoded)."""
        if not isinstance(secret_key, (bytes, bytearray)) or len(secret_key) != 32:
            raise ValueError("Ed25519 secret key must be 32 bytes")
        secret = bytes(secret_key)
        public = public_key_of(secret)
        return cls(secret, public, did_from_public_key(public))

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> KeyPair:
        """Imports an OKP/Ed25519 private JWK; ``x``, when present, must be the public key of ``d``."""
        if not isinstance(jwk, Mapping):
            raise ValueError("JWK must be an object")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError('JWK must have kty "OKP" and crv "Ed25519"')
        d = jwk.get("d")
        if not isinstance(d, str):
            raise ValueError('JWK has no private key "d"')
        key = cls.from_raw(_key_bytes(d, "d"))
        x = jwk.get("x")
        if x is not None and (not isinstance(x, str) or not hmac.compare_digest(_key_bytes(x, "x"), key.public_key)):
            raise ValueError('JWK "x" is not the public key of "d"')
        return key

    def to_jwk(self) -> dict[str, str]:
        """The OKP/Ed25519 private JWK (``d`` and ``x`` in base64url without padding)."""
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(self.public_key), "d": b64url_encode(self.secret_key)}

    def to_key_file(self) -> dict[str, str]:
        """The key-file object (as ``aiconexus keygen`` writes it)."""
        return {"did": self.did, "secretKey": b64url_encode(self.secret_key), "publicKey": b64url_encode(self.public_key)}

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Writes the key file with mode 0600; refuses to replace an existing file unless ``overwrite``."""
        text = json.dumps(self.to_key_file(), indent=2) + "\n"
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an overwritten file keeps its old mode otherwise
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyPair:
        """Reads a key file (or a private JWK file); warns when others may read it."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"bad key file {path}: not JSON") from err
        if not isinstance(obj, dict):
            raise ValueError(f"bad key file {path}: not a JSON object")
        if "kty" in obj:
            key = cls.from_jwk(obj)
        else:
            secret = obj.get("secretKey")
            if not isinstance(secret, str):
                raise ValueError(f'bad key file {path}: no "secretKey"')
            key = cls.from_raw(_key_bytes(secret, "secretKey"))
            if obj.get("did") is not None and obj["did"] != key.did:
                raise ValueError(f'bad key file {path}: "did" does not match "secretKey"')
            if obj.get("publicKey") is not None and obj["publicKey"] != b64url_encode(key.public_key):
                raise ValueError(f'bad key file {path}: "publicKey" does not match "secretKey"')
        if os.name == "posix":
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                warnings.warn(f"key file {path} is readable by others (mode {mode:o}); run chmod 600 {path}", stacklevel=2)
        return key


def _key_bytes(text: str, name: str) -> bytes:
    try:
        raw = b64url_decode(text)
    except ValueError as err:
        raise ValueError(f'"{name}" is not base64url') from err
    if len(raw) != 32:
        raise ValueError(f'"{name}" must be 32 bytes')
    return raw
