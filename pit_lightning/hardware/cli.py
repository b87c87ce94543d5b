"""``pit-lightning geometries`` and ``pit-lightning profile``: a seed's search space for a board.

    pit-lightning geometries --seed TEMPONet > temponet.txt
    hw-profiler profile --geometries temponet.txt --table temponet.csv
    pit-lightning profile --seed TEMPONet --table temponet.csv     # the two in one step
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hw_profiler.cli import main as hw_profiler_main
from hw_profiler.geometry import ChannelGrid, LayerGeometry, write_geometries

from ..cost.geometry import SEARCH_OPTIONS
from .named_seeds import SEEDS
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
