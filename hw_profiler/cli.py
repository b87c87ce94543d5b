"""``hw-profiler``: board info, latency-table profiling, deployment and validation."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hw_profiler.boards import DEFAULT_BOARD, available_boards, load_board
from hw_profiler.errors import HwProfilerError
from hw_profiler.geometry import LayerGeometry, read_geometries

if TYPE_CHECKING:
    from hw_profiler.board import Board


def _board_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--board",
        default=DEFAULT_BOARD,
        help=f"board name or YAML path (default: {DEFAULT_BOARD}; "
        f"known: {', '.join(available_boards())})",
    )
    p.add_argument(
        "--url", help="talk to an already running board at this pyserial URL (skips flashing)"
    )
    p.add_argument("--firmware", help="firmware image to flash instead of the profile's")
    p.add_argument("--timeout", type=float, help="reply timeout per command in seconds")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        type=Path,
        required=True,
        help="torch.save()d nn.Module / torch.fx GraphModule (plain, exported)",
    )
    p.add_argument(
        "--calib",
        type=Path,
        help="torch.save()d calibration tensor (N, C, T); default: random normal",
    )
    p.add_argument(
        "--input-shape", help="C,T of one input when no --calib"
    )
    p.add_argument("--calib-samples", type=int, default=16)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hw-profiler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="flash/start the board and print its INFO")
    _board_args(p)

    p = sub.add_parser("profile", help="measure layer geometries into a latency table")
    _board_args(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--geometry",
        action="append",
        type=LayerGeometry.parse,
        help="one geometry, e.g. conv1d:c_in=4,c_out=32,kernel=5,dilation=1,"
        "length=256 (repeatable)",
    )
    what.add_argument(
        "--geometries",
        type=Path,
        help="file with one geometry per line ('-': standard input), e.g. from "
        "`pit-lightning geometries`",
    )
    p.add_argument("--table", type=Path, default=Path("latency_table.csv"))
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--limit", type=int, help="measure at most this many missing entries")
    p.add_argument("--no-progress", action="store_true")

    for name, text in (
        ("deploy", "quantize, load and run a network"),
        ("validate", "deploy and compare outputs with the int8 reference"),
    ):
        p = sub.add_parser(name, help=text)
        _board_args(p)
        _model_args(p)
        if name == "validate":
            p.add_argument("--tolerance-lsb", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command](args) or 0)
    except HwProfilerError as exc:
        print(f"hw-profiler: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hw-profiler: interrupted (the table keeps every completed entry)", file=sys.stderr)
        return 130


def _open(args: argparse.Namespace) -> AbstractContextManager[Board]:
    from hw_profiler.board import open_board

    return open_board(args.board, firmware=args.firmware, url=args.url, timeout_s=args.timeout)


def cmd_info(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    print(f"board      {board.name}: {board.description}")
    print(f"profile    {board.source}")
    print(
        f"mcu        {board.mcu} ({board.core}) at {board.clock_hz / 1e6:g} MHz, "
        f"RAM {board.ram_bytes} B, flash {board.flash_bytes} B"
    )
    print(f"flasher    {board.flasher.kind}")
    with _open(args) as opened:
        info = opened.session.info
        print(
            f"firmware   {opened.session.firmware_version} (protocol {info.protocol_version}) "
            f"on {info.board_name!r}"
        )
        print(
            f"timer      {info.timer_kind.name.lower()}, {info.ticks_per_second} ticks/s, "
            f"core clock {info.core_clock_hz} Hz; 1 tick = {opened.seconds_per_tick:.3e} s"
        )
        print(
            f"memory     model pool {info.ram_pool_bytes} B ({info.ram_free_bytes} B free), "
            f"flash free {info.flash_free_bytes} B, max payload {info.max_payload} B"
        )
        print(f"energy     {opened.meter.source}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from hw_profiler.api import profile
    from hw_profiler.table import LatencyTable

    if args.geometry:
        geoms = sorted(set(args.geometry))
    else:
        text = sys.stdin.read() if str(args.geometries) == "-" else args.geometries.read_text()
        geoms = sorted(set(read_geometries(text)))
    with _open(args) as opened:
        if args.limit is not None:
            todo = LatencyTable.open(args.table, opened.table_meta()).missing(geoms)
            keep = set(todo[: args.limit])
            geoms = [g for g in geoms if g in keep]
        result = profile(
            geoms,
            opened,
            args.table,
            warmup=args.warmup,
            repeats=args.repeats,
            progress=not args.no_progress,
        )
    print(result.summary)
    print(
        f"table      {args.table} ({len(result.table)} entries, board "
        f"{result.table.meta.board}, firmware {result.table.meta.firmware_version})"
    )
    return 0


def _load_model(args: argparse.Namespace) -> tuple[Any, Any]:
    import torch

    try:
        model = torch.load(args.model, weights_only=False, map_location="cpu")
    except Exception as exc:
        raise HwProfilerError(f"cannot load model {args.model}: {exc}") from exc
    if args.calib is not None:
        calib = torch.load(args.calib, weights_only=True)
    else:
        if not args.input_shape:
            raise HwProfilerError("give --calib or --input-shape C,T for a --model")
        shape = tuple(int(x) for x in args.input_shape.split(","))
        calib = torch.randn(args.calib_samples, *shape, generator=torch.Generator().manual_seed(0))
    return model.eval(), calib


def cmd_deploy(args: argparse.Namespace) -> int:
    from hw_profiler.api import deploy

    model, calib = _load_model(args)
    with _open(args) as opened:
        result = deploy(model, calib, opened)
    print(result.report())
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hw_profiler.api import validate

    model, calib = _load_model(args)
    with _open(args) as opened:
        result = validate(model, calib, opened, tolerance_lsb=args.tolerance_lsb)
    print(result.report())
    return 0 if result.ok else 1


COMMANDS = {
    "info": cmd_info,
    "profile": cmd_profile,
    "deploy": cmd_deploy,
    "validate": cmd_validate,
}

if __name__ == "__main__":
    sys.exit(main())
