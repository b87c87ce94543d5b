"""Loadable segments of an ELF32 image: what a flasher writes, at the load (physical) address."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from hw_profiler.errors import FlashError

_PT_LOAD = 1


@dataclass(frozen=True)
class Segment:
    address: int
    data: bytes


def load_segments(path: Path) -> list[Segment]:
    """PT_LOAD segments with file bytes, sorted by physical address (LMA: where flash
    holds them, e.g. .data's initial values)."""
    blob = path.read_bytes()
    if blob[:4] != b"\x7fELF":
        if path.suffix == ".bin":
            return [Segment(0x08000000, blob)]
        raise FlashError(f"{path}: not an ELF file (and not a .bin)")
    if blob[4] != 1 or blob[5] != 1:
        raise FlashError(f"{path}: only 32-bit little-endian ELF images are supported")
    (phoff,) = struct.unpack_from("<I", blob, 28)
    phentsize, phnum = struct.unpack_from("<HH", blob, 42)
    segments = []
    for i in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from(
            "<IIIII", blob, phoff + i * phentsize
        )
        if p_type == _PT_LOAD and p_filesz > 0:
            segments.append(Segment(p_paddr, blob[p_offset : p_offset + p_filesz]))
    if not segments:
        raise FlashError(f"{path}: no loadable segments")
    return sorted(segments, key=lambda s: s.address)
