"""Training-step overhead of PIT: the wrapped TEMPONet seed versus the plain seed.

One step = forward + backward + optimizer step on a CPU batch of 32 windows. The PIT
step searches dilation, receptive field and channels and adds the params cost to the
loss. Steps alternate between the two networks to cancel drift (thermal, other load);
the figure is the ratio of the medians.

    python benchmarks/overhead.py [--steps 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch import nn

from pit_lightning.nas import PIT, UnsearchedLayerWarning
from pit_lightning.seeds import TEMPONet


def make_step(model: nn.Module, params, extra_loss=None):
    optimizer = torch.optim.Adam(params, lr=1e-3)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.l1_loss(model(x), y)
        if extra_loss is not None:
            loss = loss + extra_loss()
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps per network")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x, y = torch.randn(args.batch, 4, 256), torch.randn(args.batch) * 20 + 80
    plain = TEMPONet().train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsearchedLayerWarning)
        pit = PIT(TEMPONet(), x, cost="params").train()
    steps = {
        "plain": make_step(plain, plain.parameters()),
        "pit": make_step(
            pit,
            [{"params": list(pit.net_parameters())},
             {"params": list(pit.nas_parameters()), "weight_decay": 0.0}],
            extra_loss=lambda: 1e-7 * pit.cost,
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(args.warmup + args.steps):
        for name, step in steps.items():
            start = time.perf_counter()
            step(x, y)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(f"{name:>5}: median step {median * 1e3:.2f} ms over {args.steps} steps")
    print(f"ratio: {medians['pit'] / medians['plain']:.2f}")


if __name__ == "__main__":
    main()
