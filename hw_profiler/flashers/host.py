"""The firmware's native host build as a board: a child process whose stdin/stdout carry the
protocol, bridged to a loopback TCP socket so the session opens it like any serial URL."""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import threading
from typing import Any

from hw_profiler.flashers import procs
from hw_profiler.flashers.base import Flasher
from hw_profiler.flashers.firmware import build_firmware


class HostFlasher(Flasher):
    """Starts the host firmware and serves its stdio on ``socket://127.0.0.1:<port>``.

    One client connection at a time; the process lives until ``stop``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.proc: subprocess.Popen[bytes] | None = None
        self._server: socket.socket | None = None
        self._stop = threading.Event()

    def prepare(self) -> None:
        if self.firmware is not None and self.options.get("build", True):
            build_firmware(self.firmware)
        super().prepare()

    def flash(self) -> None:
        """Nothing to write: the binary runs directly."""

    def start(self) -> str:
        cmd = [str(self.firmware), *[str(a) for a in self.options.get("args", [])]]
        self.proc = procs.spawn(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._server = socket.create_server(("127.0.0.1", 0))
        port = self._server.getsockname()[1]
        self._stop.clear()
        threading.Thread(target=self._serve, daemon=True).start()
        return f"socket://127.0.0.1:{port}"

    def _serve(self) -> None:
        assert self._server is not None and self.proc is not None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        out_fd, in_fd = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn, selectors.DefaultSelector() as sel:
                sel.register(conn, selectors.EVENT_READ, "sock")
                sel.register(out_fd, selectors.EVENT_READ, "proc")
                while not self._stop.is_set():
                    events = sel.select(0.2)
                    try:
                        for key, _ in events:
                            if key.data == "sock":
                                data = conn.recv(65536)
                                if not data:
                                    raise ConnectionError
                                os.write(in_fd, data)
                            else:
                                data = os.read(out_fd, 65536)
                                if not data:
                                    return  # the board process exited
                                conn.sendall(data)
                    except (ConnectionError, OSError):
                        break

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
        if self.proc is not None:
            procs.terminate(self.proc)
