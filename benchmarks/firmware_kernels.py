"""Instruction-time per MAC of the firmware's dilated Conv1d kernels on an emulated board
(default the Cortex-M4, QEMU netduinoplus2; --board qemu_riscv32: rv32imc on QEMU virt;
both -icount shift=0).

Builds the firmware if needed, boots QEMU, reads the tick rate from INFO and runs
BENCH_LAYER over a grid of shapes and dilations for int8 and float32, then the residual
add (instructions per element). Under -icount shift=0 one instruction is 1 ns of virtual
time, so instructions = ticks * 1e9 / ticks_per_second (168 MHz on netduinoplus2, 1 GHz
on virt). Every int8 conv row on the Cortex-M4 is flagged against TARGET_INT8.

Usage: python benchmarks/firmware_kernels.py [--board NAME] [--quick] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from hw_profiler import api
from hw_profiler.errors import BoardCommandError
from hw_profiler.table import LayerGeometry

TARGET_SHAPES = [(32, 32, 3, 64), (64, 64, 5, 32), (16, 16, 9, 128)]  # C_in, C_out, k, T
EXTRA_SHAPES = [(8, 8, 3, 64), (24, 24, 5, 48), (5, 7, 3, 33), (12, 20, 2, 96)]
# Widths PIT leaves in searched networks (ArrowHead: a 9-channel residual, 1-channel heads).
PIT_SHAPES = [(9, 1, 65, 251), (1, 9, 65, 251), (9, 10, 3, 251), (23, 23, 3, 64)]
ADD_SHAPES = [(9, 251), (22, 251), (64, 251), (8, 64), (23, 64), (32, 64)]  # C, T
TARGET_INT8 = 2.5  # instructions per MAC for every int8 conv shape
DILATIONS = [1, 2, 4, 8]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="the three reference conv shapes only (no small, odd or add shapes)")
    ap.add_argument("--csv", type=Path, help="also write the rows as CSV")
    ap.add_argument("--board", default="qemu_stm32f4", help="an emulated board profile")
    args = ap.parse_args(argv)

    rows = []
    with api.open_board(args.board) as board:
        info = board.session.info
        instr_per_tick = info.ticks_to_instructions(1)
        print(f"# board {info.board_name}, {info.ticks_per_second} ticks/s "
              f"({info.timer_kind.name.lower()}), {instr_per_tick:.4f} instructions per tick")
        shapes = TARGET_SHAPES + ([] if args.quick else EXTRA_SHAPES + PIT_SHAPES)
        hdr = (f"{'dtype':7} {'C_in':>4} {'C_out':>5} {'k':>2} {'T':>4} {'d':>2} "
               f"{'MACs':>8} {'ticks':>9} {'instr':>10} {'instr/MAC':>9}  target")
        print(hdr)
        print("-" * len(hdr))
        for dtype in ("int8", "float32"):
            for cin, cout, k, T in shapes:
                for d in DILATIONS:
                    geometry = LayerGeometry("conv1d", cin, cout, k, d, T, dtype)
                    try:
                        r = board.session.bench_layer(geometry, warmup=1, repeats=3, seed=1)
                    except BoardCommandError as e:
                        print(f"{dtype:7} {cin:4} {cout:5} {k:2} {T:4} {d:2} "
                              f"{'':>8} {'n/a':>9} ({e})")
                        continue
                    ticks = statistics.median(r.ticks)
                    instr = ticks * instr_per_tick
                    per_mac = instr / r.macs
                    target = dtype == "int8" and args.board == "qemu_stm32f4"
                    flag = ("ok" if per_mac <= TARGET_INT8 else "MISS") if target else ""
                    rows.append((dtype, cin, cout, k, T, d, r.macs, ticks, instr, per_mac))
                    print(f"{dtype:7} {cin:4} {cout:5} {k:2} {T:4} {d:2} "
                          f"{r.macs:8} {ticks:9.0f} {instr:10.0f} {per_mac:9.3f}  {flag}")
        if not args.quick:
            print(f"\n{'dtype':7} {'C':>4} {'T':>4} {'elements':>8} {'ticks':>9} "
                  f"{'instr/elem':>10}")
            for dtype in ("int8", "float32"):
                for c, T in ADD_SHAPES:
                    geometry = LayerGeometry("add", c, c, 1, 1, T, dtype)
                    try:
                        r = board.session.bench_layer(geometry, warmup=1, repeats=3, seed=1)
                    except BoardCommandError as e:  # e.g. three float tensors past the RAM
                        print(f"{dtype:7} {c:4} {T:4} {c * T:8} {'n/a':>9} ({e})")
                        continue
                    ticks = statistics.median(r.ticks)
                    per_elem = ticks * instr_per_tick / r.macs
                    rows.append((f"add-{dtype}", c, c, 1, T, 1, r.macs, ticks,
                                 ticks * instr_per_tick, per_elem))
                    print(f"{dtype:7} {c:4} {T:4} {r.macs:8} {ticks:9.0f} {per_elem:10.3f}")
    if args.csv:
        with args.csv.open("w") as f:
            f.write("dtype,c_in,c_out,k,T,d,macs,ticks,instructions,instr_per_mac\n")
            for row in rows:
                f.write(",".join(str(v) for v in row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
