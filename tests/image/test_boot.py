"""The SD card image, booted: image/build.sh's Debian arm64 image (REDHIVE_TEST_IMAGE, built by
tests/run's image suite) started in qemu-system-aarch64 (software emulation, several minutes),
reached over the emulated network the way a browser on the LAN would.

What is checked is what a user flashing the card would see: the wizard at http://<box>/, the
first-boot progress of the tenant image, redhive under the image's own systemd (PID 1) with
READY=1 and watchdog pings, its journal fields, and Wi-Fi settings taken from the boot partition.

The guest is observed through its serial port: the test adds a small probe unit to its copy of
the image that prints what `systemctl show redhive` and `journalctl` say (lines starting @@probe).
Times (boot to wizard, tenant image load) are printed, not asserted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from imagefs import fat_get, fat_put, mounted_partition, partitions

# The whole module shares one boot; its first test waits for it.
pytestmark = pytest.mark.timeout(60 * 60)

BOOT_TIMEOUT_S = 20 * 60
IMAGE_LOAD_TIMEOUT_S = 30 * 60
WIFI_PASSWORD = "correct horse battery"

PROBE_UNIT = """[Unit]
Description=redhive boot test probe (reports to the serial port)
After=multi-user.target

[Service]
Type=simple
Environment=REDHIVE_DATA_DIR=/var/lib/redhive
ExecStart=/usr/local/sbin/redhive-test-probe

[Install]
WantedBy=multi-user.target
"""

PROBE = r"""#!/bin/sh
# Every 10 s: what systemd and the journal say about redhive, on the serial port.
say() { echo "@@probe $*" >/dev/ttyAMA0; }
while :; do
    say "show $(systemctl show redhive.service -p ActiveState -p SubState -p StatusText \
        -p WatchdogUSec -p WatchdogTimestampMonotonic -p NRestarts -p Type | tr '\n' '|')"
    if [ "$(systemctl show -p ActiveState --value redhive.service)" = active ] && [ ! -e /run/probe-tenant ]; then
        touch /run/probe-tenant
        redhive tenant add probe1 >/dev/null 2>&1
        say "tenant-add $?"
    fi
    say "journal-tenant $(journalctl -u redhive.service TENANT=probe1 -o cat --no-pager 2>&1 | wc -l)"
    # Once, after the first boot's work (tenant added, image loaded): a stop and start by systemd.
    if [ -e /run/probe-tenant ] && [ ! -e /run/probe-restarted ] &&
        docker image inspect redhive/node-red:5.0.7 >/dev/null 2>&1; then
        touch /run/probe-restarted
        systemctl stop redhive.service
        say "stopped $(systemctl show redhive.service -p Result -p ExecMainCode -p ExecMainStatus -p ActiveState | tr '\n' '|')"
        say "stop-log $(journalctl -u redhive.service -o cat --no-pager | grep -c '^stopped$')"
        systemctl start redhive.service
        say "restarted $(systemctl show -p ActiveState --value redhive.service)"
        say "tenant-kept $(redhive tenant status probe1 >/dev/null 2>&1; echo $?)"
    fi
    say "journal-fields $(journalctl -u redhive.service TENANT=probe1 -o json --output-fields=TENANT,_SYSTEMD_UNIT,MESSAGE --no-pager -n 1 2>/dev/null | head -c 4000)"
    say "wifi $(ls /etc/wpa_supplicant/ /boot/firmware/ 2>&1 | tr '\n' ' ')"
    say "wifi-password-left $(grep -rc 'horse' /boot/firmware/ 2>/dev/null | awk -F: '{s+=$2} END {print s+0}')"
    say "docker $(docker image ls --format '{{.Repository}}:{{.Tag}}' 2>&1 | tr '\n' ' ')"
    say "cgroup $(cat /proc/cmdline)"
    say "memory-cgroup $(awk '$1 == "memory" {print $4}' /proc/cgroups)"
    say "tmp $(findmnt -n -o FSTYPE /tmp)"
    sleep 10
