"""Partitions of a disk image file, mounted through loop devices at their offsets (no
partition scanning, so no udev needed) — as image/build.sh does."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Partition:
    start: int  # bytes
    size: int
    type: str


def partitions(image: Path) -> list[Partition]:
    table = json.loads(subprocess.run(["sfdisk", "-J", str(image)], check=True, capture_output=True, text=True).stdout)
    return [Partition(p["start"] * 512, p["size"] * 512, p["type"]) for p in table["partitiontable"]["partitions"]]


@contextlib.contextmanager
def mounted_partition(image: Path, part: Partition, readonly: bool = False):
    loop = subprocess.run(
        ["losetup", "-f", "--show", "--offset", str(part.start), "--sizelimit", str(part.size), str(image)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    mountpoint = Path(tempfile.mkdtemp(prefix="redhive-imagefs."))
    try:
        subprocess.run(["mount", *(["-o", "ro"] if readonly else []), loop, str(mountpoint)], check=True)
        try:
            yield mountpoint
        finally:
            subprocess.run(["umount", str(mountpoint)], check=True)
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
        mountpoint.rmdir()


# The partition is found by offset, not by a geometry mtools would check.
MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}


def fat_get(image: Path, part: Partition, name: str, dest: Path) -> None:
    """Copy a file out of a FAT partition with mtools (this machine's kernel has no vfat)."""
    subprocess.run(["mcopy", "-n", "-i", f"{image}@@{part.start}", f"::/{name}", str(dest)],
                   check=True, env=MTOOLS_ENV)


def fat_put(image: Path, part: Partition, src: Path, name: str) -> None:
    subprocess.run(["mcopy", "-o", "-i", f"{image}@@{part.start}", str(src), f"::/{name}"],
                   check=True, env=MTOOLS_ENV)
