"""Keys, did:key, signing and strict verification, against the protocol's test vectors
(docs/protocol.md §2 and §13) and the small-order / malleability cases of §3."""

from __future__ import annotations

import json
import os
import stat
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from aiconexus_gateway import KeyPair, canonicalize, did_from_public_key, is_did_key, public_key_from_did, sign_frame, verify_frame
from aiconexus_gateway.backoff import Backoff, backoff_delay
from aiconexus_gateway.ed25519 import L, is_acceptable_public_key, is_canonical_s, verify
from aiconexus_gateway.keys import b64url_decode, b64url_encode
from aiconexus_gateway.replay import ReplayLimits, ReplayMemory

SECRET_A = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
DID_A = "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
DID_B = "did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT"
SIG_13 = "9dCBys9TVF5HqcntZ5p3xiK2zLaGNNi3LKYen65Ll1IZK5ffCr6Y_VZ9zrJqez4j8nl294QixdAZHGlC2rJbBQ"

#: The 8 points of small order (canonical encodings), and non-canonical encodings of some.
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]
NON_CANONICAL = [
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # identity, y = p + 1
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",  # y = p, sign bit set
    "0100000000000000000000000000000000000000000000000000000000000080",  # identity with x = 0 and the sign bit set
]


def test_did_key_vectors() -> None:
    # W3C CCG did-method-key: secret key = 31 zero bytes then N.
    assert KeyPair.from_raw(bytes(31) + b"\x00").did == "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    assert KeyPair.from_raw(bytes(31) + b"\x01").did == "did:key:z6MkjchhfUsD6mmvni8mCdXHw216Xrm9bQe2mBH1P5RDjVJG"
    key = KeyPair.from_raw(SECRET_A)
    assert key.public_key.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert key.did == DID_A and public_key_from_did(DID_A) == key.public_key
    assert did_from_public_key(key.public_key) == DID_A
    for bad in ("did:key:z6Mk", DID_A + "x", DID_A.replace("z6", "Z6"), "did:web:example.com", DID_A[:-1] + "0", 42):
        assert not is_did_key(bad)  # type: ignore[arg-type]
    # A multicodec other than ed25519-pub (secp256k1 did:key, 48 characters after z).
    assert not is_did_key("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")


def test_worked_example_signature() -> None:
    frame = {"type": "OFFER", "id": "offer-1", "from": DID_A, "to": DID_B, "ts": 1764028800000, "payload": {"type": "offer", "sdp": "v=0\r\n"}}
    signed = sign_frame(frame, KeyPair.from_raw(SECRET_A))
    assert signed["sig"] == SIG_13
    assert verify_frame(signed, DID_A)
    assert not verify_frame({**signed, "ts": 1764028800001}, DID_A)
    assert not verify_frame(signed, DID_B)
    assert canonicalize({k: v for k, v in signed.items() if k != "sig"}).startswith('{"from":"did:key:z6Mktw')


def test_openssl_alone_accepts_what_the_strict_rules_refuse() -> None:
    """Why the checks are ours: cryptography (OpenSSL) verifies R = identity, S = 0 under the identity key."""
    zero_sig = bytes([1]) + bytes(63)
    for key_hex in (SMALL_ORDER[0], NON_CANONICAL[0]):
        key = bytes.fromhex(key_hex)
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(zero_sig, b"any message")
            lenient = True
        except (InvalidSignature, ValueError):
            lenient = False  # a newer OpenSSL may refuse it itself; the strict check must refuse it anyway
        assert verify(key, zero_sig, b"any message") is False, (key_hex, lenient)


@pytest.mark.parametrize("key_hex", SMALL_ORDER + NON_CANONICAL)
def test_small_order_and_non_canonical_keys_are_refused(key_hex: str) -> None:
    assert not is_acceptable_public_key(bytes.fromhex(key_hex))


def test_ordinary_keys_are_accepted_and_s_must_be_below_l() -> None:
    for _ in range(20):
        assert is_acceptable_public_key(KeyPair.generate().public_key)
    assert not is_acceptable_public_key(bytes(31))  # wrong length
    key = KeyPair.generate()
    sig = b64url_decode(sign_frame({"type": "PING"}, key)["sig"])
    message = b'{"type":"PING"}'
    assert verify(key.public_key, sig, message)
    s = int.from_bytes(sig[32:], "little")
    assert is_canonical_s(sig) and not is_canonical_s(sig[:32] + (s + L).to_bytes(32, "little"))
    assert not is_canonical_s(sig[:32] + L.to_bytes(32, "little")) and is_canonical_s(sig[:32] + (L - 1).to_bytes(32, "little"))
    assert not verify(key.public_key, sig[:32] + (s + L).to_bytes(32, "little"), message)
    assert not verify(key.public_key, sig[:32] + L.to_bytes(32, "little"), message)
    assert not verify(key.public_key, sig[:63], message)


