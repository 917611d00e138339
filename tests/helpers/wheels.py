"""What a built wheel holds, read without installing it: its tags and its extension's ELF.

The aarch64 wheel cannot run on this machine, so its extension is checked from its bytes:
the machine it was built for and the newest glibc symbol version it asks the loader for (the
limit manylinux_2_17 sets).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

EXTENSION = "esbridge/_native.abi3.so"


@dataclass(frozen=True)
class Extension:
    machine: str
    """pyelftools' e_machine name, e.g. EM_X86_64 or EM_AARCH64."""
    glibc: tuple[int, ...]
    """The newest GLIBC_x.y version among the symbols it needs, e.g. (2, 17)."""
    needed: tuple[str, ...]
    """Its DT_NEEDED libraries."""


def wheel_tags(wheel: Path) -> list[str]:
    """The `Tag:` lines of the wheel's WHEEL file (what pip matches, whatever the file name)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/WHEEL")]
        text = archive.read(name).decode()
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def extension(wheel: Path) -> Extension:
    with zipfile.ZipFile(wheel) as archive:
        elf = ELFFile(io.BytesIO(archive.read(EXTENSION)))
        versions: list[tuple[int, ...]] = []
        for section in elf.iter_sections():
            if isinstance(section, GNUVerNeedSection):
                for _, auxiliaries in section.iter_versions():
                    versions.extend(
                        tuple(int(part) for part in aux.name.removeprefix("GLIBC_").split("."))
                        for aux in auxiliaries
                        if aux.name.startswith("GLIBC_2")
                    )
        dynamic = elf.get_section_by_name(".dynamic")
        needed = tuple(t.needed for t in dynamic.iter_tags() if t.entry.d_tag == "DT_NEEDED")
        return Extension(str(elf.header["e_machine"]), max(versions), needed)
