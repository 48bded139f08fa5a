"""The client's own checks against a hostile gateway: every received signaling frame is verified
end to end, and dropped as the TypeScript SDK drops it (test/client/verification.test.ts), with
the same reasons; gateway-id pinning; the reconnect policy by close code; ERROR frames."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, AsyncIterator, Callable

import pytest
from conftest import NodeAgent
from hostile_gateway import Connection, HostileGateway

from aiconexus_gateway import (
    Backoff,
    BadFrameError,
    Closed,
    ClosedError,
    ConnectFailedError,
    GatewayClient,
    GatewayMismatchError,
    IceServers,
    InvalidArgumentError,
    InvalidFrame,
    KeyPair,
    NotConnectedError,
    ProtocolViolationError,
    RateLimitedError,
    ReplayLimits,
    Signal,
    sign_frame,
)
from aiconexus_gateway.client import Event
from aiconexus_gateway.did import did_from_public_key
from aiconexus_gateway.ed25519 import L
from aiconexus_gateway.keys import b64url_decode, b64url_encode

FAST = Backoff(base_delay=0.005, max_delay=0.02)


def offer_from(sender: KeyPair, to: str, frame_id: str | None = None, **override: Any) -> dict[str, Any]:
    frame = {"type": "OFFER", "id": frame_id or f"o-{time.monotonic_ns()}", "from": sender.did, "to": to, "ts": int(time.time() * 1000), "payload": {"type": "offer", "sdp": "v=0\r\n"}}
    frame.update(override)
    return sign_frame(frame, sender)


def zero_signature_frame(public_key: bytes, to: str) -> dict[str, Any]:
    """A frame "from" the DID of ``public_key`` with R = identity, S = 0: valid under OpenSSL's
    lenient rules for the identity key (in any encoding), whatever the message."""
    frame = {"type": "OFFER", "id": f"z-{time.monotonic_ns()}", "from": did_from_public_key(public_key), "to": to, "ts": int(time.time() * 1000), "payload": {"type": "offer", "sdp": "v=0\r\n"}}
    frame["sig"] = b64url_encode(bytes([1]) + bytes(63))
    return frame


def malleated(frame: dict[str, Any]) -> dict[str, Any]:
    """The same frame with S replaced by S + L: the same signature equation, a non-canonical S."""
    sig = b64url_decode(frame["sig"])
    s = int.from_bytes(sig[32:], "little") + L
    return {**frame, "sig": b64url_encode(sig[:32] + s.to_bytes(32, "little"))}


class Recorder:
    """Events of a client in order: ``offer``, ``signal``, ``invalid:<reason>``… and a queue to wait on."""

    def __init__(self, client: GatewayClient) -> None:
        self.log: list[tuple[str, Any]] = []
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        events: tuple[Event, ...] = ("offer", "answer", "ice", "bye", "signal", "invalid", "error", "connected", "disconnected", "reconnecting", "closed")
        for event in events:
            client.on(event, self._listener(event))

    def _listener(self, event: str) -> Callable[[Any], None]:
        return lambda arg: self._add(event, arg)

    def _add(self, event: str, arg: Any) -> None:
        name = f"invalid:{arg.reason}" if isinstance(arg, InvalidFrame) else event
        self.log.append((name, arg))
        self.queue.put_nowait((name, arg))

    async def wait_for(self, name: str, timeout: float = 10.0) -> Any:
        async def find() -> Any:
            while True:
                event, arg = await self.queue.get()
                if event == name:
                    return arg

        return await asyncio.wait_for(find(), timeout)

    def names(self) -> list[str]:
        return [name for name, _ in self.log]


CLIENTS: list[GatewayClient] = []


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    """Every client a test starts is closed after it (before its hostile gateway goes away)."""
    yield
    for client in CLIENTS:
        await client.close()
    CLIENTS.clear()


async def connect_client(fake: HostileGateway, **options: Any) -> tuple[GatewayClient, Connection, Recorder]:
    """A client registered with ``fake``, its connection there, and a recorder of what it does from then on."""
    options.setdefault("reconnect", FAST)
    client = GatewayClient(fake.url, KeyPair.generate(), gateway_id=fake.gateway_id, **options)
    CLIENTS.append(client)
    await client.connect()
    return client, await fake.next_connection(), Recorder(client)


async def verdict(recorder: Recorder, conn: Connection, frame: dict[str, Any] | str) -> str:
    """Sends ``frame`` and returns what the client made of it: ``emitted`` or the invalid reason."""
    start = len(recorder.log)
    await conn.send(frame)

    async def settle() -> str:
        while True:
            for name, _ in recorder.log[start:]:
                if name == "signal":
                    return "emitted"
                if name.startswith("invalid:"):
                    return name.removeprefix("invalid:")
            await recorder.queue.get()

    return await asyncio.wait_for(settle(), 10)


async def test_register_is_signed_and_answers_the_challenge() -> None:
    async with HostileGateway() as fake:
        before = int(time.time() * 1000)
        client, conn, _ = await connect_client(fake, meta={"name": "bot", "capabilities": ["chat"]})
        register = conn.frames[0]
        assert {k: register[k] for k in ("type", "did", "nonce", "aud", "meta")} == {
            "type": "REGISTER", "did": client.did, "nonce": conn.nonce, "aud": "hostile-gateway", "meta": {"name": "bot", "capabilities": ["chat"]},
        }
        assert isinstance(register["ts"], int) and register["ts"] >= before
        await client.close()


async def test_bad_frames_are_dropped_as_the_typescript_sdk_drops_them() -> None:
    async with HostileGateway() as fake:
        client, conn, rec = await connect_client(fake)
        peer, mallory = KeyPair.generate(), KeyPair.generate()
        me = client.did
        good = offer_from(peer, me, "good-1")
        forged = {**offer_from(mallory, me), "from": peer.did}  # signed by mallory, claims to be peer
        tampered = {**offer_from(peer, me), "payload": {"type": "offer", "sdp": "v=0\r\nevil"}}
        misaddressed = offer_from(peer, KeyPair.generate().did)
        stale = offer_from(peer, me, ts=int(time.time() * 1000) - 10 * 60_000)
        no_sdp = sign_frame({"type": "ANSWER", "id": "a-1", "from": peer.did, "to": me, "ts": int(time.time() * 1000), "payload": {}}, peer)
        extra_field = offer_from(peer, me, extra=True)
        last = sign_frame({"type": "BYE", "id": "bye-1", "from": peer.did, "to": me, "ts": int(time.time() * 1000), "payload": {}}, peer)
        for frame in (good, forged, tampered, misaddressed, stale, no_sdp, extra_field, good):
            await conn.send(frame)
        await conn.send("not json")
        await conn.send("[1,2]")
        await conn.send('{"type":"OFFER","type":"BYE"}')  # a repeated key
        await conn.send(last)
        bye: Signal = await rec.wait_for("bye")
        assert bye.frame == last and bye.sender == peer.did

        assert rec.names() == [
            "offer", "signal",
            "invalid:bad-signature", "invalid:bad-signature", "invalid:wrong-recipient", "invalid:stale",
            "invalid:schema", "invalid:schema", "invalid:replay",
            "invalid:malformed", "invalid:malformed", "invalid:malformed",
            "bye", "signal",
        ]  # fmt: skip
        assert rec.log[0][1].frame == good
        forged_info: InvalidFrame = rec.log[2][1]
        assert forged_info.frame == forged and peer.did in forged_info.message
        await client.close()


async def test_small_order_keys_and_malleated_signatures_are_refused() -> None:
    async with HostileGateway() as fake:
        client, conn, rec = await connect_client(fake)
        peer = KeyPair.generate()
        me = client.did
        identity = bytes([1]) + bytes(31)
        identity_non_canonical = bytes([0xEE]) + b"\xff" * 30 + b"\x7f"
        order_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
        # OpenSSL alone (cryptography) would accept the first two: see test_keys.py.
        assert await verdict(rec, conn, zero_signature_frame(identity, me)) == "bad-signature"
        assert await verdict(rec, conn, zero_signature_frame(identity_non_canonical, me)) == "bad-signature"
        assert await verdict(rec, conn, zero_signature_frame(order_8, me)) == "bad-signature"
        # S + L: same equation, non-canonical S; refused, and it does not use up the id…
        good = offer_from(peer, me, "m-1")
        assert await verdict(rec, conn, malleated(good)) == "bad-signature"
        # …so the genuine frame with that id still passes, once.
        assert await verdict(rec, conn, good) == "emitted"
        assert await verdict(rec, conn, good) == "replay"
        # A signature whose last character is not canonical (A/Q/g/w): schema.
        assert await verdict(rec, conn, {**offer_from(peer, me), "sig": "B" * 86}) == "schema"
        await client.close()


async def test_the_replay_memory_refuses_rather_than_forgets() -> None:
    async with HostileGateway() as fake:
        clock = [time.time()]
        t0 = clock[0]
        client, conn, rec = await connect_client(fake, clock=lambda: clock[0], max_frame_age=60, replay_limits=ReplayLimits(per_sender=2, total=4))
        peer, mallory, newcomer = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()

        def frame(sender: KeyPair, frame_id: str, ts: float | None = None) -> dict[str, Any]:
            return offer_from(sender, client.did, frame_id, ts=int((clock[0] if ts is None else ts) * 1000))

        assert await verdict(rec, conn, frame(peer, "p1")) == "emitted"
        assert await verdict(rec, conn, frame(peer, "p2")) == "emitted"
        assert await verdict(rec, conn, frame(peer, "p3")) == "replay-limit"  # 2 live ids of peer
        assert await verdict(rec, conn, frame(mallory, "m1")) == "emitted"
        assert await verdict(rec, conn, frame(mallory, "m2")) == "emitted"
        # A flood of frames from freshly minted DIDs cannot push p1 out of the memory.
        for i in range(20):
            assert await verdict(rec, conn, frame(KeyPair.generate(), f"f{i}")) == "replay-limit"
        assert await verdict(rec, conn, frame(peer, "p1", t0)) == "replay"
        clock[0] = t0 + 59.999
        assert await verdict(rec, conn, frame(newcomer, "n1")) == "replay-limit"
        assert await verdict(rec, conn, frame(peer, "p1", t0)) == "replay"
        clock[0] = t0 + 60.001  # past every window: the old frame is stale now, and there is room again
        assert await verdict(rec, conn, frame(peer, "p1", t0)) == "stale"
        assert await verdict(rec, conn, frame(newcomer, "n1")) == "emitted"
        await client.close()


async def test_a_challenge_of_another_deployment_is_refused_before_signing_anything() -> None:
    async with HostileGateway(gateway_id="other-deployment", register=False) as fake:
        client = GatewayClient(fake.url, KeyPair.generate(), connect_timeout=5)
        CLIENTS.append(client)
        with pytest.raises(GatewayMismatchError) as caught:
            await client.connect()
        assert (caught.value.code, caught.value.expected, caught.value.received) == ("GATEWAY_MISMATCH", "aiconexus-gateway", "other-deployment")
        assert client.state == "closed"
        [conn] = fake.connections
        assert await asyncio.wait_for(conn.closed, 5) == 1000
        assert conn.frames == []  # nothing signed, nothing sent


async def test_on_a_reconnect_a_relayed_challenge_stops_the_client() -> None:
    async with HostileGateway() as fake:
        client, conn, rec = await connect_client(fake)
        fake.gateway_id = "other-deployment"
        await conn.close(1001, "bye")
        closed: Closed = await rec.wait_for("closed")
        assert closed.reason == "gateway id mismatch" and isinstance(closed.error, GatewayMismatchError)
        assert rec.names()[:3] == ["disconnected", "reconnecting", "closed"]
        assert len(fake.connections) == 2 and fake.connections[1].frames == []


@pytest.mark.parametrize("code", [4401, 4409])
async def test_no_reconnect_after_4401_or_4409(code: int) -> None:
    async with HostileGateway() as fake:
        client, conn, rec = await connect_client(fake)
        await conn.close(code, "no")
        closed: Closed = await rec.wait_for("closed")
        assert closed.code == code
        assert rec.names() == ["disconnected", "closed"]
        assert rec.log[0][1].will_reconnect is False
        assert client.state == "closed" and len(fake.connections) == 1
        # The async iterator of frames ends with the client.
        assert [s async for s in client] == []


async def test_reconnects_with_backoff_after_other_closes_and_when_asked_after_4409() -> None:
    async with HostileGateway() as fake:
        client, conn, rec = await connect_client(fake, reconnect_on_replaced=True)
        await conn.close(1001, "going away")
        info = await rec.wait_for("connected")
        assert info.reconnected is True
        again = await fake.next_connection()
        assert again.did == client.did
        await again.close(4409, "session replaced")
        assert (await rec.wait_for("connected")).reconnected is True
        assert await client.ping() < 5
        assert rec.names() == ["disconnected", "reconnecting", "connected", "disconnected", "reconnecting", "connected"]
        await client.close()


async def test_gives_up_after_max_attempts() -> None:
    async with HostileGateway() as fake:
        client, conn, rec = await connect_client(fake, reconnect=Backoff(base_delay=0.001, max_delay=0.005, max_attempts=2), connect_timeout=0.5)
        fake.register = False  # the next handshakes never finish: each attempt times out
        await conn.close(1001, "bye")
        closed: Closed = await rec.wait_for("closed")
        assert closed.reason == "gave up after 2 reconnect attempts"
        assert rec.names() == ["disconnected", "reconnecting", "reconnecting", "closed"]


async def test_error_frames_raise_from_the_request_they_answer() -> None:
    async with HostileGateway() as fake:
        client, conn, rec = await connect_client(fake)
        with pytest.raises(BadFrameError) as caught:
            await client.discover(capability="x")
        assert caught.value.message == "no discovery here" and caught.value.close_code is None
        assert (await rec.wait_for("error")) is caught.value
        await conn.send({"type": "ERROR", "code": "RATE_LIMITED", "message": "slow down", "ref": None})
        assert isinstance(await rec.wait_for("error"), RateLimitedError)
        await conn.send({"type": "ERROR", "code": "FROM_THE_FUTURE", "message": "?", "ref": None})
        assert isinstance(await rec.wait_for("error"), ProtocolViolationError)
        assert client.state == "connected"
        await client.close()


async def test_a_gateway_that_cannot_be_reached_is_connect_failed() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = GatewayClient(f"ws://127.0.0.1:{port}/ws", KeyPair.generate())
    with pytest.raises(ConnectFailedError):
        await client.connect()
    assert client.state == "closed"


async def test_accept_any_gateway_and_bad_options() -> None:
    async with HostileGateway(gateway_id="other-deployment") as fake:
        client = GatewayClient(fake.url, KeyPair.generate(), accept_any_gateway=True)
        CLIENTS.append(client)
        assert (await client.connect()).gateway == "other-deployment"
        assert (await fake.next_connection()).frames[0]["aud"] == "other-deployment"
    key = KeyPair.generate()
    bad: list[dict[str, Any]] = [
        {"gateway_id": "x", "accept_any_gateway": True},
        {"gateway_id": "with space"},
        {"gateway_id": "x" * 129},
        {"gateway_id": "caf\u00e9"},
        {"meta": {"capabilities": ["Not Valid"]}},
        {"meta": {"name": "n" * 65}},
    ]
    for options in bad:
        with pytest.raises(InvalidArgumentError):
            GatewayClient("ws://127.0.0.1:1/ws", key, **options)
    with pytest.raises(InvalidArgumentError):
        GatewayClient("http://127.0.0.1:1/ws", key)
    with pytest.raises(ValueError):
        GatewayClient("ws://127.0.0.1:1/ws", key, replay_limits=ReplayLimits(per_sender=0))


async def test_sending_checks_its_arguments_and_needs_a_session() -> None:
    async with HostileGateway() as fake:
        client, conn, rec = await connect_client(fake)
        peer = KeyPair.generate().did
        bad: list[tuple[str, dict[str, Any]]] = [
            ("did:key:nope", {"sdp": ""}),
            (peer, {"sdp": float("nan")}),
            (peer, {"sdp": b"bytes"}),
            (peer, {"sdp": "x" * 32769}),
            (peer, {}),
        ]
        for to, payload in bad:
            with pytest.raises(InvalidArgumentError):
                await client.offer(to, payload)
        with pytest.raises(InvalidArgumentError):
            await client.discover(limit=0)
        await client.close()
        with pytest.raises(NotConnectedError):
            await client.offer(peer, {"sdp": ""})


async def test_async_callbacks_run_and_ice_servers_are_renewed_before_they_expire() -> None:
    async with HostileGateway() as fake:
        turn = {"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "c"}
        fake.registered_extra = {"ice_servers": [turn], "ice_servers_expires_at": int((time.time() + 1.0) * 1000)}
        later = int((time.time() + 3600) * 1000)
        fake.ice_servers_answer = {"ice_servers": [{**turn, "credential": "fresh"}], "expires_at": later}
        renewed: asyncio.Future[IceServers] = asyncio.get_running_loop().create_future()

        async def on_ice_servers(info: IceServers) -> None:
            await asyncio.sleep(0)  # a coroutine function: run as a task
            renewed.set_result(info)

        client, conn, rec = await connect_client(fake)
        client.on("ice_servers", on_ice_servers)
        assert client.ice_servers == [turn]
        # Renewed at 80 % of the remaining second, before it expires.
        info = await asyncio.wait_for(renewed, 5)
        assert info.expires_at == later and info.ice_servers[0]["credential"] == "fresh"
        assert client.ice_servers_expire_at == later
        assert [f["type"] for f in conn.frames] == ["REGISTER", "GET_ICE_SERVERS"]
        await client.close()


async def test_close_during_the_handshake_fails_connect_with_closed() -> None:
    async with HostileGateway(register=False) as fake:  # never answers the REGISTER
        client = GatewayClient(fake.url, KeyPair.generate(), gateway_id=fake.gateway_id, connect_timeout=30)
        connecting = asyncio.ensure_future(client.connect())
        assert (await asyncio.wait_for(fake.received.get(), 5))["type"] == "REGISTER"
        await client.close()
        with pytest.raises(ClosedError):
            await asyncio.wait_for(connecting, 5)
        assert client.state == "closed"


def hostile_cases(me: str, peer: KeyPair, mallory: KeyPair) -> list[tuple[str, dict[str, Any] | str]]:
    """The same hostile frames, addressed to ``me``, for either client."""
    now = int(time.time() * 1000)
    good = offer_from(peer, me, f"good-{now}")
    return [
        ("good", good),
        ("forged sender", {**offer_from(mallory, me), "from": peer.did}),
        ("tampered payload", {**offer_from(peer, me), "payload": {"type": "offer", "sdp": "v=0\r\nevil"}}),
        ("misaddressed", offer_from(peer, KeyPair.generate().did)),
        ("stale", offer_from(peer, me, ts=now - 10 * 60_000)),
        ("from the future", offer_from(peer, me, ts=now + 10 * 60_000)),
        ("ANSWER without sdp", sign_frame({"type": "ANSWER", "id": "a-1", "from": peer.did, "to": me, "ts": now, "payload": {}}, peer)),
        ("unknown envelope field", offer_from(peer, me, extra=True)),
        ("bad id", offer_from(peer, me, "bad id with spaces")),
        ("ts not an integer", offer_from(peer, me, ts=now + 0.5)),
        ("replay", good),
        ("small-order key: identity", zero_signature_frame(bytes([1]) + bytes(31), me)),
        ("small-order key: identity, non-canonical", zero_signature_frame(bytes([0xEE]) + b"\xff" * 30 + b"\x7f", me)),
        ("small-order key: order 8", zero_signature_frame(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"), me)),
        ("S + L", malleated(offer_from(peer, me))),
        ("non-canonical last sig character", {**offer_from(peer, me), "sig": "B" * 86}),
        ("not JSON", "not json"),
        ("not an object", "[1,2]"),
        ("unexpected server frame", {"type": "CHALLENGE", "protocol": "aiconexus/1", "gateway": "x", "nonce": "n", "expires_in_ms": 1}),
    ]


async def test_the_typescript_sdk_and_this_client_drop_the_same_frames_for_the_same_reasons(node_agents: list[NodeAgent]) -> None:
    peer, mallory = KeyPair.generate(), KeyPair.generate()
    async with HostileGateway(gateway_id="aiconexus-gateway") as fake:
        ts = await NodeAgent.start("ts_agent.ts", fake.url)
        node_agents.append(ts)
        ts_did = (await ts.next("ready"))["did"]
        ts_conn = await fake.next_connection()
        py, py_conn, rec = await connect_client(fake)

        verdicts: dict[str, list[str]] = {"ts": [], "py": []}
        for name, frame in hostile_cases(py.did, peer, mallory):
            verdicts["py"].append(f"{name}: {await verdict(rec, py_conn, frame)}")
        for name, frame in hostile_cases(ts_did, peer, mallory):
            await ts_conn.send(frame)
            line = await ts.next("signal") if name == "good" else await ts.next("invalid")
            verdicts["ts"].append(f"{name}: {'emitted' if line['event'] == 'signal' else line['reason']}")
        assert verdicts["py"] == verdicts["ts"]
        assert verdicts["py"][0] == "good: emitted" and all(not v.endswith("emitted") for v in verdicts["py"][1:])
