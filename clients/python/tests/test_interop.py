"""A Python agent and a TypeScript SDK agent exchange OFFER / ANSWER / ICE / BYE through a real
gateway process, each verifying the other's signatures end to end (the TS agent emits a frame only
after GatewayClient verified it; the Python client likewise)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from conftest import ROOT, GatewayProcess, NodeAgent

from aiconexus_gateway import AgentNotFoundError, GatewayClient, GatewayError, KeyPair, Signal, verify_frame

# Payload fields beyond sdp are covered by the signature: they exercise both canonicalisers on the
# same frame (non-ASCII, escapes, astral characters, numbers in exponent form, nesting, key order).
TRICKY = {
    "type": "offer",
    "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n",
    "note": 'naïve “quotes” \u2028 \\ \t 😀 \u0001',
    "numbers": [1e21, 1e-7, 0.1, -0.0, 2**53, 123.456, 5e-324],
    "nested": {"b": [{"z": 1, "a": None}], "A": True, "\ufb33": "x", "😀": "y"},
}


async def next_signal(client: GatewayClient, timeout: float = 10.0) -> Signal:
    async def first() -> Signal:
        async for signal in client:
            return signal
        raise AssertionError("client closed")

    return await asyncio.wait_for(first(), timeout)


async def test_python_and_typescript_agents_exchange_verified_frames(
    gateway: GatewayProcess, node_agents: list[NodeAgent], tmp_path: Path
) -> None:
    # The TS agent uses a key file written by the Python client (the format of `aiconexus keygen`).
    ts_key = KeyPair.generate()
    ts_key.save(tmp_path / "ts-agent.key")
    ts = await NodeAgent.start("ts_agent.ts", gateway.ws_url, str(tmp_path / "ts-agent.key"))
    node_agents.append(ts)
    assert (await ts.next("ready"))["did"] == ts_key.did

    invalid: list[object] = []
    errors: list[object] = []
    async with GatewayClient(gateway.ws_url, KeyPair.generate(), meta={"name": "py-agent", "capabilities": ["py-agent"]}) as py:
        py.on("invalid", invalid.append)
        py.on("error", errors.append)

        # Discovery both ways.
        [found] = await py.discover(capability="ts-agent")
        assert found.did == ts_key.did and found.meta == {"name": "ts-agent", "capabilities": ["ts-agent"]}
        await ts.send(cmd="discover", capability="py-agent")
        agents = (await ts.next("agents"))["agents"]
        assert [(a["did"], a["meta"]["name"]) for a in agents] == [(py.did, "py-agent")]

        # Python → TS: OFFER with a payload that needs careful canonicalisation.
        offer = await py.offer(ts_key.did, TRICKY)
        got = await ts.next("signal")
        assert got["verified"] is True
        assert got["frame"] == offer  # same values as signed; the TS SDK verified it before emitting it

        # TS → Python: ANSWER, then two ICE frames (a candidate and end-of-candidates).
        await ts.send(cmd="answer", to=py.did, payload={"type": "answer", "sdp": "v=0\r\n", "extra": {"ü": [1.5, "\ud83d\ude00"]}})
        await ts.send(cmd="ice", to=py.did, payload={"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0})
        await ts.send(cmd="ice", to=py.did, payload={"candidate": ""})
        sent = [(await ts.next("sent"))["frame"] for _ in range(3)]
        received = [await next_signal(py) for _ in range(3)]
        assert [s.type for s in received] == ["ANSWER", "ICE", "ICE"]
        for signal, frame in zip(received, sent):
            assert signal.sender == ts_key.did and signal.to == py.did
            assert signal.frame == frame and signal.id == frame["id"]
            assert verify_frame(signal.frame, ts_key.did)
        assert received[0].payload["extra"] == {"ü": [1.5, "😀"]}
        assert received[2].payload == {"candidate": ""}

        # Python → TS: ICE and BYE.
        ice = await py.ice(ts_key.did, {"candidate": "candidate:2 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": None})
        bye = await py.bye(ts_key.did, {"reason": "done ✓"})
        got_ice = await ts.next("signal")
        got_bye = await ts.next("signal")
        assert (got_ice["frame"], got_bye["frame"]) == (ice, bye)
        assert got_ice["verified"] and got_bye["verified"]

        # A ping after all of it: the session is healthy, and nothing was refused on either side.
        assert await py.ping() < 5
    assert invalid == [] and errors == []
    assert [e for e in ts.events if e["event"] in ("invalid", "error")] == []
    assert await ts.stop() == 0


async def test_gateway_errors_arrive_as_exceptions_named_after_their_code(gateway: GatewayProcess) -> None:
    async with GatewayClient(gateway.ws_url, KeyPair.generate(), reconnect=False) as py:
        errors: asyncio.Queue[GatewayError] = asyncio.Queue()
        py.on("error", errors.put_nowait)
        nobody = KeyPair.generate().did
        frame = await py.offer(nobody, {"type": "offer", "sdp": "v=0\r\n"})
        err = await asyncio.wait_for(errors.get(), 10)
        assert isinstance(err, AgentNotFoundError)
        assert (err.code, err.ref, err.request) == ("AGENT_NOT_FOUND", frame["id"], {"type": "OFFER", "to": nobody})


def test_key_files_of_the_typescript_cli_and_of_this_client_are_the_same_format(tmp_path: Path) -> None:
    """`aiconexus keygen` writes a key file this client loads (the other direction is the TS agent's --key above)."""
    path = tmp_path / "cli.key"
    run = subprocess.run(
        ["node", "--import", "tsx", "src/cli/index.ts", "keygen", "--out", str(path)],
        cwd=ROOT, env={"PATH": os.environ.get("PATH", "")}, capture_output=True, text=True, timeout=30,
    )
    assert run.returncode == 0, run.stderr
    key = KeyPair.load(path)
    assert key.did == json.loads(path.read_text())["did"] and key.did in run.stdout
