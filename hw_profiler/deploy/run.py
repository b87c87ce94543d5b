"""Deploy a network on a board: the pipeline's stages in order, then load, RUN and time.

lower (:mod:`~hw_profiler.deploy.lower`) -> quantize (:mod:`~hw_profiler.deploy.quantize`)
-> serialize (:mod:`~hw_profiler.deploy.serialize`) -> run (here); comparing the outputs
with the int8 reference is :mod:`~hw_profiler.deploy.compare`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from hw_profiler.board import Board
from hw_profiler.deploy.lower import lower
from hw_profiler.deploy.quantize import QuantModel, quantize_network
from hw_profiler.deploy.serialize import memory_needed, to_image
from hw_profiler.errors import BoardCommandError, DeployError


@dataclass(frozen=True)
class LayerTiming:
    name: str
    op: str
    ticks: int
    latency_s: float
    energy_j: float


@dataclass
class DeployResult:
    """What one deployment measured. ``outputs`` are dequantized, in torch layout (one row
    per input); ``outputs_int8`` are the board's raw int8 outputs ([T][C] per input)."""

    board: str
    latency_s: float  # end to end, median over inputs
    energy_j: float  # per inference
    energy_source: str
    per_layer: list[LayerTiming]
    outputs: Tensor
    outputs_int8: np.ndarray
    total_ticks: list[int]
    image_bytes: int
    arena_bytes: int
    model: QuantModel = field(repr=False)
    image: bytes = field(repr=False, default=b"")
    inputs_int8: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int8))

    def report(self) -> str:
        lines = [
            f"board {self.board}: image {self.image_bytes} B, arena {self.arena_bytes} B",
            f"end-to-end latency {self.latency_s * 1e3:.4f} ms, energy "
            f"{self.energy_j * 1e6:.3f} uJ ({self.energy_source})",
            f"{'layer':<28} {'op':<8} {'ticks':>10} {'ms':>10} {'uJ':>10}",
        ]
        lines += [
            f"{t.name:<28} {t.op:<8} {t.ticks:>10} {t.latency_s * 1e3:>10.4f} "
            f"{t.energy_j * 1e6:>10.3f}"
            for t in self.per_layer
        ]
        return "\n".join(lines)


def batched(x: Tensor) -> Tensor:
    """A float batch (N, C, T); a single (C, T) example becomes a batch of one."""
    x = x.detach().float()
    return x[None] if x.dim() == 2 else x


def prepare(model: nn.Module, calib: Tensor) -> tuple[QuantModel, bytes]:
    calib = batched(calib)
    ir = lower(model, calib[:1])
    qm = quantize_network(ir, calib)
    return qm, to_image(qm)


def check_fits(board: Board, qm: QuantModel, image: bytes) -> int:
    """Refuse before sending anything when the model cannot fit; returns the arena size."""
    info = board.session.info
    assert info is not None
    arena = memory_needed(qm)
    need = -(-len(image) // 8) * 8 + arena  # the arena starts 8-aligned after the image
    if need > info.ram_pool_bytes:
        raise DeployError(
            f"network too large for board {board.name}: model image {len(image)} B + "
            f"activation arena {arena} B = {need} B > model RAM pool {info.ram_pool_bytes} B "
            f"(board RAM {board.profile.ram_bytes} B); nothing was sent"
        )
    if info.flash_models and len(image) > info.flash_free_bytes:
        raise DeployError(
            f"network too large for board {board.name}: model image {len(image)} B > free flash "
            f"{info.flash_free_bytes} B; nothing was sent"
        )
    if 2 + qm.input_tensor.nbytes > info.max_payload:
        raise DeployError(
            f"input of {qm.input_tensor.nbytes} B does not fit one RUN frame "
            f"(max payload {info.max_payload} B)"
        )
    return arena


def deploy_model(
    board: Board,
    model: nn.Module,
    calib: Tensor,
    inputs: Tensor | None = None,
    repeats: int = 1,
) -> DeployResult:
    qm, image = prepare(model, calib)
    arena = check_fits(board, qm, image)
    session, meter = board.session, board.meter
    try:
        loaded = session.load_model(image)
    except BoardCommandError as exc:
        raise DeployError(f"board refused the model image ({len(image)} B): {exc}") from exc
    out_t = qm.output_tensor
    if (loaded.n_layers, loaded.output.channels, loaded.output.length) != (
        len(qm.layers),
        out_t.channels,
        out_t.length,
    ):
        raise DeployError(
            f"board planned {loaded.n_layers} layers with output "
            f"{loaded.output.channels}x{loaded.output.length}; expected "
            f"{len(qm.layers)} layers, {out_t.channels}x{out_t.length}"
        )
    xs = batched(calib)[:1] if inputs is None else batched(inputs)
    spt = board.seconds_per_tick
    q_inputs, outs, totals = [], [], []
    layer_ticks = np.zeros(len(qm.layers))
    energies = []
    for x in xs:
        xq = qm.quantize_input(x)
        q_inputs.append(xq)
        for _ in range(max(1, repeats)):
            meter.start()
            reply = session.run(xq.tobytes(), per_layer=True)
            energies.append(meter.stop(reply.total_ticks * spt, 1))
            totals.append(reply.total_ticks)
            layer_ticks += np.array(reply.layer_ticks, dtype=np.float64)
        outs.append(
            np.frombuffer(reply.output, dtype=np.int8).reshape(out_t.length, out_t.channels)
        )
    runs = len(totals)
    total_s = float(np.median(totals)) * spt
    energy = float(np.median(energies))
    per_layer = []
    mean_ticks = layer_ticks / runs
    for layer, ticks in zip(qm.layers, mean_ticks, strict=True):
        share = ticks / max(mean_ticks.sum(), 1.0)
        per_layer.append(
            LayerTiming(layer.name, layer.op, round(ticks), ticks * spt, energy * share)
        )
    outputs = torch.stack([qm.dequantize_output(o) for o in outs])
    return DeployResult(
        board=board.name,
        latency_s=total_s,
        energy_j=energy,
        energy_source=meter.source,
        per_layer=per_layer,
        outputs=outputs,
        outputs_int8=np.stack(outs),
        total_ticks=totals,
        image_bytes=len(image),
        arena_bytes=loaded.arena_bytes or arena,
        model=qm,
        image=image,
        inputs_int8=np.stack(q_inputs),
    )