def test_verify_frame_never_raises() -> None:
    did = KeyPair.generate().did
    frames: list[dict[str, Any]] = [{}, {"sig": 1}, {"sig": "A" * 86}, {"sig": "A" * 86, "x": float("nan")}, {"sig": "A" * 86, "x": 10**400}]
    for frame in frames:
        assert verify_frame(frame, did) is False
    assert verify_frame({"sig": "A" * 86}, "did:key:nope") is False


def test_key_file_round_trip_with_mode_0600(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = tmp_path / "agent.key"
    key.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    on_disk = json.loads(path.read_text())
    assert on_disk == {"did": key.did, "secretKey": b64url_encode(key.secret_key), "publicKey": b64url_encode(key.public_key)}
    assert KeyPair.load(path) == key
    with pytest.raises(FileExistsError):
        key.save(path)
    os.chmod(path, 0o644)
    other = KeyPair.generate()
    other.save(path, overwrite=True)  # an overwritten file gets mode 0600 again
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and KeyPair.load(path) == other
    os.chmod(path, 0o644)
    with pytest.warns(UserWarning, match="readable by others"):
        KeyPair.load(path)
    path.write_text(json.dumps({**other.to_key_file(), "did": key.did}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match='"did" does not match'):
            KeyPair.load(path)
    assert "secret_key" not in repr(key)


def test_jwk_import_and_export(tmp_path: Path) -> None:
    key = KeyPair.from_raw(SECRET_A)
    jwk = key.to_jwk()
    assert jwk == {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}
    assert KeyPair.from_jwk(jwk) == key
    assert KeyPair.from_jwk({k: v for k, v in jwk.items() if k != "x"}) == key
    (tmp_path / "key.jwk").write_text(json.dumps(jwk))
    os.chmod(tmp_path / "key.jwk", 0o600)
    assert KeyPair.load(tmp_path / "key.jwk") == key
    for bad in ({**jwk, "x": b64url_encode(KeyPair.generate().public_key)}, {**jwk, "crv": "X25519"}, {**jwk, "d": jwk["d"] + "="}, {**jwk, "d": jwk["d"][:-2]}, {"kty": "OKP"}):
        with pytest.raises(ValueError):
            KeyPair.from_jwk(bad)
    with pytest.raises(ValueError):
        KeyPair.from_raw(b"short")


def test_base64url_is_strict() -> None:
    assert b64url_decode("AQID") == b"\x01\x02\x03"
    for bad in ("AQID=", "AQ+/", "AR", "A", "AQ I"):
        with pytest.raises(ValueError):
            b64url_decode(bad)


def test_replay_memory_keeps_ids_until_their_deadline_and_refuses_beyond_its_bounds() -> None:
    memory = ReplayMemory(ReplayLimits(per_sender=2, total=3))
    assert memory.check("a", "1", 0) == "new"
    memory.add("a", "1", 100)
    memory.add("a", "2", 50)
    assert memory.check("a", "3", 0) == "sender-full"
    memory.add("b", "1", 10)
    assert memory.check("c", "1", 0) == "full"
    assert memory.check("c", "1", 11) == "new" and len(memory) == 2 and memory.sender_count == 1
    assert memory.check("a", "2", 50) == "replay"  # kept up to and including its deadline
    assert memory.check("a", "2", 51) == "new" and len(memory) == 1
    assert memory.check("a", "1", 101) == "new" and len(memory) == 0
    with pytest.raises(ValueError):
        ReplayLimits(per_sender=0)


def test_backoff_is_full_jitter_capped() -> None:
    policy = Backoff(base_delay=0.5, max_delay=30)
    assert [backoff_delay(n, policy, lambda: 0.5) for n in range(8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert backoff_delay(10_000, policy, lambda: 0.999) < 30
    assert backoff_delay(3, policy, lambda: 0.0) == 0.0
