"""Child processes that must never outlive us (QEMU, host boards).

Three layers: each child runs in its own session (so we can signal its whole group), on
Linux it gets PR_SET_PDEATHSIG=SIGKILL (so the kernel kills it when we die, even by
SIGKILL), and atexit plus SIGTERM/SIGHUP handlers stop what is still registered.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

from hw_profiler.errors import FlashError

_PR_SET_PDEATHSIG = 1
_live: set[subprocess.Popen[Any]] = set()
_lock = threading.Lock()
_handlers_installed = False
# resolved here, not in the child: dlopen between fork and exec can deadlock
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent(parent_pid: int) -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)


def spawn(cmd: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start ``cmd`` in a new session that dies with this process.

    PR_SET_PDEATHSIG fires when the *thread* that forked exits, so spawn from a thread
    that lives as long as the child is needed (normally the main thread).
    """
    _install_handlers()
    parent = os.getpid()
    proc = subprocess.Popen(
        list(cmd),
        start_new_session=True,
        preexec_fn=lambda: _die_with_parent(parent),
        **kwargs,
    )
    with _lock:
        _live.add(proc)
    return proc


def terminate(proc: subprocess.Popen[Any], grace_s: float = 3.0) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``grace_s``; then reap it."""
    with _lock:
        _live.discard(proc)
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def terminate_all() -> None:
    with _lock:
        procs = list(_live)
    for proc in procs:
        terminate(proc, grace_s=1.0)


def _install_handlers() -> None:
    """atexit always; SIGTERM/SIGHUP only from the main thread and only when the program
    has not set its own handler (then we chain to the default action after cleaning up)."""
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(terminate_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _on_signal)


def _on_signal(signum: int, frame: object) -> None:
    terminate_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def run_tool(cmd: list[str], timeout_s: float, what: str) -> subprocess.CompletedProcess[str]:
    """Run an external tool; failures raise FlashError with the command line and stderr."""
    shown = " ".join(cmd)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise FlashError(
            f"{what}: executable not found: {cmd[0]!r} (is it installed and on PATH?)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        err = _tail(exc.stderr)
        raise FlashError(f"{what}: timed out after {timeout_s:g} s: {shown}\n{err}") from exc
    if proc.returncode != 0:
        raise FlashError(
            f"{what}: {cmd[0]} exited with status {proc.returncode}: {shown}\n"
            f"{_tail(proc.stderr) or _tail(proc.stdout)}"
        )
    return proc


def _tail(text: str | bytes | None, lines: int = 20) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.strip().splitlines()[-lines:])
