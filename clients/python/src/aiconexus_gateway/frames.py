"""Frame shapes of the wire protocol (docs/protocol.md §4–§6), checked as the TypeScript SDK checks them.

The signaling envelope (OFFER, ANSWER, ICE, BYE) is strict: exactly ``type``, ``id``, ``from``,
``to``, ``ts``, ``payload`` (optional for BYE) and ``sig``. Frames the gateway sends are loose:
fields a newer gateway adds are tolerated. Lengths count UTF-16 code units, as JavaScript does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, TypedDict, TypeGuard

from .did import DID_SHAPE, is_did_key

__all__ = [
    "PROTOCOL_VERSION",
    "SIGNALING_TYPES",
    "SignalType",
    "Signal",
    "Agent",
    "IceServer",
    "IceServers",
    "SessionInfo",
    "signaling_problem",
    "meta_problem",
    "utf16_len",
]

PROTOCOL_VERSION = "aiconexus/1"
SignalType = Literal["OFFER", "ANSWER", "ICE", "BYE"]
SIGNALING_TYPES: tuple[SignalType, ...] = ("OFFER", "ANSWER", "ICE", "BYE")

ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
CAPABILITY_PATTERN = re.compile(r"[a-z0-9._:-]{1,64}")
#: 86 base64url characters = 64 bytes; the last one carries 2 bits, so only A, Q, g, w are canonical.
SIGNATURE_PATTERN = re.compile(r"[A-Za-z0-9_-]{85}[AQgw]")
GATEWAY_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")

MAX_SAFE_INTEGER = 2**53 - 1
MAX_SDP_CHARS = 32768
MAX_BYE_REASON_CHARS = 256
MAX_META_NAME_CHARS = 64
MAX_CAPABILITIES = 32
MAX_META_JSON_BYTES = 4096
DISCOVER_MAX_LIMIT = 1000

_ENVELOPE = frozenset({"type", "id", "from", "to", "ts", "payload", "sig"})


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (JavaScript's ``string.length``)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def is_integer(value: Any) -> TypeGuard[int | float]:
    """A JSON number that is an integer (``1`` or ``1.0``), as ``Number.isInteger`` sees it; not a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def _match(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _optional_nullable_str(payload: Mapping[str, Any], name: str) -> bool:
    return name not in payload or payload[name] is None or isinstance(payload[name], str)


def _payload_problem(type_: str, payload: Any) -> str | None:
    if type_ == "BYE" and payload is _MISSING:
        return None
    if not isinstance(payload, dict):
        return "payload: must be an object"
    if type_ in ("OFFER", "ANSWER"):
        sdp = payload.get("sdp")
        if not isinstance(sdp, str):
            return "payload.sdp: must be a string"
        if utf16_len(sdp) > MAX_SDP_CHARS:
            return f"payload.sdp: must be at most {MAX_SDP_CHARS} characters"
    elif type_ == "ICE":
        if not isinstance(payload.get("candidate"), str):
            return "payload.candidate: must be a string"
        for name in ("sdpMid", "usernameFragment"):
            if not _optional_nullable_str(payload, name):
                return f"payload.{name}: must be a string or null"
        index = payload.get("sdpMLineIndex")
        if index is not None and not (is_integer(index) and index >= 0):
            return "payload.sdpMLineIndex: must be an integer >= 0 or null"
    else:  # BYE
        reason = payload.get("reason")
        if "reason" in payload and not (isinstance(reason, str) and utf16_len(reason) <= MAX_BYE_REASON_CHARS):
            return f"payload.reason: must be a string of at most {MAX_BYE_REASON_CHARS} characters"
    return None


_MISSING: Any = object()


def signaling_problem(frame: Mapping[str, Any]) -> str | None:
    """The first way ``frame`` is not a valid OFFER/ANSWER/ICE/BYE (docs/protocol.md §5), or None."""
    type_ = frame.get("type")
    if type_ not in SIGNALING_TYPES:
        return f"type: not a signaling type: {type_!r}"
    extra = sorted(set(frame) - _ENVELOPE)
    if extra:
        return f"unknown field {extra[0]!r}"
    if not _match(ID_PATTERN, frame.get("id")):
        return "id: must be 1-64 of [A-Za-z0-9._:-]"
    if not _match(DID_SHAPE, frame.get("from")):
        return "from: must be a did:key"
    to = frame.get("to")
    if not isinstance(to, str) or not is_did_key(to):
        return "to: not an Ed25519 did:key"
    ts = frame.get("ts")
    if not is_integer(ts) or not 0 <= ts <= MAX_SAFE_INTEGER:
        return "ts: must be an integer"
    problem = _payload_problem(type_, frame.get("payload", _MISSING))
    if problem:
        return problem
    if not _match(SIGNATURE_PATTERN, frame.get("sig")):
        return "sig: must be 86 base64url characters (64 bytes)"
    return None


def meta_problem(meta: Any) -> str | None:
    """The first way ``meta`` breaks the REGISTER limits (docs/protocol.md §4), or None."""
    import json

    if not isinstance(meta, Mapping):
        return "meta must be an object"
    name = meta.get("name")
    if "name" in meta and not (isinstance(name, str) and utf16_len(name) <= MAX_META_NAME_CHARS):
        return f"meta.name must be a string of at most {MAX_META_NAME_CHARS} characters"
    caps = meta.get("capabilities")
    if "capabilities" in meta:
        if not isinstance(caps, (list, tuple)) or len(caps) > MAX_CAPABILITIES:
            return f"meta.capabilities must be a list of at most {MAX_CAPABILITIES} capabilities"
        for cap in caps:
            if not _match(CAPABILITY_PATTERN, cap):
                return f"meta.capabilities: {cap!r} is not 1-64 of [a-z0-9._:-]"
    try:
        size = len(json.dumps(meta, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError) as err:
        return f"meta is not JSON: {err}"
    if size > MAX_META_JSON_BYTES:
        return f"meta must be at most {MAX_META_JSON_BYTES} bytes as JSON"
    return None


@dataclass(frozen=True)
class Signal:
    """A signaling frame that passed every check: schema, addressed to this agent, fresh, not
    replayed, and signed by the key of its sender's DID.

    ``sender`` is the frame's ``from`` field; ``frame`` is the whole frame as parsed (``sig``
    included) and ``data`` the text as received.
    """

    type: SignalType
    id: str
    sender: str
    to: str
    ts: int
    payload: dict[str, Any]
    sig: str
    frame: dict[str, Any] = field(repr=False)
    data: str = field(repr=False)

    @classmethod
    def of(cls, frame: dict[str, Any], data: str) -> Signal:
        payload = frame.get("payload")
        return cls(
            type=frame["type"],
            id=frame["id"],
            sender=frame["from"],
            to=frame["to"],
            ts=int(frame["ts"]),
            payload=payload if isinstance(payload, dict) else {},
            sig=frame["sig"],
            frame=frame,
            data=data,
        )


@dataclass(frozen=True)
class Agent:
    """One entry of an AGENTS answer (DISCOVER)."""

    did: str
    meta: dict[str, Any]
    connected_at: str


class _IceServerBase(TypedDict):
    urls: list[str]


class IceServer(_IceServerBase, total=False):
    """An RTCIceServer: ``aiortc.RTCIceServer(**server)`` takes it as it is."""

    username: str
    credential: str


@dataclass(frozen=True)
class IceServers:
    """ICE servers (STUN, TURN with a credential for this agent) and when the TURN credential expires."""

    ice_servers: list[IceServer]
    #: ms since the epoch; None without TURN.
    expires_at: int | None


@dataclass(frozen=True)
class SessionInfo:
    """The registered session, from REGISTERED."""

    did: str
    session: str
    #: The gateway's id (CHALLENGE.gateway).
    gateway: str
    heartbeat_ms: int
    agent_timeout_ms: int
    #: True when this session replaces a lost one (automatic reconnect).
    reconnected: bool
    ice_servers: list[IceServer]
    ice_servers_expires_at: int | None


def ice_servers_of(value: Any) -> list[IceServer] | None:
    """The RTCIceServer list of REGISTERED/ICE_SERVERS (only urls, username, credential), or None when malformed."""
    if not isinstance(value, list):
        return None
    servers: list[IceServer] = []
    for entry in value:
        if not isinstance(entry, dict):
            return None
        urls = entry.get("urls")
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            return None
        server: IceServer = {"urls": list(urls)}
        for name in ("username", "credential"):
            if name in entry:
                if not isinstance(entry[name], str):
                    return None
                server[name] = entry[name]  # type: ignore[literal-required]
        servers.append(server)
    return servers
