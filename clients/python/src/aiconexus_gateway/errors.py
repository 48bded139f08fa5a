"""Exceptions: one class per protocol error code (docs/errors.md), and the client's own errors.

* :class:`GatewayError` and its subclasses stand for an ERROR frame of the gateway. Each protocol
  error code has its class, named after it: ``BAD_FRAME`` → :class:`BadFrameError`,
  ``AGENT_NOT_FOUND`` → :class:`AgentNotFoundError`, and so on. ``error.code`` is the code as sent.
* :class:`ClientError` and its subclasses stand for what went wrong on this side (the same codes
  as the TypeScript SDK's ``ClientError``: ``CONNECT_FAILED``, ``GATEWAY_MISMATCH``, …).
"""

from __future__ import annotations

from typing import ClassVar

#: WebSocket close codes of the gateway (docs/protocol.md §8).
CLOSE_GOING_AWAY = 1001
CLOSE_INACTIVE = 4000
CLOSE_AUTH = 4401
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_REPLACED = 4409
CLOSE_SLOW_CONSUMER = 4413
CLOSE_RATE_ABUSE = 4429
CLOSE_FULL = 4503


class AIConexusError(Exception):
    """Base of every exception this package raises on purpose."""


class GatewayError(AIConexusError):
    """An ERROR frame from the gateway. Use the subclass, or switch on :attr:`code`."""

    #: The protocol error code of the subclass (``""`` for an unknown code).
    CODE: ClassVar[str] = ""
    #: The close code the gateway sends after this error, or None when the connection stays open.
    CLOSE: ClassVar[int | None] = None

    def __init__(self, code: str, message: str, ref: str | None = None, request: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: The id of the frame this error answers, or None.
        self.ref = ref
        #: ``{"type": ..., "to": ...}`` of the signaling frame ``ref`` names, when this client sent it recently.
        self.request = request

    @property
    def close_code(self) -> int | None:
        return self.CLOSE

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, ref={self.ref!r})"

    @staticmethod
    def from_frame(code: str, message: str, ref: str | None, request: dict[str, str] | None = None) -> GatewayError:
        """The exception of an ERROR frame: an instance of the class registered for ``code``."""
        cls = GATEWAY_ERRORS[code]
        return cls(code, message, ref, request)


class BadFrameError(GatewayError):
    """BAD_FRAME: the frame is malformed (schema, duplicate key, already registered)."""

    CODE = "BAD_FRAME"


class UnknownTypeError(GatewayError):
    """UNKNOWN_TYPE: a ``type`` the protocol does not have."""

    CODE = "UNKNOWN_TYPE"


class AuthRequiredError(GatewayError):
    """AUTH_REQUIRED: a frame other than REGISTER before REGISTERED (the gateway closes with 4401)."""

    CODE = "AUTH_REQUIRED"
    CLOSE = CLOSE_AUTH


class AuthFailedError(GatewayError):
    """AUTH_FAILED: the REGISTER was rejected (the gateway closes with 4401)."""

    CODE = "AUTH_FAILED"
    CLOSE = CLOSE_AUTH


class SenderMismatchError(GatewayError):
    """SENDER_MISMATCH: ``from`` is not this session's DID."""

    CODE = "SENDER_MISMATCH"


class StaleError(GatewayError):
    """STALE: ``ts`` is outside the gateway's allowed clock skew."""

    CODE = "STALE"


class BadSignatureError(GatewayError):
    """BAD_SIGNATURE: ``sig`` does not verify."""

    CODE = "BAD_SIGNATURE"


class ReplayError(GatewayError):
    """REPLAY: this sender already used this frame id within its window."""

    CODE = "REPLAY"


class AgentNotFoundError(GatewayError):
    """AGENT_NOT_FOUND: the target is not online."""

    CODE = "AGENT_NOT_FOUND"


class RateLimitedError(GatewayError):
    """RATE_LIMITED: the frame was dropped by the rate limit (4429 if flooding goes on)."""

    CODE = "RATE_LIMITED"


class UnavailableError(GatewayError):
    """UNAVAILABLE: cluster mode, the target's node cannot be reached (Redis down); retry later."""

    CODE = "UNAVAILABLE"


class TargetBusyError(GatewayError):
    """TARGET_BUSY: the target's inbound budget is used up; retry later with a new id."""

    CODE = "TARGET_BUSY"


#: Protocol error code → exception class.
GATEWAY_ERRORS: dict[str, type[GatewayError]] = {
    cls.CODE: cls
    for cls in (
        BadFrameError,
        UnknownTypeError,
        AuthRequiredError,
        AuthFailedError,
        SenderMismatchError,
        StaleError,
        BadSignatureError,
        ReplayError,
        AgentNotFoundError,
        RateLimitedError,
        UnavailableError,
        TargetBusyError,
    )
}


class ClientError(AIConexusError):
    """An error on the client's side; ``close_code`` is set when a WebSocket close caused it."""

    CODE: ClassVar[str] = ""

    def __init__(self, message: str, *, close_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.close_code = close_code

    @property
    def code(self) -> str:
        return self.CODE


class ConnectFailedError(ClientError):
    """CONNECT_FAILED: the gateway could not be reached."""

    CODE = "CONNECT_FAILED"


class ConnectionClosedError(ClientError):
    """CONNECTION_CLOSED: the connection closed while a request or the handshake was pending."""

    CODE = "CONNECTION_CLOSED"


class ClosedError(ClientError):
    """CLOSED: :meth:`GatewayClient.close` was called."""

    CODE = "CLOSED"


class NotConnectedError(ClientError):
    """NOT_CONNECTED: a request was made while no session is registered."""

    CODE = "NOT_CONNECTED"


class RequestTimeoutError(ClientError, TimeoutError):
    """TIMEOUT: no answer in time (handshake or request)."""

    CODE = "TIMEOUT"


class ProtocolViolationError(ClientError):
    """PROTOCOL: the gateway sent something the protocol does not allow here."""

    CODE = "PROTOCOL"


class GatewayMismatchError(ClientError):
    """GATEWAY_MISMATCH: CHALLENGE.gateway is not the expected gateway id; nothing was signed."""

    CODE = "GATEWAY_MISMATCH"

    def __init__(self, url: str, expected: str, received: str) -> None:
        shown = received if len(received) <= 128 else received[:128] + "…"
        super().__init__(
            f"gateway id mismatch: the gateway at {url} named itself {shown!r} in its CHALLENGE, "
            f"but this client expects {expected!r}; nothing was signed. If that is the gateway's "
            "GATEWAY_ID, pass it as gateway_id"
        )
        self.expected = expected
        self.received = received


class InvalidArgumentError(ClientError, ValueError):
    """INVALID_ARGUMENT: a bad argument (target DID, payload, option)."""

    CODE = "INVALID_ARGUMENT"