done
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Guest:
    """A qemu-system-aarch64 run of a copy of the image, with its serial port in a file."""

    def __init__(self, image: Path, work: Path):
        self.work = work
        self.disk = work / "disk.img"
        self.serial = work / "serial.log"
        self.port = free_port()
        subprocess.run(["cp", "--sparse=always", str(image), str(self.disk)], check=True)
        self._prepare()
        boot = work / "boot"
        cmdline = (boot / "cmdline.txt").read_text().strip()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [
                "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "2048",
                "-accel", "tcg,thread=multi",
                "-kernel", str(boot / "vmlinuz"), "-initrd", str(boot / "initrd.img"),
                "-append", cmdline,
                "-drive", f"file={self.disk},format=raw,if=virtio,cache=unsafe",
                "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{self.port}-:80",
                "-device", "virtio-net-pci,netdev=net0",
                "-device", "virtio-rng-pci",
                "-display", "none", "-monitor", "none", "-no-reboot",
                "-serial", f"file:{self.serial}",
            ],
            stdout=open(work / "qemu.out", "wb"),
            stderr=subprocess.STDOUT,
        )

    def _prepare(self) -> None:
        """The probe unit into the root file system; Wi-Fi settings onto the boot partition;
        the kernel, initrd and cmdline.txt out of it (qemu plays the Pi firmware's part)."""
        parts = partitions(self.disk)
        with mounted_partition(self.disk, parts[1]) as root:
            probe = root / "usr/local/sbin/redhive-test-probe"
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_text(PROBE)
            probe.chmod(0o755)
            (root / "etc/systemd/system/redhive-test-probe.service").write_text(PROBE_UNIT)
            wants = root / "etc/systemd/system/multi-user.target.wants"
            (wants / "redhive-test-probe.service").symlink_to("/etc/systemd/system/redhive-test-probe.service")
        wifi = self.work / "redhive-wifi.txt"
        wifi.write_text(f"# written by the boot test\r\nSSID=redhive test net\r\nPASSWORD={WIFI_PASSWORD}\r\nCOUNTRY=gb\r\n")
        fat_put(self.disk, parts[0], wifi, "redhive-wifi.txt")
        copy = self.work / "boot"
        copy.mkdir()
        for name in ("vmlinuz", "initrd.img", "cmdline.txt"):
            fat_get(self.disk, parts[0], name, copy / name)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 20) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def console(self) -> str:
        return self.serial.read_text(errors="replace") if self.serial.exists() else ""

    def probes(self, kind: str) -> list[str]:
        prefix = f"@@probe {kind} "
        return [line[len(prefix):].strip() for line in self.console().splitlines() if line.startswith(prefix)]

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"qemu exited ({self.process.returncode}): {(self.work / 'qemu.out').read_text()}\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.console().splitlines()[-lines:])

    def wait_for(self, what: str, check, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.alive()
            result = check()
            if result:
                return result
            time.sleep(3)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; serial console:\n{self.tail()}")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    image = os.environ.get("REDHIVE_TEST_IMAGE")
    if not image or not Path(image).is_file():
        pytest.fail("REDHIVE_TEST_IMAGE must name an image built by image/build.sh (tests/run builds it)")
    if shutil.which("qemu-system-aarch64") is None:
        pytest.fail("qemu-system-aarch64 is missing (apt-get install qemu-system-arm)")
    work = tmp_path_factory.mktemp("boot")
    vm = Guest(Path(image), work)
    yield vm
    vm.stop()
    keep = Path(__file__).parent / "artifacts"
    keep.mkdir(exist_ok=True)
    shutil.copy(vm.serial, keep / "serial.log")


def test_the_build_left_no_loop_device_behind():
    image = os.environ.get("REDHIVE_TEST_IMAGE", "")
    attached = subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout
    assert image and image not in attached, attached


def health(vm: Guest):
    try:
        status, body = vm.get("/api/health", timeout=10)
    except (OSError, urllib.error.URLError):
        return None
    return json.loads(body) if status == 200 else None


def test_boots_into_the_wizard(guest):
    guest.wait_for("redhive to answer on port 80", lambda: health(guest), BOOT_TIMEOUT_S)
    booted = time.monotonic() - guest.started
    status, page = guest.get("/")
    assert status == 200 and "<html" in page.lower()
    status, body = guest.get("/api/setup")
    setup = json.loads(body)
    assert status == 200 and setup["needed"] is True, setup
    assert setup["defaults"]["name"] == "redhive"
    print(f"\nboot to wizard under emulation: {booted:.0f} s")


def tenant_image_check(guest):
    status, body = guest.get("/api/setup")
    assert status == 200, body
    report = json.loads(body)["doctor"]
    return report, {c["name"]: c for c in report["checks"]}.get("tenant image")


def test_first_boot_shows_the_tenant_image_loading_then_docker_runs_tenants(guest):
    guest.wait_for("redhive", lambda: health(guest), BOOT_TIMEOUT_S)
    report, check = tenant_image_check(guest)
    assert report["runtime"] == "docker", report
    assert check is not None and check["ok"], report
    # Seen by the first visitor: the load under way with its progress, or already done.
    assert re.search(r"loading /usr/share/redhive/tenant-image\.tar into Docker \(first start\): \d+% after \d+ s", check["detail"]) \
        or check["detail"].startswith("loaded from"), check
    started = time.monotonic()

    def loaded():
        _, c = tenant_image_check(guest)
        assert c["ok"], c  # a failed load says why here
        return c if not c.get("pending") else None

    done = guest.wait_for("the tenant image to load", loaded, IMAGE_LOAD_TIMEOUT_S)
    assert done["detail"] == "loaded from /usr/share/redhive/tenant-image.tar", done
    print(f"\ntenant image load seen finishing {time.monotonic() - started:.0f} s after the wizard came up")
    images = guest.wait_for("docker image ls in the probe", lambda: [p for p in guest.probes("docker") if "redhive/node-red:5.0.7" in p], 120)
    assert images


def latest_show(guest) -> dict[str, str]:
    shows = guest.probes("show")
    if not shows:
        return {}
    return dict(field.split("=", 1) for field in shows[-1].split("|") if "=" in field)


def test_systemd_runs_redhive_with_ready_and_watchdog_pings(guest):
    guest.wait_for("redhive to be active", lambda: latest_show(guest).get("ActiveState") == "active", BOOT_TIMEOUT_S)
    first = latest_show(guest)
    # Type=notify: "active" only after READY=1; STATUS= is what redhive sent with it.
    assert first["Type"] == "notify"
    assert first["StatusText"].startswith("serving http://"), first
    assert first["WatchdogUSec"] == "30s"
    stamp = int(first["WatchdogTimestampMonotonic"])
    assert stamp > 0, first

    def pinged_again():
        now = latest_show(guest)
        return now if int(now.get("WatchdogTimestampMonotonic", 0)) > stamp else None

    later = guest.wait_for("a later watchdog ping", pinged_again, 120)
    assert later["NRestarts"] == "0", later


def test_journal_has_structured_tenant_fields(guest):
    guest.wait_for("the probe's tenant", lambda: guest.probes("tenant-add"), BOOT_TIMEOUT_S)
    assert guest.probes("tenant-add")[-1] == "0", guest.tail()
    lines = guest.wait_for(
        "journal entries with TENANT=probe1",
        lambda: [p for p in guest.probes("journal-tenant") if p.isdigit() and int(p) > 0],
        120,
    )
    assert lines
    fields = json.loads(guest.wait_for("a JSON journal entry", lambda: [p for p in guest.probes("journal-fields") if p.startswith("{")], 60)[-1])
    assert fields["TENANT"] == "probe1"
    assert fields["_SYSTEMD_UNIT"] == "redhive.service"


def test_wifi_from_the_boot_partition_is_applied_and_the_password_removed(guest):
    listing = guest.wait_for("the probe's Wi-Fi report", lambda: guest.probes("wifi"), BOOT_TIMEOUT_S)[-1]
    assert "wpa_supplicant-wlan0.conf" in listing, listing
    assert "redhive-wifi.txt.applied" in listing and "redhive-wifi.txt.error" not in listing, listing
    assert guest.probes("wifi-password-left")[-1] == "0"


def test_appliance_settings_are_live(guest):
    guest.wait_for("the probe's reports", lambda: guest.probes("tmp"), BOOT_TIMEOUT_S)
    assert "cgroup_enable=memory" in guest.probes("cgroup")[-1]
    assert guest.probes("memory-cgroup")[-1] == "1"
    assert guest.probes("tmp")[-1] == "tmpfs"


def test_systemd_stops_redhive_cleanly_and_starts_it_again_with_its_data(guest):
    """`systemctl stop` (SIGTERM): redhive stops its tenants, closes the store and exits 0; started
    again, it is ready with the tenant made before."""
    restarted = guest.wait_for("the probe's stop and start", lambda: guest.probes("tenant-kept"), IMAGE_LOAD_TIMEOUT_S)
    stopped = dict(f.split("=", 1) for f in guest.probes("stopped")[-1].split("|") if "=" in f)
    assert stopped == {"Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0", "ActiveState": "inactive"}, stopped
    assert int(guest.probes("stop-log")[-1]) >= 1, "redhive did not log its clean stop"
    assert guest.probes("restarted")[-1] == "active"
    assert restarted[-1] == "0", "the tenant made before the restart is gone"
    assert guest.wait_for("redhive after the restart", lambda: health(guest), 300)
