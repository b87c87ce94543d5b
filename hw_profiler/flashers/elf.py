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


_EHDR = "<16sHHIIIIIHHHHHH"
_PHDR = "<IIIIIIII"
_PF_R = 4


def with_model(firmware: Path, image: bytes, address: int, out: Path) -> Path:
    """``firmware`` with ``image`` built in as one more loadable segment at ``address`` (the
    board's flash slot): the single file a flasher writes, or QEMU starts from.

    Only program headers are written (what flashers and QEMU's loader read); the
    firmware's own segments are copied as they are.
    """
    blob = firmware.read_bytes()
    if blob[:4] != b"\x7fELF" or blob[4] != 1 or blob[5] != 1:
        raise FlashError(f"{firmware}: not a 32-bit little-endian ELF image")
    ident, e_type, machine, version, entry, phoff, _, flags, *_rest = struct.unpack_from(
        _EHDR, blob
    )
    phentsize, phnum = struct.unpack_from("<HH", blob, 42)
    headers, payloads = [], []
    for i in range(phnum):
        ph = list(struct.unpack_from(_PHDR, blob, phoff + i * phentsize))
        if ph[0] != _PT_LOAD:
            continue
        if ph[3] < address + len(image) and address < ph[3] + ph[4]:
            raise FlashError(
                f"{firmware}: the model slot at 0x{address:08x} overlaps the firmware"
            )
        headers.append(ph)
        payloads.append(blob[ph[1] : ph[1] + ph[4]])
    headers.append([_PT_LOAD, 0, address, address, len(image), len(image), _PF_R, 4])
    payloads.append(image)
    offset = struct.calcsize(_EHDR) + len(headers) * struct.calcsize(_PHDR)
    body = bytearray()
    for ph, data in zip(headers, payloads, strict=True):
        offset += -offset % 4
        body += bytes(offset - struct.calcsize(_EHDR) - len(headers) * 32 - len(body))
        ph[1] = offset
        body += data
        offset += len(data)
    ehdr = struct.pack(_EHDR, ident, e_type, machine, version, entry, struct.calcsize(_EHDR),
                       0, flags, struct.calcsize(_EHDR), 32, len(headers), 40, 0, 0)
    phdrs = b"".join(struct.pack(_PHDR, *ph) for ph in headers)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(ehdr + phdrs + bytes(body))
    return out
