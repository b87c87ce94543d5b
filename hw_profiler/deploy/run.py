"""Deploy a network on a board: the pipeline's stages in order, then load, RUN and time.

lower (:mod:`~hw_profiler.deploy.lower`) -> quantize (:mod:`~hw_profiler.deploy.quantize`)
-> serialize (:mod:`~hw_profiler.deploy.serialize`) -> run (here); comparing the outputs
with the int8 reference is :mod:`~hw_profiler.deploy.compare`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from hw_profiler.board import Board
from hw_profiler.deploy.lower import lower
from hw_profiler.deploy.quantize import QuantModel, quantize_network
from hw_profiler.deploy.serialize import VERSION, memory_needed, to_image
from hw_profiler.errors import BoardCommandError, DeployError
from hw_profiler.protocol import InfoReply
from hw_profiler.session import format_version

RAM = "ram"
FLASH = "flash"


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
    placement: str = RAM  # where the weights live: "ram" (uploaded) or "flash"
    flashed: bool = False  # the board was flashed for this deployment
    image: bytes = field(repr=False, default=b"")
    inputs_int8: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int8))

    def report(self) -> str:
        where = (
            "uploaded to RAM" if self.placement == RAM
            else "in flash, " + ("flashed now" if self.flashed else "already flashed (same CRC-32)")
        )
        lines = [
            f"board {self.board}: image {self.image_bytes} B ({where}), "
            f"arena {self.arena_bytes} B",
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


def choose_placement(info: InfoReply, board: str, image_bytes: int, arena_bytes: int) -> str:
    """RAM when image and arena fit the RAM pool (uploading is faster than flashing),
    else flash when the image fits the flash slot and the arena the pool; otherwise the
    network is refused, naming every size, before anything is sent."""
    if info.model_format < VERSION:
        raise DeployError(
            f"board {board} runs firmware {format_version(info.firmware_version)}, which reads "
            f"model format {info.model_format}; this host writes format {VERSION}: flash the "
            "firmware shipped with hw_profiler"
        )
    ram_need = -(-image_bytes // 8) * 8 + arena_bytes  # the arena starts 8-aligned after it
    if ram_need <= info.ram_pool_bytes:
        return RAM
    if info.flash_models and image_bytes <= info.flash_slot_bytes and (
        arena_bytes <= info.ram_pool_bytes
    ):
        return FLASH
    why = (
        f"model image {image_bytes} B + activation arena {arena_bytes} B = {ram_need} B > "
        f"model RAM pool {info.ram_pool_bytes} B"
    )
    if not info.flash_models:
        why += ", and the board keeps no models in flash"
    elif arena_bytes > info.ram_pool_bytes:
        why += ", and the arena alone exceeds the pool with the weights in flash"
    else:
        why += f", and the image > flash model slot {info.flash_slot_bytes} B"
    raise DeployError(f"network too large for board {board}: {why}; nothing was sent")


def deploy_model(
    board: Board,
    model: nn.Module,
    calib: Tensor,
    inputs: Tensor | None = None,
    repeats: int = 1,
) -> DeployResult:
    qm, image = prepare(model, calib)
    info = board.session.info
    assert info is not None
    arena = memory_needed(qm)
    placement = choose_placement(info, board.name, len(image), arena)
    # what INFO reports of the flash slot: the size and the image's own checksum (trailer)
    wanted = (len(image), zlib.crc32(image[:-4]))
    flashed = placement == FLASH and (info.flash_image_bytes, info.flash_image_crc32) != wanted
    if flashed:
        board.flash_model(image)
        now = board.session.info
        assert now is not None
        if (now.flash_image_bytes, now.flash_image_crc32) != wanted:
            raise DeployError(
                f"board {board.name}: after flashing, its model slot does not hold the image "
                f"({wanted[0]} B, CRC-32 {wanted[1]:08x})"
            )
    session, meter = board.session, board.meter
    try:
        loaded = session.load_model(image) if placement == RAM else session.load_flash()
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
        placement=placement,
        flashed=flashed,
    )
