"""Training-step time of a PIT layer stack that convolves only its kept taps, against the
same network convolving the full seed kernels.

The network is the ArrowHead seed (undilated ResTCN, 6 levels x 32 channels, kernels 3
.. 65, one series of 251 samples, batch 8) with its masks set to an architecture
searches reach: each seed kernel down to its newest and oldest tap (k = 2 at d = 2 ..
64; the searched ArrowHead networks keep k = 2 at d = 2 .. 64 in most layers). One step
is forward, cross-entropy, backward and Adam step, taken two ways: while searching (the
time masks learn, so the weight gradient covers every tap) and with the masks held
(warmup, fine-tune). The two convolutions take turns step by step, so drift hits them
alike; each figure is a median step time, and the ratio is full kernel over kept taps.

    python benchmarks/kept_taps.py [--threads 1] [--steps 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

import pit_lightning.nas.layer as layer_module
from pit_lightning.cost.geometry import SEARCH_OPTIONS
from pit_lightning.nas import PIT
from pit_lightning.seeds import ResTCN


@contextlib.contextmanager
def full_kernels() -> Iterator[None]:
    """Every PIT layer convolves its whole (masked) kernel, as before kept taps."""
    kept = layer_module.kept_taps_conv1d
    layer_module.kept_taps_conv1d = lambda x, weight, bias, *_: F.conv1d(x, weight, bias)
    try:
        yield
    finally:
        layer_module.kept_taps_conv1d = kept


def two_taps_per_kernel(pit: PIT) -> None:
    """Close each layer's coarsest dilation gate: its newest and oldest tap remain."""
    with torch.no_grad():
        for _, layer in pit.layers():
            mask = layer.dilation_mask
            if mask is not None and mask.levels:
                mask.gamma[mask.levels - 1] = 0.0


def make_step(pit: PIT, x: torch.Tensor, y: torch.Tensor, held: bool) -> Callable[[], None]:
    """One training step; held masks are left out of the optimizer, as a phase drops
    their gradients."""
    params = pit.net_parameters() if held else pit.parameters()
    optimizer = torch.optim.Adam(params, lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(pit(x)[..., -1], y).backward()  # read at the last step
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = torch.randn(8, 1, 251), torch.randint(0, 3, (8,))
    seed = ResTCN(1, 3, levels=6, channels=32, kernel_size=3, dropout=0.0)
    for held, label in (((), "searching (time masks learn)"),
                        (SEARCH_OPTIONS, "masks held (warmup, fine-tune)")):
        pit = PIT(seed, x[:1]).train()
        two_taps_per_kernel(pit)
        pit.hold_masks(held)
        taps = {name: layer.kept_taps() for name, layer in pit.layers()}
        step = make_step(pit, x, y, bool(held))
        ratios = []
        for _ in range(args.repeats):
            times: dict[str, list[float]] = {"kept": [], "full": []}
            for _ in range(args.steps):
                for name in ("kept", "full"):
                    with full_kernels() if name == "full" else contextlib.nullcontext():
                        start = time.perf_counter()
                        step()
                        times[name].append(time.perf_counter() - start)
            kept, full = (statistics.median(times[n]) for n in ("kept", "full"))
            ratios.append(full / kept)
            print(f"{label}: kept taps {kept * 1e3:.1f} ms, full kernels {full * 1e3:.1f} ms "
                  f"per step, {full / kept:.2f}x")
        print(f"{label}: median {statistics.median(ratios):.2f}x over {args.repeats} repeats "
              f"({len(taps)} layers, kept (taps, dilation): "
              f"{sorted(set(taps.values()))})\n")


if __name__ == "__main__":
    main()
