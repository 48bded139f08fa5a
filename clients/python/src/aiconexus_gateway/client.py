"""GatewayClient: one agent's connection to an AIConexus gateway (docs/protocol.md §4–§8).

It registers with a signed REGISTER (only with a gateway whose CHALLENGE names the expected id),
signs every OFFER/ANSWER/ICE/BYE it sends, verifies every one it receives end to end against the
sender's DID before delivering it, answers DISCOVER/PING/GET_ICE_SERVERS by id, and reconnects
with backoff when a session is lost (not after close 4401 or 4409, unless asked to).

Verified frames are delivered two ways, use either or both: ``async for signal in client`` and
callbacks registered with :meth:`GatewayClient.on`.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import logging
import math
import random as _random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Literal, Mapping

import websockets

from . import frames as f
from .backoff import Backoff, backoff_delay
from .did import is_did_key
from .errors import (
    CLOSE_AUTH,
    CLOSE_REPLACED,
    AIConexusError,
    ClientError,
    ClosedError,
    ConnectFailedError,
    ConnectionClosedError,
    GatewayError,
    GATEWAY_ERRORS,
    GatewayMismatchError,
    InvalidArgumentError,
    NotConnectedError,
    ProtocolViolationError,
    RequestTimeoutError,
)
from .frames import Agent, IceServer, IceServers, SessionInfo, Signal, SignalType
from .jcs import loads
from .keys import KeyPair, b64url_encode
from .replay import ReplayLimits, ReplayMemory
from .verify import sign_frame, verify_frame

__all__ = ["GatewayClient", "DEFAULT_GATEWAY_ID", "InvalidFrame", "Disconnect", "Closed"]

log = logging.getLogger("aiconexus_gateway")

#: The gateway's default GATEWAY_ID, and the id a client expects unless told otherwise.
DEFAULT_GATEWAY_ID = "aiconexus-gateway"
#: Incoming signaling frames further than this (seconds) from the local clock are dropped.
DEFAULT_MAX_FRAME_AGE = 120.0
#: Replay window when max_frame_age is 0 (seconds).
REPLAY_WINDOW_WITHOUT_AGE_CHECK = 600.0
#: Signaling ids remembered to give an ERROR its request (type, target).
SENT_MEMORY = 256
#: A TURN credential is renewed when this share of its remaining lifetime has passed
#: (at most ICE_REFRESH_MAX_LEAD before it expires); a failed renewal is retried after ICE_REFRESH_RETRY.
ICE_REFRESH_AT_SHARE = 0.8
ICE_REFRESH_MAX_LEAD = 300.0
ICE_REFRESH_RETRY = 10.0
NORMAL_CLOSURE = 1000
ABNORMAL_CLOSURE = 1006

State = Literal["idle", "connecting", "connected", "reconnecting", "closed"]
#: Why an incoming frame was dropped (the TypeScript SDK's reasons).
InvalidReason = Literal["malformed", "schema", "wrong-recipient", "stale", "bad-signature", "replay", "replay-limit", "unexpected"]
Event = Literal[
    "offer", "answer", "ice", "bye", "signal", "invalid", "error", "connected", "disconnected", "reconnecting", "closed", "ice_servers"
]
#: A listener: called with the event's argument; when it returns an awaitable, that is run as a task.
Callback = Callable[[Any], object]


@dataclass(frozen=True)
class InvalidFrame:
    """An incoming frame that was dropped: why (``reason``), what (``frame`` if it parsed), as received (``data``)."""

    reason: InvalidReason
    message: str
    data: str | bytes = field(repr=False)
    frame: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class Disconnect:
    """A registered session ended: close ``code`` (1006 without a close frame), ``reason``, and whether a reconnect follows."""

    code: int
    reason: str
    will_reconnect: bool


@dataclass(frozen=True)
class Closed:
    """The client stopped for good; ``error`` says why when it gave up (authentication, mismatch, retries used up)."""

    reason: str
    code: int | None = None
    error: BaseException | None = None


_END = object()


class GatewayClient:
    """An agent's connection to a gateway.

    >>> async with GatewayClient("ws://127.0.0.1:8000/ws", KeyPair.generate(), meta={"name": "bot"}) as client:  # doctest: +SKIP
    ...     peers = await client.discover(capability="vision")
    ...     async for signal in client:
    ...         print(signal.type, "from", signal.sender)

    Times are in seconds. ``gateway_id`` is the GATEWAY_ID of the deployment you mean to use: a
    CHALLENGE naming another id makes the client close without signing anything
    (:class:`GatewayMismatchError`, never retried). ``reconnect`` is True (default policy), False,
    or a :class:`Backoff`.
    """

    def __init__(
        self,
        url: str,
        key: KeyPair,
        *,
        meta: Mapping[str, Any] | None = None,
        gateway_id: str | None = None,
        accept_any_gateway: bool = False,
        connect_timeout: float = 10.0,
        request_timeout: float = 10.0,
        reconnect: bool | Backoff = True,
        reconnect_on_auth_failure: bool = False,
        reconnect_on_replaced: bool = False,
        keepalive_interval: float | None = 20.0,
        max_frame_age: float = DEFAULT_MAX_FRAME_AGE,
        replay_limits: ReplayLimits | None = None,
        max_buffered_signals: int = 1024,
        clock: Callable[[], float] = time.time,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not isinstance(url, str) or not url.lower().startswith(("ws://", "wss://")):
            raise InvalidArgumentError(f"url must be a ws:// or wss:// URL (got {url!r})")
        if not isinstance(key, KeyPair):
            raise InvalidArgumentError("key must be a KeyPair (KeyPair.generate(), .load(), .from_raw(), .from_jwk())")
        if meta is not None:
            problem = f.meta_problem(meta)
            if problem:
                raise InvalidArgumentError(f"bad meta: {problem}")
        if accept_any_gateway and gateway_id is not None:
            raise InvalidArgumentError("gateway_id and accept_any_gateway cannot be used together")
        if gateway_id is not None and not (isinstance(gateway_id, str) and f.GATEWAY_ID_PATTERN.fullmatch(gateway_id)):
            raise InvalidArgumentError(f"gateway_id must be 1-128 printable ASCII characters without spaces (got {gateway_id!r})")
        self.url = url
        self.key = key
        self._meta = dict(meta) if meta is not None else None
        self._expected_gateway: str | None = None if accept_any_gateway else (gateway_id or DEFAULT_GATEWAY_ID)
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._reconnect: Backoff | None = Backoff() if reconnect is True else (reconnect or None)
        self._reconnect_on_auth_failure = reconnect_on_auth_failure
        self._reconnect_on_replaced = reconnect_on_replaced
        self._keepalive = keepalive_interval or None
        self._max_frame_age_ms = int(max_frame_age * 1000)
        self._seen = ReplayMemory(replay_limits)
        self._clock = clock
        self._random = random

        self._state: State = "idle"
        self._ws: Any = None
        self._info: SessionInfo | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._ice_refresher: asyncio.Task[None] | None = None
        self._connecting: asyncio.Future[SessionInfo] | None = None
        self._handshake_ws: Any = None
        self._user_closed = False
        self._pending: dict[str, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._sent: collections.OrderedDict[str, dict[str, str]] = collections.OrderedDict()
        self._listeners: dict[str, list[Callback]] = collections.defaultdict(list)
        self._callback_tasks: set[asyncio.Task[Any]] = set()
        self._buffer: collections.deque[Signal | object] = collections.deque(maxlen=max_buffered_signals)
        self._buffer_ready: asyncio.Event | None = None
        self._state_changed: asyncio.Event | None = None
        self._ice = IceServers([], None)
        #: Verified frames dropped because nobody iterated and the buffer was full.
        self.dropped_signals = 0

    # ───────────────────────── public API ─────────────────────────

    @property
    def did(self) -> str:
        """This agent's DID."""
        return self.key.did

    @property
    def state(self) -> State:
        """``idle`` → ``connecting`` → ``connected`` ⇄ ``reconnecting`` → ``closed``."""
        return self._state

    @property
    def session(self) -> SessionInfo | None:
        """The registered session, while connected."""
        return self._info

    @property
    def ice_servers(self) -> list[IceServer]:
        """The ICE servers for an RTCPeerConnection (empty when the gateway has none); renewed before a TURN credential expires."""
        return self._ice.ice_servers

    @property
    def ice_servers_expire_at(self) -> int | None:
        """When the TURN credential expires (ms since the epoch); None without TURN."""
        return self._ice.expires_at

    def on(self, event: Event, callback: Callback) -> Callable[[], None]:
        """Calls ``callback(arg)`` on ``event``; a coroutine function is run as a task. Returns a function that unsubscribes.

        Events and their argument: ``offer``/``answer``/``ice``/``bye``/``signal`` (:class:`Signal`, verified),
        ``invalid`` (:class:`InvalidFrame`), ``error`` (:class:`GatewayError` or :class:`ClientError`),
        ``connected`` (:class:`SessionInfo`), ``disconnected`` (:class:`Disconnect`), ``reconnecting``
        (``(attempt, delay)``), ``closed`` (:class:`Closed`), ``ice_servers`` (:class:`IceServers`).
        """
        self._listeners[event].append(callback)

        def off() -> None:
            if callback in self._listeners[event]:
                self._listeners[event].remove(callback)

        return off

    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Signal]:
        return self.signals()

    async def signals(self) -> AsyncIterator[Signal]:
        """Verified OFFER/ANSWER/ICE/BYE frames, from connect on, until the client is closed for good."""
        ready = self._event()
        while True:
            while self._buffer:
                item = self._buffer.popleft()
                if item is _END:
                    self._buffer.appendleft(_END)  # other iterators end too
                    return
                assert isinstance(item, Signal)
                yield item
            ready.clear()
            await ready.wait()

    async def connect(self) -> SessionInfo:
        """Connects and registers. Raises a :class:`GatewayError` (e.g. :class:`AuthFailedError`) or a
        :class:`ClientError` (:class:`ConnectFailedError`, :class:`GatewayMismatchError`, timeouts…);
        a failed first connect is not retried. Returns at once when already connected."""
        if self._state == "connected" and self._info is not None:
            return self._info
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        if self._state == "reconnecting":
            return await self._next_connected()
        self._user_closed = False
        self._state = "connecting"
        self._buffer_clear_end()
        self._connecting = asyncio.get_running_loop().create_future()
        try:
            info = await self._open_session(reconnected=False)
        except BaseException as err:
            if self._state == "connecting":
                self._state = "closed"
            if not self._connecting.done():
                self._connecting.set_exception(err)
                self._connecting.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            fut, self._connecting = self._connecting, None
        if fut is not None and not fut.done():
            fut.set_result(info)
        return info

    async def offer(self, to: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Sends a signed OFFER (``payload``: ``{"type": "offer", "sdp": ...}``); returns the frame sent."""
        return await self.signal("OFFER", to, payload)

    async def answer(self, to: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Sends a signed ANSWER (``payload``: ``{"type": "answer", "sdp": ...}``)."""
        return await self.signal("ANSWER", to, payload)

    async def ice(self, to: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Sends a signed ICE candidate (``{"candidate": "", ...}`` = end of candidates)."""
        return await self.signal("ICE", to, payload)

    async def bye(self, to: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Sends a signed BYE (``payload`` e.g. ``{"reason": "done"}``)."""
        return await self.signal("BYE", to, payload or {})

    async def signal(self, type: SignalType, to: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Signs and sends a signaling frame with a random id and a fresh ``ts``; returns it.

        The gateway answers only failures: they arrive as ``error`` events (a :class:`GatewayError`
        whose ``ref`` is the returned frame's ``id``)."""
        if type not in f.SIGNALING_TYPES:
            raise InvalidArgumentError(f"not a signaling type: {type!r}")
        if not isinstance(to, str) or not is_did_key(to):
            raise InvalidArgumentError(f'"to" is not an Ed25519 did:key: {to!r}')
        try:
            # Exactly what goes on the wire (tuples become lists, NaN is refused).
            body = loads(json.dumps(dict(payload), allow_nan=False))
        except (TypeError, ValueError) as err:
            raise InvalidArgumentError(f"payload is not JSON: {err}") from err
        ws = self._open_socket()
        frame = sign_frame(
            {"type": type, "id": _new_id(), "from": self.did, "to": to, "ts": self._now_ms(), "payload": body}, self.key
        )
        problem = f.signaling_problem(frame)
        if problem:
            raise InvalidArgumentError(f"bad {type}: {problem}")
        await ws.send(_dumps(frame))
        self._remember(frame["id"], type, to)
        return frame

    async def discover(self, capability: str | None = None, limit: int | None = None, *, timeout: float | None = None) -> list[Agent]:
        """Lists registered agents (DISCOVER → AGENTS), optionally those with ``capability``; default limit 100, max 1000."""
        if capability is not None and not (isinstance(capability, str) and f.CAPABILITY_PATTERN.fullmatch(capability)):
            raise InvalidArgumentError("capability must be 1-64 of [a-z0-9._:-]")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= f.DISCOVER_MAX_LIMIT):
            raise InvalidArgumentError(f"limit must be an integer 1-{f.DISCOVER_MAX_LIMIT}")
        frame: dict[str, Any] = {"type": "DISCOVER", "id": _new_id()}
        if capability is not None:
            frame["capability"] = capability
        if limit is not None:
            frame["limit"] = limit
        answer = await self._request(frame, "AGENTS", timeout)
        return [Agent(a["did"], a["meta"], a["connected_at"]) for a in answer["agents"]]

    async def ping(self, *, timeout: float | None = None) -> float:
        """Round trip of a PING to the gateway, in seconds."""
        start = time.monotonic()
        await self._request({"type": "PING", "id": _new_id()}, "PONG", timeout)
        return time.monotonic() - start

    async def refresh_ice_servers(self, *, timeout: float | None = None) -> IceServers:
        """Asks for the ICE servers again (GET_ICE_SERVERS → ICE_SERVERS): a fresh TURN credential."""
        answer = await self._request({"type": "GET_ICE_SERVERS", "id": _new_id()}, "ICE_SERVERS", timeout)
        servers = f.ice_servers_of(answer["ice_servers"]) or []
        self._set_ice(IceServers(servers, answer["expires_at"]))
        self._emit("ice_servers", self._ice)
        return self._ice

    async def close(self) -> None:
        """Closes the connection and stops reconnecting; pending requests raise :class:`ClosedError`."""
        self._user_closed = True
        was_connected = self._state == "connected"
        already_closed = self._state in ("closed", "idle")
        ws, self._ws = self._ws, None
        self._info = None
        self._state = "closed"
        for task in (self._reconnector, self._ice_refresher):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self._reconnector = self._ice_refresher = None
        self._reject_pending(ClosedError("client closed"))
        if was_connected:
            self._emit("disconnected", Disconnect(NORMAL_CLOSURE, "client closed", False))
        if not already_closed:
            self._emit("closed", Closed("client closed", NORMAL_CLOSURE))
        self._end_signals()
        reader, self._reader = self._reader, None
        if self._handshake_ws is not None:  # a handshake in progress fails with ClosedError
            await _close_quietly(self._handshake_ws)
        if ws is not None:
            await _close_quietly(ws)
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    # ───────────────────────── connection ─────────────────────────

    async def _open_session(self, reconnected: bool) -> SessionInfo:
        try:
            return await asyncio.wait_for(self._handshake(reconnected), self._connect_timeout)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(f"no REGISTERED from {self.url} within {self._connect_timeout} s") from None

    async def _handshake(self, reconnected: bool) -> SessionInfo:
        try:
            ws = await websockets.connect(  # type: ignore[attr-defined]
                self.url,
                compression=None,
                open_timeout=None,
                ping_interval=self._keepalive,
                ping_timeout=self._keepalive,
                close_timeout=1,
                max_size=2**20,
            )
        except (OSError, websockets.InvalidHandshake, websockets.InvalidURI) as err:  # type: ignore[attr-defined]
            raise ConnectFailedError(f"cannot reach gateway at {self.url}: {err}") from err
        self._handshake_ws = ws
        try:
            if self._user_closed:
                raise ClosedError("client closed")
            gateway = await self._expect_challenge(ws)
            register: dict[str, Any] = {"type": "REGISTER", "did": self.did, "nonce": gateway[1], "aud": gateway[0], "ts": self._now_ms()}
            if self._meta is not None:
                register["meta"] = self._meta
            await ws.send(_dumps(sign_frame(register, self.key)))
            registered = await self._recv_handshake(ws, "REGISTERED")
            if not _valid_registered(registered) or registered["did"] != self.did:
                raise ProtocolViolationError(f"bad REGISTERED: {registered!r:.200}")
        except websockets.ConnectionClosed as err:  # type: ignore[attr-defined]
            if self._user_closed:
                raise ClosedError("client closed") from None
            code, reason = _close_of(err)
            raise ConnectionClosedError(f"gateway closed the connection during the handshake ({code} {reason})".rstrip(), close_code=code) from None
        except BaseException:
            await _close_quietly(ws)
            raise
        finally:
            self._handshake_ws = None
        if self._user_closed:
            await _close_quietly(ws)
            raise ClosedError("client closed")
        servers = f.ice_servers_of(registered.get("ice_servers", [])) or []
        expires = registered.get("ice_servers_expires_at")
        info = SessionInfo(
            did=self.did,
            session=registered["session"],
            gateway=gateway[0],
            heartbeat_ms=int(registered["heartbeat_ms"]),
            agent_timeout_ms=int(registered["agent_timeout_ms"]),
            reconnected=reconnected,
            ice_servers=servers,
            ice_servers_expires_at=int(expires) if f.is_integer(expires) else None,
        )
        self._ws = ws
        self._info = info
        self._state = "connected"
        self._reader = asyncio.get_running_loop().create_task(self._read(ws))
        self._set_ice(IceServers(servers, info.ice_servers_expires_at))
        self._emit("connected", info)
        self._notify()
        return info

    async def _expect_challenge(self, ws: Any) -> tuple[str, str]:
        frame = await self._recv_handshake(ws, "CHALLENGE")
        if frame.get("protocol") != f.PROTOCOL_VERSION or not all(
            isinstance(frame.get(k), str) for k in ("gateway", "nonce")
        ) or not f.is_integer(frame.get("expires_in_ms")):
            raise ProtocolViolationError(f"bad CHALLENGE (protocol {frame.get('protocol')!r})")
        gateway: str = frame["gateway"]
        # Pinning: a REGISTER signed for another deployment's CHALLENGE would let whoever relayed
        # it register there as this agent. Nothing is signed before this check.
        if self._expected_gateway is not None and gateway != self._expected_gateway:
            raise GatewayMismatchError(self.url, self._expected_gateway, gateway)
        return gateway, frame["nonce"]

    async def _recv_handshake(self, ws: Any, expected: str) -> dict[str, Any]:
        data = await ws.recv()
        try:
            frame = loads(data) if isinstance(data, str) else None
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise ProtocolViolationError(f"expected {expected}, got a frame that is not a JSON object with a type")
        if frame["type"] == "ERROR":
            err = self._to_error(frame, data)
            if err is not None:
                self._emit("error", err)
                raise err
            raise ProtocolViolationError("bad ERROR frame during the handshake")
        if frame["type"] != expected:
            raise ProtocolViolationError(f"unexpected {frame['type']} frame during the handshake")
        return frame

    async def _read(self, ws: Any) -> None:
        code, reason = ABNORMAL_CLOSURE, ""
        try:
            async for data in ws:
                try:
                    self._on_message(data)
                except Exception:  # a bug here must not end the session silently
                    log.exception("could not handle a frame from the gateway")
        except websockets.ConnectionClosed as err:  # type: ignore[attr-defined]
            code, reason = _close_of(err)
        except asyncio.CancelledError:
            raise
        else:
            code, reason = _close_of_ws(ws)
        if ws is self._ws:
            self._ws = None
            self._lost_session(code, reason)

    def _lost_session(self, code: int, reason: str) -> None:
        self._info = None
        if self._ice_refresher is not None:
            self._ice_refresher.cancel()
            self._ice_refresher = None
        self._reject_pending(ConnectionClosedError(f"connection closed ({code} {reason})".rstrip(), close_code=code))
        retry = not self._user_closed and (
            self._reconnect_on_auth_failure if code == CLOSE_AUTH else self._reconnect_on_replaced if code == CLOSE_REPLACED else True
        )
        will = retry and self._reconnect is not None and self._reconnect.max_attempts > 0
        self._emit("disconnected", Disconnect(code, reason, will))
        if will:
            self._state = "reconnecting"
            self._reconnector = asyncio.get_running_loop().create_task(self._reconnect_loop())
        else:
            self._stop(Closed(f"{code} {reason}".rstrip(), code))

    async def _reconnect_loop(self) -> None:
        policy = self._reconnect
        assert policy is not None
        attempt = 0
        last: BaseException | None = None
        while not self._user_closed:
            if attempt >= policy.max_attempts:
                self._stop(Closed(f"gave up after {attempt} reconnect attempts", error=last))
                return
            delay = backoff_delay(attempt, policy, self._random)
            attempt += 1
            self._state = "reconnecting"
            self._emit("reconnecting", (attempt, delay))
            await asyncio.sleep(delay)
            if self._user_closed:
                return
            try:
                await self._open_session(reconnected=True)
                self._reconnector = None
                return
            except AIConexusError as err:
                last = err
                auth = (isinstance(err, GatewayError) and err.close_code == CLOSE_AUTH) or (
                    isinstance(err, ClientError) and err.close_code == CLOSE_AUTH
                )
                if isinstance(err, GatewayMismatchError):
                    self._stop(Closed("gateway id mismatch", error=err))
                    return
                if auth and not self._reconnect_on_auth_failure:
                    self._stop(Closed("authentication failed", CLOSE_AUTH, err))
                    return
            except Exception as err:  # not expected; keep retrying rather than hang in "reconnecting"
                log.exception("reconnect attempt failed")
                last = err

    def _stop(self, info: Closed) -> None:
        self._state = "closed"
        self._reconnector = None
        self._emit("closed", info)
        self._end_signals()
        self._notify()

    async def _next_connected(self) -> SessionInfo:
        while True:
            if self._state == "connected" and self._info is not None:
                return self._info
            if self._state == "closed":
                raise ClosedError("client closed")
            changed = self._state_event()
            changed.clear()
            await changed.wait()

    # ───────────────────────── inbound ─────────────────────────

    def _on_message(self, data: str | bytes) -> None:
        if not isinstance(data, str):
            return self._invalid("malformed", "binary frame", data)
        try:
            frame = loads(data)
        except ValueError as problem:
            return self._invalid("malformed", f"frame is not JSON ({problem})", data)
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return self._invalid("malformed", 'frame is not an object with a string "type"', data, frame)
        type_ = frame["type"]
        if type_ in f.SIGNALING_TYPES:
            return self._on_signal(frame, data)
        if type_ in ("AGENTS", "PONG", "ICE_SERVERS"):
            if not _valid_answer(type_, frame):
                return self._invalid("unexpected", f"bad {type_}", data, frame)
            ref = frame["ref"]
            pending = self._pending.get(ref) if isinstance(ref, str) else None
            if pending is None or pending[0] != type_:
                return  # an answer nobody waits for (its request timed out)
            del self._pending[ref]
            if not pending[1].done():
                pending[1].set_result(frame)
            return
        if type_ == "ERROR":
            err = self._to_error(frame, data)
            if err is None:
                return
            ref = frame.get("ref")
            if isinstance(ref, str) and ref in self._pending:
                _, fut = self._pending.pop(ref)
                if not fut.done():
                    fut.set_exception(err)
            self._emit("error", err)
            return
        self._invalid("unexpected", f"unexpected {type_} frame", data, frame)

    def _on_signal(self, frame: dict[str, Any], data: str) -> None:
        """Verifies a signaling frame end to end, then delivers it; otherwise reports it as invalid."""
        type_ = frame["type"]
        problem = f.signaling_problem(frame)
        if problem:
            return self._invalid("schema", f"bad {type_}: {problem}", data, frame)
        sender, to, ts, id_ = frame["from"], frame["to"], int(frame["ts"]), frame["id"]
        if to != self.did:
            return self._invalid("wrong-recipient", f"{type_} {id_} is addressed to {to}", data, frame)
        now = self._now_ms()
        if self._max_frame_age_ms > 0 and abs(now - ts) > self._max_frame_age_ms:
            return self._invalid("stale", f"{type_} {id_} has ts {ts}, outside {self._max_frame_age_ms} ms", data, frame)
        # Replay memory first: a frame it refuses is dropped whatever its signature, without the cost of verifying.
        verdict = self._seen.check(sender, id_, now)
        if verdict == "replay":
            return self._invalid("replay", f"{type_} {id_} from {sender} was already received", data, frame)
        if verdict == "sender-full":
            return self._invalid(
                "replay-limit", f"{type_} {id_} from {sender} refused: {self._seen.limits.per_sender} ids of this sender are inside their replay window", data, frame
            )
        if verdict == "full":
            return self._invalid(
                "replay-limit", f"{type_} {id_} from {sender} refused: the replay memory holds {self._seen.limits.total} ids inside their window", data, frame
            )
        # Verify the parsed object: its JCS form is exactly what the sender signed, whatever the bytes' layout.
        if not verify_frame(frame, sender):
            return self._invalid("bad-signature", f"{type_} {id_}: signature does not verify with the key of {sender}", data, frame)
        window = self._max_frame_age_ms if self._max_frame_age_ms > 0 else int(REPLAY_WINDOW_WITHOUT_AGE_CHECK * 1000)
        self._seen.add(sender, id_, max(ts, now) + window)
        signal = Signal.of(frame, data)
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped_signals += 1
        self._buffer.append(signal)
        self._notify()
        self._emit(type_.lower(), signal)
        self._emit("signal", signal)

    def _to_error(self, frame: dict[str, Any], data: str) -> GatewayError | ClientError | None:
        code, message, ref = frame.get("code"), frame.get("message"), frame.get("ref")
        if not isinstance(code, str) or not isinstance(message, str) or not (ref is None or isinstance(ref, str)):
            self._invalid("unexpected", "bad ERROR", data, frame)
            return None
        if code not in GATEWAY_ERRORS:
            return ProtocolViolationError(f"gateway sent unknown error code {code}: {message}")
        return GatewayError.from_frame(code, message, ref, self._sent.get(ref) if ref is not None else None)

    def _invalid(self, reason: InvalidReason, message: str, data: str | bytes, frame: Any = None) -> None:
        self._emit("invalid", InvalidFrame(reason, message, data, frame))

    # ───────────────────────── requests and helpers ─────────────────────────

    async def _request(self, frame: dict[str, Any], expect: str, timeout: float | None) -> dict[str, Any]:
        ws = self._open_socket()
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[frame["id"]] = (expect, fut)
        wait = self._request_timeout if timeout is None else timeout
        try:
            await ws.send(_dumps(frame))
            return await asyncio.wait_for(asyncio.shield(fut), wait)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(f"no {expect} for {frame['type']} {frame['id']} within {wait} s") from None
        except websockets.ConnectionClosed as err:  # type: ignore[attr-defined]
            code, reason = _close_of(err)
            raise ConnectionClosedError(f"connection closed ({code} {reason})".rstrip(), close_code=code) from None
        finally:
            self._pending.pop(frame["id"], None)

    def _reject_pending(self, err: Exception) -> None:
        pending, self._pending = self._pending, {}
        for _, fut in pending.values():
            if not fut.done():
                fut.set_exception(err)
                fut.exception()

    def _open_socket(self) -> Any:
        if self._ws is None or self._state != "connected":
            raise NotConnectedError(f"not connected (state: {self._state})")
        return self._ws

    def _remember(self, frame_id: str, type_: str, to: str) -> None:
        self._sent[frame_id] = {"type": type_, "to": to}
        while len(self._sent) > SENT_MEMORY:
            self._sent.popitem(last=False)

    def _set_ice(self, ice: IceServers) -> None:
        self._ice = ice
        if self._ice_refresher is not None and self._ice_refresher is not asyncio.current_task():
            self._ice_refresher.cancel()
        self._ice_refresher = None
        if ice.expires_at is not None and self._ws is not None:
            left = ice.expires_at / 1000 - self._clock()
            delay = max(left * ICE_REFRESH_AT_SHARE, left - ICE_REFRESH_MAX_LEAD)
            self._ice_refresher = asyncio.get_running_loop().create_task(self._refresh_ice_later(max(0.0, delay)))

    async def _refresh_ice_later(self, delay: float) -> None:
        while True:
            await asyncio.sleep(delay)
            try:
                await self.refresh_ice_servers()
                return
            except AIConexusError:
                expires = self._ice.expires_at
                if self._ws is None or expires is None or expires / 1000 - self._clock() <= ICE_REFRESH_RETRY:
                    return
                delay = ICE_REFRESH_RETRY

    def _emit(self, event: str, arg: Any) -> None:
        for callback in list(self._listeners.get(event, ())):
            try:
                result = callback(arg)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._callback_tasks.add(task)
                    task.add_done_callback(self._callback_done)
            except Exception:  # a listener's bug must not break the client
                log.exception("listener for %r raised", event)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("listener task raised", exc_info=task.exception())

    def _event(self) -> asyncio.Event:
        if self._buffer_ready is None:
            self._buffer_ready = asyncio.Event()
        return self._buffer_ready

    def _state_event(self) -> asyncio.Event:
        if self._state_changed is None:
            self._state_changed = asyncio.Event()
        return self._state_changed

    def _notify(self) -> None:
        self._event().set()
        self._state_event().set()

    def _end_signals(self) -> None:
        if not self._buffer or self._buffer[-1] is not _END:
            if len(self._buffer) == self._buffer.maxlen:
                self._buffer.popleft()
            self._buffer.append(_END)
        self._notify()

    def _buffer_clear_end(self) -> None:
        if self._buffer and self._buffer[-1] is _END:
            self._buffer.pop()

    def _now_ms(self) -> int:
        return math.floor(self._clock() * 1000)


def _new_id() -> str:
    """A random frame id: 16 bytes, base64url (22 characters of [A-Za-z0-9_-])."""
    return b64url_encode(secrets.token_bytes(16))


def _dumps(frame: Mapping[str, Any]) -> str:
    text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: send it as an escape, as JavaScript would
        text = json.dumps(frame, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text


def _close_of(err: Any) -> tuple[int, str]:
    rcvd = getattr(err, "rcvd", None)
    if rcvd is not None:
        return int(rcvd.code), str(rcvd.reason)
    return ABNORMAL_CLOSURE, ""


def _close_of_ws(ws: Any) -> tuple[int, str]:
    code = getattr(ws, "close_code", None)
    return (int(code) if code is not None else ABNORMAL_CLOSURE), str(getattr(ws, "close_reason", "") or "")


async def _close_quietly(ws: Any) -> None:
    try:
        await asyncio.wait_for(ws.close(NORMAL_CLOSURE, "client closing"), 2)
    except (asyncio.TimeoutError, OSError, websockets.WebSocketException):  # type: ignore[attr-defined]
        pass


def _valid_registered(frame: Mapping[str, Any]) -> bool:
    if not (
        isinstance(frame.get("did"), str)
        and isinstance(frame.get("session"), str)
        and f.is_integer(frame.get("heartbeat_ms"))
        and f.is_integer(frame.get("agent_timeout_ms"))
    ):
        return False
    if "ice_servers" in frame and f.ice_servers_of(frame["ice_servers"]) is None:
        return False
    expires = frame.get("ice_servers_expires_at")
    return expires is None or f.is_integer(expires)


def _valid_answer(type_: str, frame: Mapping[str, Any]) -> bool:
    ref = frame.get("ref")
    if not (ref is None or isinstance(ref, str)):
        return False
    if type_ == "PONG":
        return f.is_integer(frame.get("ts"))
    if type_ == "ICE_SERVERS":
        expires = frame.get("expires_at")
        return f.ice_servers_of(frame.get("ice_servers")) is not None and (expires is None or f.is_integer(expires))
    agents = frame.get("agents")
    return isinstance(agents, list) and all(
        isinstance(a, dict) and isinstance(a.get("did"), str) and isinstance(a.get("meta"), dict) and isinstance(a.get("connected_at"), str)
        for a in agents
    )
