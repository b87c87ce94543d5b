"""GAP8 (GAPuino) over JTAG: OpenOCD with the gap_sdk target scripts loads the ELF into
L2 and starts it; the firmware then serves the protocol on the FTDI UART."""

from __future__ import annotations

from hw_profiler.flashers.base import Flasher
from hw_profiler.flashers.procs import run_tool


class Gap8Flasher(Flasher):
    """``openocd [-s <scripts>] -c "gdb_port disabled; ..." -f <interface> -f <target>
    -f <boot script> -c "<load command> ; exit"``. The load command is a template with
    ``{elf}`` (gap_sdk: ``gap8_jtag_load_binary_and_start {elf} elf``)."""

    def command(self) -> list[str]:
        o = self.options
        cmd = [str(o.get("openocd", "openocd"))]
        if o.get("scripts_dir"):
            cmd += ["-s", str(o["scripts_dir"])]
        cmd += ["-c", "gdb_port disabled; telnet_port disabled; tcl_port disabled"]
        cmd += ["-f", str(o.get("interface_cfg", "interface/ftdi/gapuino_ftdi.cfg"))]
        cmd += ["-f", str(o.get("target_cfg", "target/gap8revb.cfg"))]
        if o.get("boot_script"):
            cmd += ["-f", str(o["boot_script"])]
        load = str(o.get("load_command", "gap8_jtag_load_binary_and_start {elf} elf"))
        return [*cmd, "-c", f"{load.format(elf=self.firmware)}; exit"]

    def flash(self) -> None:
        timeout = float(self.options.get("timeout_s", 120))
        run_tool(self.command(), timeout, f"loading {self.board.name} with OpenOCD (GAP8)")

    def start(self) -> str:
        return self.uart_port()
