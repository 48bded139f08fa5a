"""Reconnect delays: exponential backoff with full jitter (the n-th retry waits a uniformly random
time in [0, min(max_delay, base_delay · 2ⁿ)))."""

from __future__ import annotations

import math
import random as _random
from dataclasses import dataclass
from typing import Callable

__all__ = ["Backoff", "backoff_delay"]


@dataclass(frozen=True)
class Backoff:
    """Reconnect policy. Delays in seconds."""

    #: Delay cap of the first retry.
    base_delay: float = 0.5
    #: Largest delay cap.
    max_delay: float = 30.0
    #: Retries after a lost session before giving up.
    max_attempts: float = math.inf


def backoff_delay(attempt: int, policy: Backoff, random: Callable[[], float] = _random.random) -> float:
    """The delay of retry number ``attempt`` (0-based), in seconds."""
    cap = policy.max_delay if attempt >= 64 else min(policy.max_delay, policy.base_delay * float(2**attempt))
    return float(random() * cap)
