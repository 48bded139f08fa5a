"""A scripted stand-in for the gateway (a websockets server on a free loopback port), for the
client paths a real gateway never takes: forged, tampered, stale, replayed or misaddressed frames,
keys of small order, malleated signatures, another deployment's CHALLENGE, odd close codes."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import websockets

from aiconexus_gateway import verify_frame
from aiconexus_gateway.keys import b64url_encode


class Connection:
    """One client connection: the frames it sent, and ``send``/``close`` for the test."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.nonce = b64url_encode(secrets.token_bytes(32))
        self.did: str | None = None
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def close(self, code: int, reason: str = "") -> None:
        await self.ws.close(code, reason)


class HostileGateway:
    def __init__(self, gateway_id: str = "hostile-gateway", *, register: bool = True) -> None:
        self.gateway_id = gateway_id
        self.register = register
        #: Extra fields of REGISTERED (e.g. ice_servers) and the answer to GET_ICE_SERVERS.
        self.registered_extra: dict[str, Any] = {}
        self.ice_servers_answer: dict[str, Any] = {"ice_servers": [], "expires_at": None}
        self.connections: list[Connection] = []
        self.registered: asyncio.Queue[Connection] = asyncio.Queue()
        #: Every frame any client sent, in order.
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._server: Any = None
        self.url = ""

    async def __aenter__(self) -> HostileGateway:
        self._server = await websockets.serve(self._handle, "127.0.0.1", 0)  # type: ignore[attr-defined]
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 10)

    async def next_connection(self, timeout: float = 10.0) -> Connection:
        return await asyncio.wait_for(self.registered.get(), timeout)

    async def _handle(self, ws: Any, *_path: Any) -> None:
        conn = Connection(ws)
        self.connections.append(conn)
        gateway_id = self.gateway_id
        try:
            await conn.send({"type": "CHALLENGE", "protocol": "aiconexus/1", "gateway": gateway_id, "nonce": conn.nonce, "expires_in_ms": 10000})
            async for data in ws:
                frame = json.loads(data)
                conn.frames.append(frame)
                self.received.put_nowait(frame)
                if frame["type"] == "REGISTER" and self.register:
                    ok = frame.get("nonce") == conn.nonce and frame.get("aud") == gateway_id and verify_frame(frame, str(frame.get("did")))
                    if not ok:
                        await conn.send({"type": "ERROR", "code": "AUTH_FAILED", "message": "registration rejected", "ref": None})
                        await ws.close(4401, "authentication failed")
                        break
                    conn.did = frame["did"]
                    await conn.send({"type": "REGISTERED", "did": frame["did"], "session": "hostile", "heartbeat_ms": 30000, "agent_timeout_ms": 300000, **self.registered_extra})
                    self.registered.put_nowait(conn)
                elif frame["type"] == "PING":
                    await conn.send({"type": "PONG", "ref": frame.get("id"), "ts": 0})
                elif frame["type"] == "GET_ICE_SERVERS":
                    await conn.send({"type": "ICE_SERVERS", "ref": frame.get("id"), **self.ice_servers_answer})
                elif frame["type"] == "DISCOVER":
                    await conn.send({"type": "ERROR", "code": "BAD_FRAME", "message": "no discovery here", "ref": frame.get("id")})
        except websockets.ConnectionClosed:  # type: ignore[attr-defined]
            pass
        finally:
            if not conn.closed.done():
                conn.closed.set_result(ws.close_code if ws.close_code is not None else 1006)
