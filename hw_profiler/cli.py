"""``hw-profiler``: board info, latency-table profiling, deployment and validation."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hw_profiler.boards import DEFAULT_BOARD, available_boards, load_board
from hw_profiler.errors import HwProfilerError
from hw_profiler.geometry import LayerGeometry, read_geometries
from hw_profiler.protocol import TimerKind

if TYPE_CHECKING:
    from hw_profiler.board import Board


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return value

    return parse


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _shape(text: str) -> tuple[int, int]:
    try:
        shape = tuple(int(x) for x in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"expected C,T (two positive ints), got {text!r}")
    return shape  # type: ignore[return-value]


def _board_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--board",
        default=DEFAULT_BOARD,
        help=f"board name or YAML path (default: {DEFAULT_BOARD}; "
        f"known: {', '.join(available_boards())}). A board profile is trusted "
        "configuration: it names the programs that flash and start the board",
    )
    p.add_argument(
        "--url", help="talk to an already running board at this pyserial URL (skips flashing)"
    )
    p.add_argument("--firmware", help="firmware image to flash instead of the profile's")
    link = p.add_argument_group("link (default: the board profile's uart section)")
    link.add_argument("--timeout", type=_positive(float), help="reply timeout per command in s")
    link.add_argument(
        "--retries", type=_count, help="resends of one request on a damaged or missing reply"
    )
    link.add_argument(
        "--byte-timeout",
        type=_positive(float),
        help="give up on a reply that started and went quiet for this many s",
    )
    link.add_argument(
        "--chunk-bytes",
        type=_positive(int),
        help="largest model chunk per LOAD_CHUNK frame; it shrinks on its own on a noisy link",
    )


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        type=Path,
        required=True,
        help="torch.save()d nn.Module / torch.fx GraphModule (plain, exported). Such a file "
        "is a pickle: loading it runs code from it, so it is refused without --trust-model",
    )
    p.add_argument(
        "--trust-model",
        action="store_true",
        help="load a pickled --model (only for files you made or trust)",
    )
    p.add_argument(
        "--calib",
        type=Path,
        help="torch.save()d calibration tensor (N, C, T); default: random normal",
    )
    p.add_argument("--input-shape", type=_shape, help="C,T of one input when no --calib")
    p.add_argument("--calib-samples", type=_positive(int), default=16)


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
    p.add_argument(
        "--reconnects",
        type=_count,
        default=2,
        help="times a lost board link is opened again (the emulator restarted) before "
        "giving up; completed entries stay in the table (default 2)",
    )
    farm = p.add_mutually_exclusive_group()
    farm.add_argument(
        "--boards",
        type=_positive(int),
        default=1,
        help="measure with N boards of the profile at once (N emulators; one table, "
        "the same entries as one board)",
    )
    farm.add_argument(
        "--urls",
        nargs="+",
        metavar="URL",
        help="measure with the already running boards at these pyserial URLs at once "
        "(e.g. N real boards on N ports)",
    )
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


def _link(args: argparse.Namespace) -> dict[str, Any]:
    """The link settings given on the command line (None: the board profile's)."""
    return {"timeout_s": args.timeout, "retries": args.retries,
            "byte_timeout_s": args.byte_timeout, "chunk_bytes": args.chunk_bytes}


def _open(args: argparse.Namespace) -> AbstractContextManager[Board]:
    from hw_profiler.board import open_board

    return open_board(args.board, firmware=args.firmware, url=args.url, **_link(args))


def _open_several(args: argparse.Namespace) -> AbstractContextManager[list[Board]]:
    from hw_profiler.api import open_boards

    if args.url is not None:
        raise HwProfilerError("profile: give the boards' URLs with --urls, not --url")
    # --boards and --urls exclude each other: with URLs the count keeps its default, 1.
    return open_boards(args.board, args.boards, urls=args.urls or (), firmware=args.firmware,
                       **_link(args))


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
            + (f" ({info.ticks_to_instructions(1):.4g} instructions, one per cycle)"
               if info.timer_kind is TimerKind.INSTRUCTION_TIME else "")
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

    geoms = sorted(set(args.geometry or _read_geometries(args.geometries)))
    with contextlib.ExitStack() as stack:
        if args.boards == 1 and not args.urls:
            opened: Board | list[Board] = stack.enter_context(_open(args))
            meta = opened.table_meta()
        else:
            opened = stack.enter_context(_open_several(args))
            meta = opened[0].table_meta()
        if args.limit is not None:
            todo = LatencyTable.open(args.table, meta).missing(geoms)
            keep = set(todo[: args.limit])
            geoms = [g for g in geoms if g in keep]
        result = profile(
            geoms,
            opened,
            args.table,
            warmup=args.warmup,
            repeats=args.repeats,
            progress=not args.no_progress,
            reconnects=args.reconnects,
        )
    print(result.summary)
    print(
        f"table      {args.table} ({len(result.table)} entries, board "
        f"{result.table.meta.board}, firmware {result.table.meta.firmware_version})"
    )
    return 0


def _read_geometries(path: Path) -> list[LayerGeometry]:
    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if name == "<stdin>" else path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise HwProfilerError(f"cannot read --geometries {name}: {exc}") from exc
    try:
        geoms = read_geometries(text, name)
    except ValueError as exc:
        raise HwProfilerError(str(exc)) from exc
    if not geoms:
        raise HwProfilerError(f"--geometries {name} holds no geometry")
    return geoms


FX_SAVE = "torch.save(torch.fx.symbolic_trace(model), path)"


def _torch_file(path: Path, what: str, trusted: bool = False) -> Any:
    import pickle

    import torch

    try:
        return torch.load(path, weights_only=not trusted, map_location="cpu")
    except pickle.UnpicklingError as exc:
        if trusted or "weights only" not in str(exc).lower():
            raise HwProfilerError(f"cannot load {what} {path}: {exc}") from exc
        if what != "--model":
            raise HwProfilerError(f"{what} {path} holds pickled objects, not a tensor") from exc
        raise HwProfilerError(
            f"{what} {path} is a pickled object: loading it runs code from the file; "
            "pass --trust-model if you made it or trust its source"
        ) from exc
    except FileNotFoundError as exc:
        raise HwProfilerError(f"{what} {path} not found") from exc
    except (AttributeError, ImportError) as exc:
        # A module pickled from a script names classes that only that script defines.
        raise HwProfilerError(
            f"cannot load {what} {path}: it refers to code that cannot be imported here "
            f"({str(exc).splitlines()[0]}); save the network fx-traced: "
            f"{FX_SAVE}"
        ) from exc
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise HwProfilerError(
            f"cannot load {what} {path}: truncated or not a torch.save() file "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc


def _load_model(args: argparse.Namespace) -> tuple[Any, Any]:
    """The network and calibration batch, checked to fit together before any board work."""
    import torch
    from torch import nn

    model = _torch_file(args.model, "--model", trusted=args.trust_model)
    if not isinstance(model, nn.Module):
        kind = "a state dict" if isinstance(model, dict) else type(model).__name__
        raise HwProfilerError(
            f"--model {args.model} holds {kind}, not a network: save the network itself, "
            f"fx-traced: {FX_SAVE}"
        )
    if args.calib is not None:
        calib = _torch_file(args.calib, "--calib")
        if not isinstance(calib, torch.Tensor) or calib.dim() not in (2, 3):
            raise HwProfilerError(
                f"--calib {args.calib} must hold one tensor (N, C, T) or (C, T), got "
                f"{tuple(calib.shape) if isinstance(calib, torch.Tensor) else type(calib).__name__}"
            )
        source = f"--calib {args.calib}"
    else:
        if not args.input_shape:
            raise HwProfilerError("give --calib or --input-shape C,T for a --model")
        calib = torch.randn(
            args.calib_samples, *args.input_shape, generator=torch.Generator().manual_seed(0)
        )
        source = f"--input-shape {','.join(map(str, args.input_shape))}"
    model.eval()
    example = calib.float()[None] if calib.dim() == 2 else calib.float()[:1]
    try:
        with torch.no_grad():
            model(example)
    except Exception as exc:  # any failure of the user's forward means "wrong input"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HwProfilerError(
            f"--model {args.model} cannot run an input of shape {tuple(example.shape)} "
            f"from {source}: {first}"
        ) from exc
    return model, calib


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
