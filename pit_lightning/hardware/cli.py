"""``pit-lightning geometries``, ``profile`` and ``deploy``: a seed on a board.

    pit-lightning geometries --seed TEMPONet > temponet.txt
    hw-profiler profile --geometries temponet.txt --table temponet.csv
    pit-lightning profile --seed TEMPONet --table temponet.csv     # the two in one step
    pit-lightning deploy --seed TEMPONet --table temponet_layers.csv  # measured vs predicted
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from hw_profiler import api
from hw_profiler.cli import main as hw_profiler_main
from hw_profiler.deploy.lower import network_geometries
from hw_profiler.geometry import ChannelGrid, LayerGeometry, write_geometries

from ..cost.geometry import SEARCH_OPTIONS
from .named_seeds import SEEDS, build_seed
from .space import enumerate_geometries, spaces_from_seed


def _space_parser(command: str, description: str) -> argparse.ArgumentParser:
    """A parser for one subcommand, with the options that name a seed's search space."""
    parser = argparse.ArgumentParser(prog=f"pit-lightning {command}", description=description)
    parser.add_argument("--seed", required=True, help=f"seed network ({', '.join(SEEDS)})")
    parser.add_argument("--search", default=",".join(SEARCH_OPTIONS),
                        help="comma-separated PIT search options (default: all)")
    parser.add_argument("--channel-step", type=int, default=8,
                        help="channel grid step: 1, step, 2*step, ..., max (default 8)")
    return parser


def seed_geometries(args: argparse.Namespace) -> list[LayerGeometry]:
    search = tuple(s.strip() for s in args.search.split(",") if s.strip())
    return enumerate_geometries(spaces_from_seed(args.seed, search), search,
                                ChannelGrid(args.channel_step))


def geometries_main(argv: Sequence[str]) -> None:
    parser = _space_parser(
        "geometries", "Every layer geometry a PIT search of a seed can reach, one per line "
                      "(the input of `hw-profiler profile --geometries`).")
    parser.add_argument("--out", type=Path, help="write to this file (default: stdout)")
    args = parser.parse_args(argv)
    text = write_geometries(seed_geometries(args))
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)


def profile_main(argv: Sequence[str]) -> None:
    parser = _space_parser(
        "profile", "Measure a seed's search space into a latency table on a board; other "
                   "options (--board, --table, --repeats, ...) are `hw-profiler profile`'s.")
    args, rest = parser.parse_known_args(argv)
    given = [f"--geometry={g}" for g in seed_geometries(args)]
    sys.exit(hw_profiler_main(["profile", *given, *rest]))


def deploy_main(argv: Sequence[str]) -> None:
    """Deploy a seed (random weights: latency and bit-exactness do not depend on them),
    check the board's int8 outputs against the reference, and set the measured end-to-end
    latency beside the sum of the table entries of its layers (missing ones measured)."""
    parser = argparse.ArgumentParser(prog="pit-lightning deploy", description=deploy_main.__doc__)
    parser.add_argument("--seed", required=True, help=f"seed network ({', '.join(SEEDS)})")
    parser.add_argument("--length", type=int, help="input length T (default: the seed's)")
    parser.add_argument("--board", default="qemu_stm32f4")
    parser.add_argument("--table", type=Path, default=Path("latency_table.csv"))
    parser.add_argument("--inputs", type=int, default=3, help="inputs to run and compare")
    args = parser.parse_args(argv)
    model, example = build_seed(args.seed)
    shape = (example.shape[1], args.length or example.shape[2])
    gen = torch.Generator().manual_seed(1)
    calib = torch.randn(16, *shape, generator=gen)
    keyed = network_geometries(model, calib[:1])
    with api.open_board(args.board) as board:
        result = api.validate(model, calib, board, inputs=calib[: args.inputs])
        table = api.profile([g for _, g in keyed], board, args.table, progress=False).table
    print(result.report())
    predicted = sum(table.latency_s(g) for _, g in keyed)
    measured = result.deploy.latency_s
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.seed} {shape[0]}x{shape[1]}: {params} params, measured "
          f"{measured * 1e3:.3f} ms, predicted {predicted * 1e3:.3f} ms "
          f"({(predicted / measured - 1) * 100:+.2f} %), int8 "
          f"{'bit-exact' if result.ok and result.max_diff_lsb == 0 else 'MISMATCH'}")
    sys.exit(0 if result.ok else 1)
