"""Training-step overhead of PIT: wrapped TEMPONet seeds against the plain seed.

One step = forward + backward + Adam step on one batch of 4 x 256 windows. The PIT
step searches dilation, receptive field and channels and adds the params cost to the
loss. With ``--compare plinio`` PLiNIO's PIT wraps the same seed (all masks searched,
its params cost) and is stepped in the same loop. The networks take turns step by step,
so drift (clocks, other load) hits them alike; each figure is the median step time of
a wrapper over the plain seed's, per repeat, and the median over repeats. On CUDA each
step ends with a synchronize, so a step's time includes its kernels.

    python benchmarks/overhead.py [--device cpu|cuda] [--batch 32] [--repeats 3]
        [--compare plinio --plinio PATH/TO/PLINIO/CHECKOUT]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from pit_lightning.nas import PIT, UnsearchedLayerWarning
from pit_lightning.seeds import TEMPONet

STRENGTH = 1e-7  # small enough that the masks barely move: the step's work stays put
Step = Callable[[], None]


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
              nas: list[nn.Parameter] | None = None,
              cost: Callable[[], torch.Tensor] | None = None) -> Step:
    """Forward, loss (plus the cost), backward and Adam step; weights and masks in two
    parameter groups, the masks without weight decay, as the training module does."""
    if nas is None:
        groups = [{"params": list(model.parameters())}]
    else:
        ids = {id(p) for p in nas}
        groups = [{"params": [p for p in model.parameters() if id(p) not in ids]},
                  {"params": nas, "weight_decay": 0.0}]
    optimizer = torch.optim.Adam(groups, lr=1e-3)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.l1_loss(model(x), y)
        if cost is not None:
            loss = loss + STRENGTH * cost()
        loss.backward()
        optimizer.step()
        sync()

    return step


def plinio_step(path: str | None, x: torch.Tensor, y: torch.Tensor,
                device: torch.device) -> Step | str:
    """PLiNIO's PIT on the same seed, or why it cannot run."""
    if path is not None:
        if not (Path(path) / "plinio").is_dir():
            return f"no PLiNIO checkout at {path} (expected {path}/plinio/)"
        sys.path.insert(0, str(Path(path).resolve()))
    try:
        methods = importlib.import_module("plinio.methods")
        costs = importlib.import_module("plinio.cost")
    except ImportError as exc:
        return f"cannot import PLiNIO ({exc}); pass --plinio PATH to a checkout " \
               "and install its requirements"
    try:
        model = methods.PIT(TEMPONet().to(device), cost=costs.params,
                            input_shape=tuple(x.shape[1:]), train_features=True,
                            train_rf=True, train_dilation=True).to(device).train()
    except Exception as exc:  # another project's code: report, do not stop the run
        return f"PLiNIO could not wrap the seed: {type(exc).__name__}: {exc}"
    return make_step(model, x, y, device, nas=list(model.nas_parameters()),
                     cost=lambda: model.cost)


def measure(steps: dict[str, Step], warmup: int, count: int) -> dict[str, float]:
    """Median seconds per step of each network, stepped in turns."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(warmup + count):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per network")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1,
                        help="measurements in a row; the figure is their median")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--compare", choices=("plinio",), default=None)
    parser.add_argument("--plinio", default=None, metavar="PATH",
                        help="a PLiNIO checkout (the folder holding plinio/)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x = torch.randn(args.batch, 4, 256, device=device)
    y = torch.randn(args.batch, device=device) * 20 + 80
    plain = TEMPONet().to(device).train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsearchedLayerWarning)
        pit = PIT(TEMPONet(), x.cpu(), cost="params").to(device).train()
    steps = {
        "plain": make_step(plain, x, y, device),
        "pit": make_step(pit, x, y, device, nas=list(pit.nas_parameters()),
                         cost=lambda: pit.cost),
    }
    if args.compare == "plinio":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step = plinio_step(args.plinio, x, y, device)
        if isinstance(step, str):
            print(f"PLiNIO skipped: {step}")
        else:
            steps["plinio"] = step

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch}; "
          f"{args.steps} steps after {args.warmup} warm-up, {args.repeats} repeat(s)")
    ratios: dict[str, list[float]] = {n: [] for n in steps if n != "plain"}
    for repeat in range(args.repeats):
        medians = measure(steps, args.warmup, args.steps)
        line = ", ".join(f"{n} {m * 1e3:.2f} ms" for n, m in medians.items())
        for n in ratios:
            ratios[n].append(medians[n] / medians["plain"])
        print(f"repeat {repeat + 1}: {line}; " + ", ".join(
            f"{n}/plain {r[-1]:.3f}" for n, r in ratios.items()))
    for n, r in ratios.items():
        print(f"ratio {n}/plain: {statistics.median(r):.3f} (median of {len(r)})")


if __name__ == "__main__":
    main()
