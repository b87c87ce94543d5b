"""Deploy a network on a board session: lower, quantize, size-check, load, RUN, collect."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from hw_profiler.deploy.convert import memory_needed, reference_run, to_image
from hw_profiler.deploy.graph import lower
from hw_profiler.deploy.quantize import QuantModel, quantize
from hw_profiler.errors import BoardCommandError, DeployError
from hw_profiler.session import BoardSession


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


@dataclass
class ValidationResult:
    deploy: DeployResult
    reference_int8: np.ndarray
    max_diff_lsb: int
    mismatches: int
    tolerance_lsb: int
    float_max_abs_error: float  # dequantized board output vs the float torch model

    @property
    def ok(self) -> bool:
        return self.max_diff_lsb <= self.tolerance_lsb

    def report(self) -> str:
        verdict = "MATCH" if self.ok else "MISMATCH"
        return (
            f"{self.deploy.report()}\n"
            f"validation: {verdict}: board vs int8 reference max |diff| = {self.max_diff_lsb} "
            f"LSB ({self.mismatches} of {self.reference_int8.size} values differ, tolerance "
            f"{self.tolerance_lsb}); dequantized vs float model max |error| = "
            f"{self.float_max_abs_error:.4g}"
        )


def _batched(x: Tensor) -> Tensor:
    """A float batch (N, C, T); a single (C, T) example becomes a batch of one."""
    x = x.detach().float()
    return x[None] if x.dim() == 2 else x


def prepare(model: nn.Module, calib: Tensor) -> tuple[QuantModel, bytes]:
    calib = _batched(calib)
    ir = lower(model, calib[:1])
    qm = quantize(ir, calib)
    return qm, to_image(qm)


def check_fits(session: BoardSession, qm: QuantModel, image: bytes) -> int:
    """Refuse before sending anything when the model cannot fit; returns the arena size."""
    info = session.info
    assert info is not None
    arena = memory_needed(qm)
    need = -(-len(image) // 8) * 8 + arena  # the arena starts 8-aligned after the image
    board = session.profile.name if session.profile else session.name
    if need > info.ram_pool_bytes:
        raise DeployError(
            f"network too large for board {board}: model image {len(image)} B + activation "
            f"arena {arena} B = {need} B > model RAM pool {info.ram_pool_bytes} B "
            f"(board RAM {session.profile.ram_bytes if session.profile else '?'} B); nothing "
            "was sent"
        )
    if info.flash_models and len(image) > info.flash_free_bytes:
        raise DeployError(
            f"network too large for board {board}: model image {len(image)} B > free flash "
            f"{info.flash_free_bytes} B; nothing was sent"
        )
    if 2 + qm.input_tensor.nbytes > info.max_payload:
        raise DeployError(
            f"input of {qm.input_tensor.nbytes} B does not fit one RUN frame "
            f"(max payload {info.max_payload} B)"
        )
    return arena


def deploy_model(
    session: BoardSession,
    model: nn.Module,
    calib: Tensor,
    inputs: Tensor | None = None,
    repeats: int = 1,
) -> DeployResult:
    qm, image = prepare(model, calib)
    arena = check_fits(session, qm, image)
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
    xs = _batched(calib)[:1] if inputs is None else _batched(inputs)
    assert session.meter is not None
    spt = session.seconds_per_tick
    q_inputs, outs, totals = [], [], []
    layer_ticks = np.zeros(len(qm.layers))
    energies = []
    for x in xs:
        xq = qm.quantize_input(x)
        q_inputs.append(xq)
        for _ in range(max(1, repeats)):
            session.meter.start()
            reply = session.run(xq.tobytes(), per_layer=True)
            energies.append(session.meter.stop(reply.total_ticks * spt, 1))
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
        board=session.profile.name if session.profile else session.name,
        latency_s=total_s,
        energy_j=energy,
        energy_source=session.meter.source,
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


def validate_model(
    session: BoardSession,
    model: nn.Module,
    calib: Tensor,
    inputs: Tensor | None = None,
    tolerance_lsb: int = 0,
) -> ValidationResult:
    result = deploy_model(session, model, calib, inputs)
    ref = np.stack(
        [
            reference_run(result.image, xq).reshape(result.outputs_int8.shape[1:])
            for xq in result.inputs_int8
        ]
    )
    diff = np.abs(ref.astype(np.int32) - result.outputs_int8.astype(np.int32))
    xs = _batched(calib)[:1] if inputs is None else _batched(inputs)
    with torch.no_grad():
        expected = model.eval()(xs).reshape(result.outputs.shape)
    return ValidationResult(
        deploy=result,
        reference_int8=ref,
        max_diff_lsb=int(diff.max(initial=0)),
        mismatches=int((diff > 0).sum()),
        tolerance_lsb=tolerance_lsb,
        float_max_abs_error=float((result.outputs - expected).abs().max()),
    )
