"""Bad inputs to the command lines: one line naming the file or argument, exit status 2,
and nothing started (these checks run before any board is opened)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch
from torch import nn

from hw_profiler.cli import main
from pit_lightning.cli import main as pit_main


def net() -> nn.Module:
    return nn.Sequential(nn.Conv1d(4, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30, 2))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in (
        "model.pt", "state.pt", "calib.pt", "bad_calib.pt", "truncated.pt", "geoms.txt",
        "bad_geoms.txt", "bad.yaml", "truncated.ckpt",
    )}  # fmt: skip
    torch.save(net(), paths["model.pt"])
    torch.save(net().state_dict(), paths["state.pt"])
    torch.save(torch.randn(4, 4, 32), paths["calib.pt"])
    torch.save(torch.randn(4, 3, 32), paths["bad_calib.pt"])
    paths["truncated.pt"].write_bytes(paths["model.pt"].read_bytes()[:300])
    paths["truncated.ckpt"].write_bytes(paths["model.pt"].read_bytes()[:300])
    paths["geoms.txt"].write_text("conv1d:c_in=4,c_out=8,kernel=3,dilation=1,length=32\n")
    paths["bad_geoms.txt"].write_text(
        "conv1d:c_in=4,c_out=8,kernel=3,dilation=1,length=32\nconv1d:c_in=4,c_o"
    )
    paths["bad.yaml"].write_text("model:\n  lr: [1\n")
    return paths


def _exit_status(command, argv: list[str]) -> int:
    try:
        return command(argv) or 0
    except SystemExit as exc:
        return int(exc.code or 0)


def _paths(argv: list[str], files: dict[str, Path], tmp_path: Path) -> list[str]:
    """'@name' stands for the fixture file of that name (or a missing one)."""
    return [str(files.get(a[1:], tmp_path / a[1:])) if a.startswith("@") else a for a in argv]


def _one_error_line(err: str, message: str) -> None:
    lines = err.strip().splitlines()
    if lines[0].startswith("usage:"):  # argparse: the usage, then one error line
        lines = [line for line in lines if ": error: " in line]
    assert len(lines) == 1 and message in lines[0], err


CASES = [
    (["--input-shape", "3,32"], "model.pt", "cannot run an input of shape (1, 3, 32)"),
    (["--calib", "@bad_calib.pt"], "model.pt", "cannot run an input of shape (1, 3, 32)"),
    (["--input-shape", "abc"], "model.pt", "--input-shape: expected C,T"),
    (["--input-shape", "4,32"], "state.pt", "holds a state dict, not a network"),
    (["--calib", "@missing.pt"], "model.pt", "missing.pt not found"),
    (["--calib", "@truncated.pt"], "model.pt", "truncated.pt: truncated or not a torch"),
    (["--input-shape", "4,32"], "truncated.pt", "truncated.pt: truncated or not a torch"),
]


@pytest.mark.parametrize(("extra", "model", "message"), CASES)
def test_deploy_inputs(files, tmp_path, capsys, extra: list[str], model: str, message: str):
    argv = ["validate", "--model", f"@{model}", "--trust-model", *extra]
    assert _exit_status(main, _paths(argv, files, tmp_path)) == 2
    _one_error_line(capsys.readouterr().err, message)


def test_a_module_pickled_from_a_script_says_to_save_it_fx_traced(tmp_path, capsys) -> None:
    script = tmp_path / "make_net.py"
    script.write_text(
        "import torch\nfrom torch import nn\n"
        "class MyNet(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv1d(4, 4, 3)\n"
        "    def forward(self, x):\n        return self.conv(x)\n"
        f"torch.save(MyNet(), {str(tmp_path / 'script_net.pt')!r})\n"
    )
    runpy.run_path(str(script), run_name="__main__")
    argv = ["deploy", "--model", str(tmp_path / "script_net.pt"), "--input-shape", "4,32",
            "--trust-model"]
    assert _exit_status(main, argv) == 2
    _one_error_line(capsys.readouterr().err, "save the network fx-traced: torch.save(torch.fx")


def test_pickled_model_needs_trust(files, tmp_path, capsys) -> None:
    argv = ["deploy", "--model", "@model.pt", "--input-shape", "4,32"]
    assert _exit_status(main, _paths(argv, files, tmp_path)) == 2
    _one_error_line(capsys.readouterr().err, "is a pickled object: loading it runs code")
    assert _exit_status(main, ["deploy", "--help"]) == 0
    assert "--trust-model" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.txt", "cannot read --geometries"),
        ("bad_geoms.txt", "bad_geoms.txt:2: bad geometry 'conv1d:c_in=4,c_o'"),
    ],
)
def test_geometry_files(files, tmp_path, capsys, name: str, message: str) -> None:
    argv = ["profile", "--geometries", f"@{name}"]
    assert _exit_status(main, _paths(argv, files, tmp_path)) == 2
    _one_error_line(capsys.readouterr().err, message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", "--config", "@bad.yaml"], "bad.yaml:3:1: malformed YAML"),
        (["fit", "--config", "@missing.yaml"], "missing.yaml: no such file"),
        (["fit", "--ckpt_path", "@truncated.ckpt"], "truncated.ckpt: truncated or not a"),
        (["geometries", "--seed", "TEMPONet", "--search", "bogus"], "unknown search option"),
    ],
)
def test_pit_lightning_inputs(files, tmp_path, capsys, argv: list[str], message: str) -> None:
    assert _exit_status(pit_main, _paths(argv, files, tmp_path)) == 2
    _one_error_line(capsys.readouterr().err, message)
