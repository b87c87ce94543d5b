"""The emulated boards: the firmware ELF under QEMU (qemu-system-arm netduinoplus2,
qemu-system-riscv32 virt), serial on a TCP socket."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from typing import Any

from hw_profiler.errors import FlashError
from hw_profiler.flashers import procs
from hw_profiler.flashers.base import Flasher
from hw_profiler.flashers.firmware import build_firmware

_READY_MARK = "waiting for connection"
# Debian package of each emulator binary, named in the error when it is missing.
_PACKAGES = {"qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc"}


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QemuFlasher(Flasher):
    """Runs ``<qemu> -M <machine> -icount shift=<n> -kernel <elf> <extra_args>``.

    ``-icount`` makes the firmware's tick exact and repeatable (instruction time). The serial
    port is a TCP server with wait=on, so the guest starts only when the session connects
    and no early output is lost; readiness is QEMU's own "waiting for connection" notice.
    nodelay=on: the emulated UART sends each reply byte on its own, and with Nagle's
    algorithm every request/reply exchange waited for a delayed ACK (44 ms for INFO,
    0.9 ms without).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._stderr: deque[str] = deque(maxlen=50)
        self._ready = threading.Event()

    def prepare(self) -> None:
        if self.firmware is None:
            raise FlashError(f"board {self.board.name}: no firmware ELF configured")
        if self.options.get("build", True) and not self.options.get("make"):
            build_firmware(self.firmware)  # the default targets; options.make names others
        super().prepare()

    def flash(self) -> None:
        """Nothing to write: QEMU loads the ELF at start."""

    def command(self, port: int) -> list[str]:
        qemu = str(self.options.get("qemu", "qemu-system-arm"))
        cmd = [
            qemu,
            "-M", str(self.options.get("machine", "netduinoplus2")),
            "-nographic",
            "-monitor", "none",
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
            "-kernel", str(self.firmware),
        ]  # fmt: skip
        shift = self.options.get("icount_shift", 0)
        if shift is not None:
            cmd[3:3] = ["-icount", f"shift={shift}"]
        cmd += [str(a) for a in self.options.get("extra_args", [])]
        return cmd

    def start(self) -> str:
        qemu = str(self.options.get("qemu", "qemu-system-arm"))
        if shutil.which(qemu) is None:
            package = _PACKAGES.get(qemu, qemu)
            raise FlashError(f"{qemu} not found on PATH (Debian: apt install {package})")
        timeout = float(self.options.get("start_timeout_s", 20))
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_loopback_port()
            if self._launch(self.command(self.port), timeout):
                return f"socket://127.0.0.1:{self.port}"
        raise FlashError(f"QEMU could not bind a loopback port:\n{self.stderr_tail()}")

    def _launch(self, cmd: list[str], timeout: float) -> bool:
        self._ready.clear()
        self._stderr.clear()
        self.proc = procs.spawn(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.05):
                return True
            if self.proc.poll() is not None:
                time.sleep(0.1)  # let the drain thread collect the last lines
                tail = self.stderr_tail()
                self.stop()
                if "in use" in tail:
                    return False
                raise FlashError(
                    f"QEMU exited with status {self.proc.returncode} before serving "
                    f"its serial port: {' '.join(cmd)}\n{tail}"
                )
        self.stop()
        raise FlashError(f"QEMU did not open its serial port within {timeout:g} s: {' '.join(cmd)}")

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        try:
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                self._stderr.append(line)
                if _READY_MARK in line:
                    self._ready.set()
        except (ValueError, OSError):
            return  # stop() closed the pipe under a pending read: QEMU is gone anyway

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    def stop(self) -> None:
        if self.proc is not None:
            procs.terminate(self.proc)
