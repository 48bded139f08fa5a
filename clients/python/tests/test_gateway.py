"""The client against real gateway processes: ICE servers (REGISTERED and GET_ICE_SERVERS), gateway
id pinning with a custom GATEWAY_ID, AUTH_FAILED as an exception, and no reconnect after 4409."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from typing import Iterator

import pytest
from conftest import GatewayProcess, start_gateway

from aiconexus_gateway import AuthFailedError, Closed, GatewayClient, GatewayMismatchError, KeyPair

TURN_SECRET = "python-client-test-secret-0123456789"


@pytest.fixture(scope="module")
def ice_gateway() -> Iterator[GatewayProcess]:
    gw = start_gateway(
        GATEWAY_ID="py-test-gateway",
        STUN_URLS="stun:stun.example.com:3478",
        TURN_URLS="turn:turn.example.com:3478?transport=udp",
        TURN_SECRET=TURN_SECRET,
        TURN_TTL="600",
    )
    yield gw
    gw.stop()


def check_turn_credential(server: dict[str, object], did: str) -> int:
    username = str(server["username"])
    expiry, _, named = username.partition(":")
    assert named == did
    expected = base64.b64encode(hmac.new(TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()).decode()
    assert server["credential"] == expected
    return int(expiry)


async def test_ice_servers_from_registered_and_get_ice_servers(ice_gateway: GatewayProcess) -> None:
    async with GatewayClient(ice_gateway.ws_url, KeyPair.generate(), gateway_id="py-test-gateway") as client:
        session = client.session
        assert session is not None and session.gateway == "py-test-gateway"
        stun, turn = client.ice_servers
        assert stun == {"urls": ["stun:stun.example.com:3478"]}
        assert turn["urls"] == ["turn:turn.example.com:3478?transport=udp"]
        expiry = check_turn_credential(dict(turn), client.did)
        assert client.ice_servers_expire_at == expiry * 1000 == session.ice_servers_expires_at
        assert 0 < expiry - time.time() <= 600

        renewed: list[object] = []
        client.on("ice_servers", renewed.append)
        fresh = await client.refresh_ice_servers()
        assert [s["urls"] for s in fresh.ice_servers] == [["stun:stun.example.com:3478"], ["turn:turn.example.com:3478?transport=udp"]]
        check_turn_credential(dict(fresh.ice_servers[1]), client.did)
        assert renewed == [fresh] and client.ice_servers == fresh.ice_servers


async def test_without_ice_configuration_the_list_is_empty(gateway: GatewayProcess) -> None:
    async with GatewayClient(gateway.ws_url, KeyPair.generate()) as client:
        assert client.ice_servers == [] and client.ice_servers_expire_at is None
        fresh = await client.refresh_ice_servers()
        assert fresh.ice_servers == [] and fresh.expires_at is None


async def test_a_client_pinned_to_another_gateway_id_signs_nothing(ice_gateway: GatewayProcess) -> None:
    client = GatewayClient(ice_gateway.ws_url, KeyPair.generate())  # expects the default id
    with pytest.raises(GatewayMismatchError) as caught:
        await client.connect()
    assert caught.value.received == "py-test-gateway" and client.state == "closed"


async def test_auth_failed_is_raised_by_connect(gateway: GatewayProcess) -> None:
    # A clock an hour behind: REGISTER.ts is outside the gateway's CLOCK_SKEW.
    client = GatewayClient(gateway.ws_url, KeyPair.generate(), clock=lambda: time.time() - 3600)
    with pytest.raises(AuthFailedError) as caught:
        await client.connect()
    assert caught.value.code == "AUTH_FAILED" and caught.value.close_code == 4401
    assert "clock skew" in caught.value.message


async def test_session_replaced_4409_is_not_retried(gateway: GatewayProcess) -> None:
    key = KeyPair.generate()
    first = GatewayClient(gateway.ws_url, key)
    closed: asyncio.Future[Closed] = asyncio.get_running_loop().create_future()
    first.on("closed", lambda info: None if closed.done() else closed.set_result(info))
    await first.connect()
    async with GatewayClient(gateway.ws_url, key) as second:
        info = await asyncio.wait_for(closed, 10)
        assert info.code == 4409 and first.state == "closed"
        assert await second.ping() < 5  # the new session is the one that stays
    await first.close()
