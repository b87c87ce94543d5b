"""strategy="ddp" on CPU: both ranks hold the same architecture and cost every epoch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_ddp_ranks_agree_on_architecture_and_cost(tmp_path, chorale_cache):
    report = tmp_path / "report.jsonl"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("MASTER_PORT", None)
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("ddp_run.py")), str(report), chorale_cache],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    epochs = [json.loads(line) for line in report.read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == list(range(6))
    for epoch in epochs:
        first, second = epoch["ranks"]
        assert (first["rank"], second["rank"]) == (0, 1)
        assert first["phase"] == second["phase"]
        assert first["arch"] == second["arch"]
        assert first["cost"] == second["cost"]
    assert [e["ranks"][0]["phase"] for e in epochs][-1] == "finetune"
