"""A noisy serial line for tests: a TCP relay between the session and the emulated board's
serial socket that damages bytes on their way, in both directions."""

from __future__ import annotations

import contextlib
import random
import select
import socket
import threading
from collections import Counter
from urllib.parse import urlparse


class FaultProxy:
    """Relays ``socket://host:port``; each byte is, with the given probability, flipped
    (one random bit), dropped, or followed by one random garbage byte. The faults come
    from a seeded generator per direction; ``injected`` counts them."""

    def __init__(
        self,
        target_url: str,
        flip: float = 0.0,
        drop: float = 0.0,
        garbage: float = 0.0,
        seed: int = 1,
    ) -> None:
        target = urlparse(target_url)
        self.target = (target.hostname or "127.0.0.1", int(target.port or 0))
        self.rates = {"flip": flip, "drop": drop, "garbage": garbage}
        self.seed = seed
        self.injected: Counter[str] = Counter()
        self.relayed = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def damage(self, data: bytes, rng: random.Random) -> bytes:
        out = bytearray()
        flip, drop, garbage = (self.rates[k] for k in ("flip", "drop", "garbage"))
        for byte in data:
            if rng.random() < drop:
                self.injected["drop"] += 1
                continue
            if rng.random() < flip:
                byte ^= 1 << rng.randrange(8)
                self.injected["flip"] += 1
            out.append(byte)
            if rng.random() < garbage:
                out.append(rng.randrange(256))
                self.injected["garbage"] += 1
        self.relayed += len(data)
        return bytes(out)

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.settimeout(0.1)
            while not self._stop.is_set():
                try:
                    client, _ = self.listener.accept()
                    break
                except TimeoutError:
                    continue
            else:
                return
            board = socket.create_connection(self.target)
            for sock in (client, board):  # relay each write at once, as a wire would
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rngs = {client: random.Random(self.seed), board: random.Random(self.seed + 1)}
            peer = {client: board, board: client}
            try:
                while not self._stop.is_set():
                    ready, _, _ = select.select([client, board], [], [], 0.1)
                    for sock in ready:
                        data = sock.recv(65536)
                        if not data:
                            return
                        peer[sock].sendall(self.damage(data, rngs[sock]))
            finally:
                client.close()
                board.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
