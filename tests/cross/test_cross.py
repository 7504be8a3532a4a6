"""The static aarch64 build (cross/build.sh with --smoke): a statically linked aarch64 ELF that
runs under qemu-aarch64-static, prints its version and answers /api/health on loopback. The
first build compiles RocksDB for aarch64 (~18 min on 2 cores); later ones reuse the cache in
/var/cache/redhive/target-aarch64."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_static_aarch64_binary_runs_under_qemu():
    cp = subprocess.run([str(ROOT / "cross" / "build.sh"), "--smoke"], capture_output=True, text=True, timeout=3600)
    assert cp.returncode == 0, f"cross/build.sh failed:\n{cp.stderr[-4000:]}"
    binary = Path(cp.stdout.strip().splitlines()[-1])
    assert binary.is_file(), cp.stdout
    described = subprocess.run(["file", "-b", str(binary)], capture_output=True, text=True).stdout
    assert "ARM aarch64" in described and "statically linked" in described, described
    assert "redhive 0.1.0" in cp.stderr, cp.stderr[-2000:]
    assert '{"status":"ok"' in cp.stderr and "answered /api/health under qemu" in cp.stderr, cp.stderr[-2000:]
