"""Lowering and quantizing torch networks, and deploying them on the emulated board."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from emulated_boards import EMULATED_BOARDS
from torch import fx, nn

from hw_profiler.deploy.lower import lower
from hw_profiler.deploy.quantize import quantize_network
from hw_profiler.errors import DeployError

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc",
)


class SmallTCN(nn.Module):
    """Dilated causal convs, BatchNorm, a residual block, pooling and a linear head."""

    def __init__(self, c_in: int = 4, width: int = 8, length: int = 32, classes: int = 5):
        super().__init__()
        self.stem = nn.Sequential(
            nn.ConstantPad1d((4, 0), 0.0),
            nn.Conv1d(c_in, width, 3, dilation=2),
            nn.BatchNorm1d(width),
            nn.ReLU(),
        )
        self.block = nn.Sequential(
            nn.ConstantPad1d((8, 0), 0.0),
            nn.Conv1d(width, width, 3, dilation=4),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.ConstantPad1d((1, 0), 0.0),
            nn.Conv1d(width, width, 2),
            nn.BatchNorm1d(width),
        )
        self.relu = nn.ReLU6()
        self.pool = nn.AvgPool1d(2)
        self.mpool = nn.MaxPool1d(2)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.1), nn.Linear(width * length // 4, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = self.relu(self.block(h) + h)
        return self.head(self.mpool(self.pool(h)))


def trained_like(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics, as after training."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


@pytest.fixture
def tcn() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return trained_like(SmallTCN()), torch.randn(32, 4, 32)


def test_lowering_folds_and_matches_float(tcn) -> None:
    model, calib = tcn
    ir = lower(fx.symbolic_trace(model), calib[:1])
    assert [layer.op for layer in ir.layers] == [
        "conv",
        "conv",
        "conv",
        "add",
        "avgpool",
        "maxpool",
        "flatten",
        "linear",
    ]
    assert [layer.act for layer in ir.layers][:4] == ["relu", "relu", "none", "relu6"]
    assert [layer.dilation for layer in ir.layers][:3] == [2, 4, 1]
    with torch.no_grad():
        assert torch.allclose(ir.run_float(calib).float().squeeze(-1), model(calib), atol=1e-5)


def test_quantization_is_close_to_float(tcn) -> None:
    model, calib = tcn
    qm = quantize_network(lower(model, calib[:1]), calib)
    conv = qm.layers[0]
    assert conv.weight.dtype == np.int8 and conv.weight.shape == (8, 3, 4)  # [Cout][k][Cin]
    assert np.abs(conv.weight).max() == 127  # per-channel symmetric uses the full range
    assert conv.act_min == qm.tensors[conv.output].zero_point == -128  # ReLU output
    assert all((m >= 2**30) & (m < 2**31) for m in conv.multiplier)
    assert qm.layers[3].multiplier[0] == 20  # ADD left shift


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (nn.Sequential(nn.ConstantPad1d((1, 0), 1.0), nn.Conv1d(4, 4, 3)), r"only zero padding"),
        (
            nn.Sequential(nn.Conv1d(4, 4, 3, padding=1, padding_mode="circular")),
            r"padding_mode='circular'",
        ),
        (nn.Sequential(nn.AdaptiveAvgPool1d(5)), r"output size 5 must divide"),
        (nn.Sequential(nn.Conv1d(4, 4, 1), nn.GELU()), r"module type GELU is not supported"),
        (nn.Sequential(nn.Conv1d(4, 4, 1), nn.Linear(8, 3)), r"flatten first"),
    ],
)
def test_unsupported_networks_are_refused(module: nn.Module, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        lower(module.eval(), torch.randn(1, 4, 8))


def test_an_activation_applied_twice_is_lowered_once() -> None:
    model = nn.Sequential(nn.Conv1d(2, 4, 1), nn.ReLU(), nn.ReLU(), nn.Conv1d(4, 3, 1))
    ir = lower(fx.symbolic_trace(model), torch.zeros(1, 2, 8))
    assert [(layer.op, layer.act) for layer in ir.layers] == [("conv", "relu"), ("conv", "none")]
    x = torch.randn(3, 2, 8)
    with torch.no_grad():
        assert torch.allclose(ir.run_float(x).float(), model(x), atol=1e-6)


@pytest.mark.parametrize("board_name", EMULATED_BOARDS)
def test_deploy_and_validate_on_qemu(tcn, board_name: str) -> None:
    from hw_profiler import api

    model, calib = tcn
    with api.open_board(board_name) as board:
        result = api.validate(model, calib, board, inputs=calib[:3])
        assert result.ok and result.max_diff_lsb == 0, result.report()
        dep = result.deploy
        assert dep.outputs.shape == (3, 5)
        assert dep.latency_s > 0 and dep.energy_j > 0 and dep.energy_source == "estimated"
        assert len(dep.per_layer) == 8
        assert sum(t.ticks for t in dep.per_layer) <= max(dep.total_ticks)
        # quantization error only: outputs track the float model
        with torch.no_grad():
            assert (dep.outputs - model(calib[:3])).abs().max() < 0.2 * model(calib).abs().max()

        big = nn.Sequential(
            nn.ConstantPad1d((16, 0), 0.0),
            nn.Conv1d(4, 128, 17),
            nn.ReLU(),
            nn.ConstantPad1d((16, 0), 0.0),
            nn.Conv1d(128, 128, 17),
        )
        sent = []
        real = board.session.request
        board.session.request = lambda req, *a, **k: (sent.append(req), real(req, *a, **k))[1]
        # netduinoplus2 could keep the weights in flash but not the arena in RAM; virt
        # has no flash, so RAM is the only place
        why = {"qemu_stm32f4": "the arena alone exceeds the pool",
               "qemu_riscv32": "the board keeps no models in flash"}[board_name]
        pool = board.session.info.ram_pool_bytes
        with pytest.raises(
            DeployError,
            match=rf"network too large for board {board_name}: "
            r"model image \d+ B \+ activation arena \d+ B = "
            rf"\d+ B > model RAM pool {pool} B, and {why}",
        ):
            api.deploy(big.eval(), torch.randn(4, 4, 1024), board)
        assert sent == []


@needs_qemu
def test_cli_validate_and_deploy(tcn, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from hw_profiler.cli import main

    model, calib = tcn
    torch.save(model, tmp_path / "model.pt")
    torch.save(calib, tmp_path / "calib.pt")
    args = ["--model", str(tmp_path / "model.pt"), "--trust-model", "--calib",
            str(tmp_path / "calib.pt")]
    assert main(["validate", *args]) == 0
    out = capsys.readouterr().out
    assert "validation: MATCH" in out and "max |diff| = 0 LSB" in out
    torch.save(nn.Sequential(nn.Conv1d(4, 4, 3), nn.GELU()), tmp_path / "gelu.pt")
    gelu = ["--model", str(tmp_path / "gelu.pt"), "--trust-model", "--input-shape", "4,32"]
    assert main(["deploy", *gelu]) == 2
    assert "cannot deploy node '_1'" in capsys.readouterr().err


STAGES = ("lower", "quantize", "serialize", "run", "compare")


def test_each_deploy_stage_imports_only_earlier_stages() -> None:
    """A network flows lower -> quantize -> serialize -> run -> compare and never back."""
    import ast
    from pathlib import Path

    import hw_profiler.deploy as deploy

    folder = Path(deploy.__file__).parent
    for index, stage in enumerate(STAGES):
        tree = ast.parse((folder / f"{stage}.py").read_text())
        imported = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "hw_profiler.deploy."
            )
        }
        assert imported <= set(STAGES[:index]), (stage, imported)
