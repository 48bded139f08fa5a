"""A real WebRTC data channel between aiortc (Python, this client) and werift (TypeScript, the
repository's GatewayClient + PeerLink), negotiated through a real gateway process: OFFER, ANSWER
and ICE candidates trickled both ways (end-of-candidates included), each side verifying the other's
signatures; then a message is echoed over the channel. ICE stays on 127.0.0.1 (no STUN/TURN)."""

from __future__ import annotations

import asyncio
from typing import Any

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp, candidate_to_sdp
from conftest import GatewayProcess, NodeAgent

from aiconexus_gateway import GatewayClient, KeyPair, Signal


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # aioice leaves 127.0.0.1 out of its host candidates; the werift side pairs only with loopback.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def split_candidates(sdp: str) -> tuple[str, list[str]]:
    """aiortc puts its gathered candidates in the SDP; take them out to trickle them as ICE frames."""
    lines = sdp.split("\r\n")
    candidates = [line[len("a=") :] for line in lines if line.startswith("a=candidate:")]
    kept = [line for line in lines if not line.startswith("a=candidate:") and line != "a=end-of-candidates"]
    return "\r\n".join(kept), candidates


async def test_aiortc_and_werift_open_a_data_channel_through_the_gateway(
    gateway: GatewayProcess, node_agents: list[NodeAgent], loopback_only: None
) -> None:
    invalid: list[object] = []
    async with GatewayClient(gateway.ws_url, KeyPair.generate(), meta={"name": "aiortc"}) as py:
        py.on("invalid", invalid.append)
        werift = await NodeAgent.start("werift_agent.ts", gateway.ws_url, py.did)
        node_agents.append(werift)
        peer = (await werift.next("ready"))["did"]

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            channel: RTCDataChannel = pc.createDataChannel("chat")
            opened = asyncio.Event()
            echoed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            channel.on("open", opened.set)
            channel.on("message", lambda message: None if echoed.done() else echoed.set_result(message))

            await pc.setLocalDescription(await pc.createOffer())
            sdp, candidates = split_candidates(pc.localDescription.sdp)
            assert candidates, "aiortc gathered no candidate"
            await py.offer(peer, {"type": "offer", "sdp": sdp})
            for candidate in candidates:
                await py.ice(peer, {"candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})
            await py.ice(peer, {"candidate": ""})

            received: list[Signal] = []

            async def negotiate() -> None:
                async for signal in py:
                    received.append(signal)
                    assert signal.sender == peer
                    payload: dict[str, Any] = signal.payload
                    if signal.type == "ANSWER":
                        await pc.setRemoteDescription(RTCSessionDescription(sdp=payload["sdp"], type="answer"))
                    elif signal.type == "ICE" and payload["candidate"]:
                        candidate = candidate_from_sdp(payload["candidate"].removeprefix("candidate:"))
                        candidate.sdpMid = payload.get("sdpMid")
                        candidate.sdpMLineIndex = payload.get("sdpMLineIndex")
                        await pc.addIceCandidate(candidate)
                    elif signal.type == "ICE":  # "" = end of candidates
                        return

            await asyncio.wait_for(negotiate(), 20)
            await asyncio.wait_for(opened.wait(), 20)
            channel.send("hello from aiortc")
            assert await asyncio.wait_for(echoed, 10) == "echo: hello from aiortc"
        finally:
            await pc.close()

        assert [s.type for s in received][0] == "ANSWER"
        ice = [s.payload["candidate"] for s in received if s.type == "ICE"]
        assert any(c.startswith("candidate:") for c in ice) and ice[-1] == ""
        assert (await werift.next("message"))["text"] == "hello from aiortc"
        # werift got our OFFER and candidates, each verified by its GatewayClient.
        signals = [e for e in werift.events if e["event"] == "signal"]
        assert signals[0]["type"] == "OFFER" and signals[0]["from"] == py.did
        assert [e["payload"]["candidate"] for e in signals[1:] if e["type"] == "ICE"] == [*candidates, ""]
        await py.bye(peer, {"reason": "done"})
        await werift.next("closed")
    assert invalid == []
    assert [e for e in werift.events if e["event"] in ("invalid", "error")] == []
