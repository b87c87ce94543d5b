"""Latency-table throughput on the emulated board, and end-to-end latency of a deployed seed.

Usage: python benchmarks/profiling_throughput.py [--sample 150] [--channel-step 8]
       [--boards 1 2] [--full]

1. Enumerates the TEMPONet search space (PIT(...).search_space() when pit_lightning's
   PIT is importable, else hand-built LayerSpace records), measures a seeded random
   sample of its geometries on qemu_stm32f4 with 1, then 2 emulated boards at once, and
   prints entries/s and the projected time for the whole space for each.
   ``--full`` then profiles the whole space with the largest board count and with one
   board, and compares the two tables entry by entry (all columns, then ticks_median and
   output_crc32 one by one).
2. Deploys the TEMPONet seed (or reports why the board refuses it) and a ResTCN seed
   that fits the emulated board, printing end-to-end latency and energy.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import Conv1d, Linear

from hw_profiler import api
from hw_profiler.errors import HwProfilerError
from hw_profiler.geometry import ChannelGrid, LayerGeometry
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


def timed_profile(
    geoms: list[LayerGeometry], board: str, count: int, table: Path, repeats: int
) -> tuple[api.ProfileResult, float]:
    """Profile ``geoms`` into a fresh ``table`` with ``count`` emulated boards; the time
    excludes starting the emulators, includes CSV persistence."""
    with api.open_boards(board, count) as boards:
        start = time.monotonic()
        result = api.profile(geoms, boards if count > 1 else boards[0], table,
                             repeats=repeats, progress=False)
        return result, time.monotonic() - start


def compare(a: api.ProfileResult, b: api.ProfileResult) -> str:
    fa, fb = a.table.frame(), b.table.frame()
    if len(fa) != len(fb):
        return f"tables differ in size: {len(fa)} vs {len(fb)}"
    crc = int((fa["output_crc32"].fillna(-1) == fb["output_crc32"].fillna(-1)).sum())
    status = int((fa["status"] == fb["status"]).sum())
    diff = (fa["ticks_median"] - fb["ticks_median"]).abs().dropna()
    counts = diff.value_counts().sort_index()
    spread = ", ".join(f"{int(n)} entries differ by {d:g}" for d, n in counts.items())
    rel = (diff / fa["ticks_median"].dropna()).max()
    same = "identical" if fa.equals(fb) else "not identical"
    return (
        f"{len(fa)} entries, tables {same}: status equal in {status}, output_crc32 equal in "
        f"{crc}; ticks_median: {spread} (at most {rel * 100:.3f}% of the ticks)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=150)
    parser.add_argument("--channel-step", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--board", default="qemu_stm32f4")
    parser.add_argument("--boards", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--full", action="store_true", help="also profile the whole space")
    args = parser.parse_args()

    spaces, origin = temponet_spaces()
    geoms = enumerate_geometries(spaces, SEARCH_OPTIONS, ChannelGrid(args.channel_step))
    sample = sorted(random.Random(0).sample(geoms, min(args.sample, len(geoms))))
    print(
        f"search space: {origin}, {len(spaces)} searchable layers, {len(geoms)} geometries "
        f"(channel grid step {args.channel_step}); measuring a random sample of {len(sample)}"
    )
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        sampled = None  # a table of the sample, for its latency statistics
        for count in args.boards:
            result, elapsed = timed_profile(
                sample, args.board, count, tmp / f"sample{count}.csv", args.repeats
            )
            rate = len(sample) / elapsed
            sampled = sampled or result
            print(result.summary)
            print(
                f"throughput with {count} board(s): {rate:.2f} entries/s (warmup 1, repeats "
                f"{args.repeats}, incl. CSV persistence); projected full space: "
                f"{len(geoms) / rate / 60:.2f} min"
            )
        if args.full:
            most = max(args.boards)
            runs = {}
            for count in sorted({most, 1}, reverse=True):
                runs[count], elapsed = timed_profile(
                    geoms, args.board, count, tmp / f"full{count}.csv", args.repeats
                )
                print(f"full space, {count} board(s): {runs[count].summary}")
            if len(runs) == 2:
                print(f"{most} boards vs 1 board: {compare(runs[1], runs[most])}")
        board = stack.enter_context(api.open_board(args.board))  # for the deploy below
        result = sampled
        frame = result.table.frame()
        ok = frame[frame["status"] == "ok"]
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
