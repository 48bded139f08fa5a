"""Asyncio client for the AIConexus signaling gateway (protocol ``aiconexus/1``).

>>> from aiconexus_gateway import GatewayClient, KeyPair
"""

from .backoff import Backoff
from .client import DEFAULT_GATEWAY_ID, Closed, Disconnect, GatewayClient, InvalidFrame
from .did import did_from_public_key, is_did_key, public_key_from_did
from .errors import (
    AgentNotFoundError,
    AIConexusError,
    AuthFailedError,
    AuthRequiredError,
    BadFrameError,
    BadSignatureError,
    ClientError,
    ClosedError,
    ConnectFailedError,
    ConnectionClosedError,
    GatewayError,
    GatewayMismatchError,
    InvalidArgumentError,
    NotConnectedError,
    ProtocolViolationError,
    RateLimitedError,
    ReplayError,
    RequestTimeoutError,
    SenderMismatchError,
    StaleError,
    TargetBusyError,
    UnavailableError,
    UnknownTypeError,
)
from .frames import Agent, IceServer, IceServers, SessionInfo, Signal
from .jcs import canonicalize, signed_bytes
from .keys import KeyPair
from .replay import ReplayLimits
from .verify import sign_frame, verify_frame

__version__ = "0.1.0"

__all__ = [
    "GatewayClient",
    "KeyPair",
    "Signal",
    "Agent",
    "SessionInfo",
    "IceServer",
    "IceServers",
    "InvalidFrame",
    "Disconnect",
    "Closed",
    "Backoff",
    "ReplayLimits",
    "DEFAULT_GATEWAY_ID",
    "canonicalize",
    "signed_bytes",
    "sign_frame",
    "verify_frame",
    "did_from_public_key",
    "public_key_from_did",
    "is_did_key",
    "AIConexusError",
    "GatewayError",
    "BadFrameError",
    "UnknownTypeError",
    "AuthRequiredError",
    "AuthFailedError",
    "SenderMismatchError",
    "StaleError",
    "BadSignatureError",
    "ReplayError",
    "AgentNotFoundError",
    "RateLimitedError",
    "UnavailableError",
    "TargetBusyError",
    "ClientError",
    "ConnectFailedError",
    "ConnectionClosedError",
    "ClosedError",
    "NotConnectedError",
    "RequestTimeoutError",
    "ProtocolViolationError",
    "GatewayMismatchError",
    "InvalidArgumentError",
]
