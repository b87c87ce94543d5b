"""What a GPU buys for a PIT search step, by network and batch size.

One step is what the search phase does per batch: forward through the PIT-wrapped seed,
task loss plus the params cost, backward, one Adam step over weights and masks. Each
(seed, batch) is timed on every device given, in the same process, after warm-up
steps; on CUDA each step ends with a synchronize. The figure is the median step time
and, with both devices, CPU time over GPU time.

    python benchmarks/device_speedup.py [--devices cpu cuda] [--threads 2] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from torch import nn

from pit_lightning.nas import PIT, UnsearchedLayerWarning
from pit_lightning.seeds import ResTCN, TEMPONet

# name -> (seed factory, input shape): the demo's seed, the JSB chorales seed, TEMPONet.
SEEDS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int]]] = {
    "ResTCN 2x32 (demo)": (lambda: ResTCN(levels=2, channels=32, kernel_size=3), (88, 40)),
    "ResTCN 2x150 (JSB)": (lambda: ResTCN(levels=2, channels=150, kernel_size=3), (88, 48)),
    "TEMPONet (PPG)": (TEMPONet, (4, 256)),
}


def step_time(seed: Callable[[], nn.Module], shape: tuple[int, int], batch: int,
              device: torch.device, steps: int) -> float:
    """Median seconds per search step."""
    torch.manual_seed(0)
    x = torch.randn(batch, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsearchedLayerWarning)
        pit = PIT(seed(), x[:1], cost="params").to(device).train()
    x = x.to(device)
    target = torch.randn_like(pit(x)).detach()
    optimizer = torch.optim.Adam(pit.parameters(), lr=1e-3)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(steps + 3):  # three warm-up steps (allocator, kernels, autotuning)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(pit(x), target) + 1e-7 * pit.cost
        loss.backward()
        optimizer.step()
        sync()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"],
                        choices=["cpu", "cuda"])
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per figure")
    args = parser.parse_args()
    devices = [d for d in args.devices if d != "cuda" or torch.cuda.is_available()]
    if len(devices) < len(args.devices):
        print("# no CUDA device here: CPU only")
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name() if "cuda" in devices else "-"
    print(f"# torch {torch.__version__}, {args.threads} CPU threads, GPU: {name}")
    header = f"{'seed':<20} {'batch':>5}" + "".join(f" {d + ' ms':>10}" for d in devices)
    print(header + ("  cpu/gpu" if len(devices) == 2 else ""))
    for label, (seed, shape) in SEEDS.items():
        for batch in args.batches:
            ms = {d: 1e3 * step_time(seed, shape, batch, torch.device(d), args.steps)
                  for d in devices}
            line = f"{label:<20} {batch:>5}" + "".join(f" {ms[d]:>10.2f}" for d in devices)
            if len(devices) == 2:
                line += f"  {ms['cpu'] / ms['cuda']:>6.1f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
