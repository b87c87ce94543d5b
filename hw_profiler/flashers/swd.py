"""STM32 over SWD with an ST-LINK (or any CMSIS-DAP probe), through pyOCD or OpenOCD."""

from __future__ import annotations

from hw_profiler.errors import FlashError
from hw_profiler.flashers.base import Flasher
from hw_profiler.flashers.procs import run_tool


class PyOcdFlasher(Flasher):
    """``pyocd load -t <target> [-u <probe>] [--pack <pack>] <elf>``, then reset."""

    def command(self) -> list[str]:
        target = self.options.get("target")
        if not target:
            raise FlashError(f"{self.board.source}: flasher.options.target is required for pyocd")
        cmd = [str(self.options.get("pyocd", "pyocd")), "load", "-t", str(target)]
        if self.options.get("probe"):
            cmd += ["-u", str(self.options["probe"])]
        if self.options.get("pack"):
            cmd += ["--pack", str(self.options["pack"])]
        if self.options.get("frequency"):
            cmd += ["-f", str(self.options["frequency"])]
        return [*cmd, str(self.firmware)]

    def reset_command(self) -> list[str]:
        cmd = [str(self.options.get("pyocd", "pyocd")), "reset", "-t", str(self.options["target"])]
        if self.options.get("probe"):
            cmd += ["-u", str(self.options["probe"])]
        return cmd

    def flash(self) -> None:
        timeout = float(self.options.get("timeout_s", 120))
        run_tool(self.command(), timeout, f"flashing {self.board.name} with pyOCD")
        run_tool(self.reset_command(), timeout, f"resetting {self.board.name} with pyOCD")

    def start(self) -> str:
        return self.uart_port()


class OpenOcdFlasher(Flasher):
    """``openocd -f interface/stlink.cfg -f target/stm32f4x.cfg -c "program <elf> verify
    reset exit"``."""

    def command(self) -> list[str]:
        cmd = [str(self.options.get("openocd", "openocd"))]
        if self.options.get("scripts_dir"):
            cmd += ["-s", str(self.options["scripts_dir"])]
        cmd += ["-f", str(self.options.get("interface_cfg", "interface/stlink.cfg"))]
        if self.options.get("serial"):
            cmd += ["-c", f"adapter serial {self.options['serial']}"]
        cmd += ["-f", str(self.options.get("target_cfg", "target/stm32f4x.cfg"))]
        return [*cmd, "-c", f"program {self.firmware} verify reset exit"]

    def flash(self) -> None:
        timeout = float(self.options.get("timeout_s", 120))
        run_tool(self.command(), timeout, f"flashing {self.board.name} with OpenOCD")

    def start(self) -> str:
        return self.uart_port()
