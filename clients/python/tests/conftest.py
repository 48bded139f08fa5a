"""Shared fixtures: a real gateway process (``node --import tsx src/server.ts`` on a free port) and
helpers to run TypeScript agents next to it. Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[3]
TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
LISTENING = re.compile(r"Server listening at http://[^\s\"]+:(\d+)")


@dataclass
class GatewayProcess:
    """A gateway started as a child process; ``output`` holds what it printed."""

    proc: subprocess.Popen[str]
    port: int = 0
    output: list[str] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_gateway(**env: str) -> GatewayProcess:
    """Starts the gateway with GATEWAY_PORT=0 and reads the port from its "Server listening" line."""
    proc = subprocess.Popen(
        ["node", "--import", "tsx", "src/server.ts"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "LOG_LEVEL": "info", "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": "0", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    gateway = GatewayProcess(proc)
    listening = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            gateway.output.append(line)
            match = LISTENING.search(line)
            if match and not listening.is_set():
                gateway.port = int(match.group(1))
                listening.set()
        listening.set()  # exited

    threading.Thread(target=pump, daemon=True).start()
    if not listening.wait(30) or gateway.port == 0:
        gateway.stop()
        raise RuntimeError("gateway did not start:\n" + "".join(gateway.output[-40:]))
    return gateway


@pytest.fixture(scope="session")
def gateway() -> Iterator[GatewayProcess]:
    """One gateway for the tests that only need a working one (default GATEWAY_ID)."""
    gw = start_gateway()
    yield gw
    gw.stop()


class NodeAgent:
    """A TypeScript agent script (``node --import tsx``): JSON lines in on stdin, JSON lines out on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []
        self.stderr = b""

    @classmethod
    async def start(cls, script: str, *args: str) -> NodeAgent:
        proc = await asyncio.create_subprocess_exec(
            "node", "--import", "tsx", str(TESTS / script), *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", "")},
        )
        return cls(proc)

    async def next(self, event: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        """The next output line with this ``event`` (and these field values); earlier lines are kept in ``events``."""

        async def read() -> dict[str, Any]:
            assert self.proc.stdout is not None
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    assert self.proc.stderr is not None
                    self.stderr = await self.proc.stderr.read()
                    raise AssertionError(f"agent exited before {event}: {self.events}\n{self.stderr.decode(errors='replace')[-3000:]}")
                msg = json.loads(line)
                self.events.append(msg)
                if msg.get("event") == event and all(msg.get(k) == v for k, v in match.items()):
                    return msg

        return await asyncio.wait_for(read(), timeout)

    async def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    async def stop(self) -> int:
        if self.proc.returncode is None:
            try:
                await self.send(cmd="close")
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                await asyncio.wait_for(self.proc.wait(), 10)
            except (asyncio.TimeoutError, BrokenPipeError, ConnectionResetError):
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode or 0


@pytest.fixture
async def node_agents() -> AsyncIterator[list[NodeAgent]]:
    """Agents started by a test are stopped after it."""
    agents: list[NodeAgent] = []
    yield agents
    for agent in agents:
        await agent.stop()


def python_env() -> dict[str, str]:
    """Environment for a child /usr/bin/python3 that imports the package from src/."""
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SRC)}


PYTHON = sys.executable
