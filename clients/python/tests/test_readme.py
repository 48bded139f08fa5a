"""The agent example of clients/python/README.md runs as written against a real gateway."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import PYTHON, GatewayProcess, python_env

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_agent_example_runs(gateway: GatewayProcess, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = next(b for b in blocks if b.startswith("# agent.py"))
    (tmp_path / "agent.py").write_text(example, encoding="utf-8")
    run = subprocess.run([PYTHON, "agent.py", gateway.ws_url], cwd=tmp_path, env=python_env(), capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert re.fullmatch(r"alice: found bob = did:key:z6Mk\w{44}", lines[0]), lines
    assert re.fullmatch(r"bob:   OFFER [\w-]{22} from did:key:z6Mk\w{44}", lines[1]), lines
    assert re.fullmatch(r"alice: ANSWER [\w-]{22} from did:key:z6Mk\w{44}; PING round trip \d+\.\d ms", lines[2]), lines
    assert len(lines) == 3 and run.stderr == ""
