"""Latency-table throughput on the emulated board, and end-to-end latency of a deployed seed.

Usage: python benchmarks/profiling_throughput.py [--sample 150] [--channel-step 8]

1. Enumerates the TEMPONet search space (PIT(...).search_space() when pit_lightning's
   PIT is importable, else hand-built LayerSpace records), measures a seeded random
   sample of its geometries on qemu_stm32f4 and prints entries/s and the projected time
   for the whole space.
2. Deploys the TEMPONet seed (or reports why the board refuses it) and a ResTCN seed
   that fits the emulated board, printing end-to-end latency and energy.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import Conv1d, Linear

from hw_profiler import api
from hw_profiler.errors import HwProfilerError
from hw_profiler.geometry import ChannelGrid
from pit_lightning.cost.geometry import SEARCH_OPTIONS, LayerSpace
from pit_lightning.hardware import enumerate_geometries


def temponet_spaces() -> tuple[list[LayerSpace], str]:
    try:
        import warnings

        from pit_lightning.nas import PIT
        from pit_lightning.seeds import TEMPONet

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pit = PIT(TEMPONet(), example_input=torch.randn(1, 4, 256), search=SEARCH_OPTIONS)
        return list(pit.search_space()), "PIT(TEMPONet()).search_space()"
    except ImportError:
        pass
    # by hand: kernels [5,5,5,9,9,17,17], channels 32,32,64 | 64,64 | 128,128, 4 x 256 input
    rows = [
        (4, 32, 5, 256, False, True),
        (32, 32, 5, 256, True, True),
        (32, 64, 5, 256, True, True),
        (64, 64, 9, 128, True, True),
        (64, 64, 9, 128, True, False),
        (128, 128, 17, 32, False, True),
        (128, 128, 17, 32, True, False),
    ]
    spaces = []
    for i, (ci, co, k, t, sin, sout) in enumerate(rows):
        dil = tuple(2**p for p in range(k.bit_length()) if 2**p < k)
        spaces.append(LayerSpace(f"conv{i}", ci, co, k, dil, t, True, sin, sout))
    return spaces, "hand-built LayerSpace records"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=150)
    parser.add_argument("--channel-step", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--board", default="qemu_stm32f4")
    args = parser.parse_args()

    spaces, origin = temponet_spaces()
    geoms = enumerate_geometries(spaces, SEARCH_OPTIONS, ChannelGrid(args.channel_step))
    sample = sorted(random.Random(0).sample(geoms, min(args.sample, len(geoms))))
    print(
        f"search space: {origin}, {len(spaces)} searchable layers, {len(geoms)} geometries "
        f"(channel grid step {args.channel_step}); measuring a random sample of {len(sample)}"
    )
    with api.open_board(args.board) as board, tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        result = api.profile(
            sample, board, Path(tmp) / "t.csv", repeats=args.repeats, progress=False
        )
        elapsed = time.monotonic() - start
        rate = len(sample) / elapsed
        frame = result.table.frame()
        ok = frame[frame["status"] == "ok"]
        print(result.summary)
        print(
            f"throughput: {rate:.2f} entries/s (warmup 1, repeats {args.repeats}, "
            f"incl. CSV persistence); projected full space: {len(geoms) / rate / 60:.1f} min"
        )
        print(
            f"sampled latencies at {result.table.meta.clock_hz / 1e6:g} MHz: "
            f"median {ok['latency_s'].median() * 1e3:.3f} ms, "
            f"max {ok['latency_s'].max() * 1e3:.3f} ms; "
            f"{(frame['status'] != 'ok').sum()} sampled geometries exceed the board's RAM"
        )

        from pit_lightning.seeds import TEMPONet, restcn_jsb

        torch.manual_seed(0)
        seeds = [
            ("TEMPONet seed", TEMPONet().eval(), torch.randn(16, 4, 256)),
            (
                "ResTCN seed (JSB setting, 32 channels)",
                restcn_jsb(channels=32).eval(),
                torch.rand(16, 88, 32),
            ),
        ]
        for name, model, calib in seeds:
            try:
                res = api.deploy(model, calib, board)
            except HwProfilerError as exc:
                weights = sum(
                    m.weight.numel() for m in model.modules() if isinstance(m, (Conv1d, Linear))
                )
                print(f"deploy {name}: refused: {exc}")
                print(
                    f"  (its int8 weights alone take {weights} B; the board's model RAM pool "
                    f"is {board.session.info.ram_pool_bytes} B)"
                )
                continue
            print(
                f"deploy {name}: end-to-end {res.latency_s * 1e3:.3f} ms, "
                f"{res.energy_j * 1e6:.2f} uJ ({res.energy_source}), "
                f"{len(res.per_layer)} layers, image {res.image_bytes} B"
            )


if __name__ == "__main__":
    main()
