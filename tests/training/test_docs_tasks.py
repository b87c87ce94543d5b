"""docs/tasks.md runs as written: its task, datamodule and config, fitted by the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_custom_task_example_fits_from_the_cli(tmp_path):
    python, yaml = blocks("python")[0], blocks("yaml")[0]
    (tmp_path / "my_task.py").write_text(python)
    (tmp_path / "my_task.yaml").write_text(yaml)
    command = blocks("bash")[0].strip()
    assert command == "PYTHONPATH=. pit-lightning fit --config my_task.yaml"
    cli = shutil.which("pit-lightning", path=str(Path(sys.executable).parent))
    assert cli is not None
    env = {**os.environ, "PYTHONPATH": "."}
    done = subprocess.run([cli, "fit", "--config", "my_task.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "my_task" / "lightning_logs" / "version_0"
    arch = json.loads((run / "arch.json").read_text())
    assert arch["test"]["test/mse"] >= 0
    assert f"report: {run.relative_to(tmp_path) / 'report.md'}" in done.stdout
