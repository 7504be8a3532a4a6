"""First-boot Wi-Fi setup: image/rootfs/usr/lib/redhive/wifi-setup turns the user's
/boot/firmware/redhive-wifi.txt into the network stack's configuration, and
systemd/redhive-wifi.service runs it once.

Every test runs the real script against a temporary root tree (ROOT=...), the NetworkManager layout
(Raspberry Pi OS) or the systemd-networkd + wpa_supplicant one (the Debian test image). What it
writes is read back by the real consumers, as far as they run without a radio:

- NetworkManager keyfiles: `nmcli --offline connection modify` loads the file with NM's own keyfile
  reader and writes it out again; that must equal what `nmcli --offline connection add` writes for
  the same SSID and password given as arguments (and the script's file must equal it too). An
  independent decoder of the keyfile rules (GKeyFile escapes, NM's `\\;` and byte-list SSIDs) must
  give the original bytes back.
- wpa_supplicant configs: `wpa_supplicant -ddK` parses the file and dumps the SSID and key it read
  before it fails on the absent interface; no "Line N:" parse error is allowed, and the key must
  equal PBKDF2-SHA1(password, SSID, 4096, 32) computed here (or the raw 64-hex key).

Commands that would act on the running system (systemctl, nmcli, iw, rfkill) are replaced on PATH
by recorders: with a ROOT other than / the script must call none of them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCRIPT = REPO / "image" / "rootfs" / "usr" / "lib" / "redhive" / "wifi-setup"
UNIT = REPO / "systemd" / "redhive-wifi.service"
EXAMPLE = REPO / "image" / "redhive-wifi.txt"

NM_FILE = "etc/NetworkManager/system-connections/redhive-wifi.nmconnection"
WPA_FILE = "etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
NETWORKD_FILE = "etc/systemd/network/25-redhive-wlan.network"
WPA_WANTS = "etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service"
RFKILL_STATE = "var/lib/systemd/rfkill/platform-3f300000.mmcnr:wlan"
PLACEHOLDER = "(removed from this card after it was applied)"
CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
           "fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
SYSTEM_COMMANDS = ("systemctl", "nmcli", "iw", "rfkill", "wpa_cli", "raspi-config", "networkctl")
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"


def tool(name: str, package: str) -> str:
    path = shutil.which(name, path=SBIN_PATH)
    if path is None:
        pytest.fail(f"{name} is missing (apt-get install {package})")
    return path


# ------------------------------------------------------------------------------------------------
# Root trees and runs


def make_root(tmp_path: Path, stack: str) -> Path:
    """A root tree as the image has it before first boot. stack: nm, networkd or none."""
    root = tmp_path / "root"
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "cmdline.txt").write_text(CMDLINE)
    (root / RFKILL_STATE).parent.mkdir(parents=True)
    (root / RFKILL_STATE).write_text("1\n")  # Pi OS ships Wi-Fi soft-blocked until a country is set
    (root / "usr" / "sbin").mkdir(parents=True)
    if stack == "nm":
        (root / "usr" / "sbin" / "NetworkManager").touch()
    elif stack == "networkd":
        (root / "usr" / "sbin" / "wpa_supplicant").touch()
        wants = root / "etc" / "systemd" / "system" / "multi-user.target.wants"
        wants.mkdir(parents=True)
        (wants / "systemd-networkd.service").symlink_to("/lib/systemd/system/systemd-networkd.service")
    return root


def boot(root: Path) -> Path:
    return root / "boot" / "firmware"


def fake_system_commands(tmp_path: Path) -> tuple[Path, Path]:
    bindir, log = tmp_path / "fakebin", tmp_path / "system-commands.log"
    if not bindir.exists():
        bindir.mkdir()
        for name in SYSTEM_COMMANDS:
            (bindir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
            (bindir / name).chmod(0o755)
    return bindir, log


@dataclass
class Run:
    rc: int
    out: str
    err: str
    system_commands: str


def run(root: Path, content: bytes | str | None, shell: str | None = None) -> Run:
    """Write the user file (unless None) and run the script with ROOT=root."""
    if content is not None:
        data = content.encode() if isinstance(content, str) else content
        (boot(root) / "redhive-wifi.txt").write_bytes(data)
    bindir, log = fake_system_commands(root.parent)
    env = {**os.environ, "ROOT": str(root), "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    argv = [shell, str(SCRIPT)] if shell else [str(SCRIPT)]
    cp = subprocess.run(argv, env=env, capture_output=True, timeout=60)
    calls = log.read_text() if log.exists() else ""
    return Run(cp.returncode, cp.stdout.decode("utf-8", "replace"), cp.stderr.decode("utf-8", "replace"), calls)


@dataclass
class Net:
    ssid: str
    password: str | None  # None: no PASSWORD line at all
    hidden: bool = False
    country: str = "de"

    def file(self) -> str:
        lines = ["# written by the test", f"SSID={self.ssid}"]
        if self.password is not None:
            lines.append(f"PASSWORD={self.password}")
        lines += [f"COUNTRY={self.country}", f"HIDDEN={'yes' if self.hidden else 'no'}"]
        return "\n".join(lines) + "\n"


CASES = {
    "wpa": Net("HomeNet", "correct horse battery"),
    "raw-psk": Net("HomeNet", "0123456789abcdef" * 3 + "0123456789ABCDEF"),
    "open": Net("Cafe Free WiFi", ""),
    "open-no-password-line": Net("Library", None),
    "hidden": Net("Back Office", "hidden-net-pw", hidden=True),
    # leading and trailing spaces, quotes, =, #, ;, backslashes, all at once
    "specials": Net(' My "Net" #1 = a;b\\c ', ' p@ss "w=#rd;\\x\\ '),
    "quote-without-hash": Net('say "hi"', 'say "hello" world'),
    "hash-without-quote": Net("Net #2", "pass#word = x"),
    # NM reads a bare 1;2; as a byte list, and a backslash before ; as an escape
    "semicolons": Net("1;2;", "12;34;56;"),
    "escaped-semicolon": Net("a\\;b", "x\\;y\\\\;z"),
    "digits": Net("12345", "87654321"),
    "backslashes": Net("\\\\", "\\" * 8),
    "utf8": Net("Café ☕ Wi-Fi", "pässwörd-ünï"),
    "utf8-quote-hash": Net("Zürich", 'pä"ss #wörd'),
    "max-lengths": Net("x" * 32, "y" * 63),
    "min-password": Net("n", "8chars!!"),
}


def case_params():
    return [pytest.param(net, id=name) for name, net in CASES.items()]


def snapshot(root: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        st = p.lstat()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), p.read_bytes())
    return out


def assert_secret_file(path: Path):
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600, f"{path} is {oct(stat.S_IMODE(st.st_mode))}"
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (0, 0)


def assert_applied(root: Path, r: Run, net: Net, ssid_line: str | None = None):
    """After success: the boot partition keeps no password, cmdline.txt has the country once."""
    assert r.rc == 0, r.out + r.err
    assert r.system_commands == "", f"ROOT is a tree, yet the script ran: {r.system_commands}"
    b = boot(root)
    assert not (b / "redhive-wifi.txt").exists()
    assert not (b / "redhive-wifi.txt.error").exists()
    applied = (b / "redhive-wifi.txt.applied").read_text()
    assert (ssid_line or f"SSID={net.ssid}") + "\n" in applied
    if net.password is not None:
        assert f"\nPASSWORD={PLACEHOLDER}\n" in applied
    if net.password:
        secret = net.password.encode()
        for f in b.rglob("*"):
            if f.is_file():
                assert secret not in f.read_bytes(), f"the password is still in {f}"
        assert net.password not in r.out + r.err, "the password went to the log"
    lines = (b / "cmdline.txt").read_text().split("\n")
    assert len(lines) == 2 and lines[1] == "", f"cmdline.txt is no longer one line: {lines}"
    params = lines[0].split(" ")
    assert [p for p in params if p.startswith("cfg80211.ieee80211_regdom=")] == [
        f"cfg80211.ieee80211_regdom={net.country.upper()}"]
    assert params[:-1] == CMDLINE.split(), "the other kernel parameters changed"
    assert (root / RFKILL_STATE).read_text() == "0\n", "Wi-Fi left soft-blocked"


# ------------------------------------------------------------------------------------------------
# NetworkManager keyfiles: nm-settings-keyfile(5), GLib's GKeyFile syntax

GKEYFILE_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
# NM's reader takes a value of this shape as the obsolete decimal byte-list form
NM_BYTE_LIST = re.compile(r"\s*\d{1,3}\s*;(\s*\d{1,3}\s*;)*\s*")


def parse_keyfile(text: str) -> dict[str, dict[str, str]]:
    """Groups of raw values. GKeyFile drops blanks before a value (hence \\s), keeps those after."""
    groups: dict[str, dict[str, str]] = {}
    current = None
    for line in text.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("[") and line.rstrip().endswith("]"):
            current = groups.setdefault(line.strip()[1:-1], {})
            continue
        assert current is not None and "=" in line, f"not a keyfile line: {line!r}"
        key, _, value = line.partition("=")
        assert key.strip() not in current, f"duplicate key {key!r}"
        current[key.strip()] = value.lstrip(" \t")
    return groups


def gkeyfile_string(raw: str) -> str:
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\":
            assert i + 1 < len(raw) and raw[i + 1] in GKEYFILE_ESCAPES, f"invalid escape in {raw!r}"
            out.append(GKEYFILE_ESCAPES[raw[i + 1]])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def nm_ssid(raw: str) -> bytes:
    s = gkeyfile_string(raw)
    if NM_BYTE_LIST.fullmatch(s):
        return bytes(int(b) for b in s.split(";") if b.strip())
    return s.encode().replace(b"\\;", b";")


def nmcli(args: list[str], stdin: str | None = None) -> dict[str, dict[str, str]]:
    cp = subprocess.run([tool("nmcli", "network-manager"), "--offline", *args], input=stdin,
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"nmcli --offline {' '.join(args)}:\n{cp.stdout}{cp.stderr}"
    return parse_keyfile(cp.stdout)


def check_networkmanager(root: Path, net: Net):
    path = root / NM_FILE
    assert_secret_file(path)
    text = path.read_text(encoding="utf-8")
    kf = parse_keyfile(text)
    assert {k: kf["connection"][k] for k in ("id", "type", "autoconnect")} == {
        "id": "redhive-wifi", "type": "wifi", "autoconnect": "true"}
    assert kf["wifi"]["mode"] == "infrastructure"
    assert kf["wifi"]["hidden"] == ("true" if net.hidden else "false")
    assert nm_ssid(kf["wifi"]["ssid"]) == net.ssid.encode()
    if net.password:
        assert kf["wifi-security"]["key-mgmt"] == "wpa-psk"
        assert gkeyfile_string(kf["wifi-security"]["psk"]) == net.password
    else:
        assert "wifi-security" not in kf
    assert kf["ipv4"]["method"] == "auto" and kf["ipv6"]["method"] == "auto"

    # NetworkManager's own reading and writing of the same connection.
    reread = nmcli(["connection", "modify", "connection.autoconnect", "yes"], stdin=text)
    wanted = ["connection", "add", "type", "wifi", "con-name", "redhive-wifi", "ssid", net.ssid,
              "wifi.hidden", "yes" if net.hidden else "no"]
    if net.password:
        wanted += ["wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.psk", net.password]
    reference = nmcli(wanted)
    for group, key in (("wifi", "ssid"), ("wifi", "hidden"), ("wifi-security", "key-mgmt"),
                       ("wifi-security", "psk")):
        want = reference.get(group, {}).get(key)
        assert reread.get(group, {}).get(key) == want, f"NM reads {group}.{key} differently"
        if want is not None and key != "hidden":  # NM omits hidden=false
            assert kf[group][key] == want, f"{group}.{key} is not written as NM writes it"
    assert reread["connection"]["id"] == "redhive-wifi"


# ------------------------------------------------------------------------------------------------
# wpa_supplicant


def wpa_parse(conf: Path) -> str:
    """wpa_supplicant's debug dump of its reading of CONF (keys included: -K)."""
    cp = subprocess.run([tool("wpa_supplicant", "wpasupplicant"), "-ddK", "-c", str(conf), "-i", "rhtest0",
                         "-D", "nl80211"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = cp.stdout.decode("utf-8", "replace")
    assert f"Reading configuration file '{conf}'" in out, out
    errors = [line for line in out.splitlines() if re.match(r"Line \d+: ", line)]
    assert not errors and "Failed to read or parse configuration" not in out, out
    return out


def hexdump_ascii(out: str, title: str) -> bytes:
    lines = out.splitlines()
    for i, line in enumerate(lines):
        m = re.fullmatch(rf"{re.escape(title)} - hexdump_ascii\(len=(\d+)\):", line.strip())
        if m:
            data = bytearray()
            for row in lines[i + 1:i + 1 + (int(m[1]) + 15) // 16]:
                data += bytes.fromhex(row[5:5 + 48])
            return bytes(data)
    raise AssertionError(f"no {title} dump in\n{out}")


def dumped_psk(out: str) -> bytes:
    m = re.search(r"^PSK(?: \(from passphrase\))? - hexdump\(len=32\): ([0-9a-f ]+)$", out, re.M)
    assert m, f"no PSK in\n{out}"
    return bytes.fromhex(m[1])


def check_wpa_supplicant(root: Path, net: Net):
    conf = root / WPA_FILE
    assert_secret_file(conf)
    text = conf.read_text(encoding="utf-8")
    assert text.startswith(f"ctrl_interface=DIR=/run/wpa_supplicant\nupdate_config=0\ncountry={net.country.upper()}\n")
    out = wpa_parse(conf)
    assert f"country='{net.country.upper()}'" in out
    assert hexdump_ascii(out, "ssid") == net.ssid.encode()
    assert ("scan_ssid=1 (0x1)" in out) == net.hidden
    if net.password:
        assert "key_mgmt: 0x2" in out  # WPA-PSK
        if len(net.password) == 64:
            want = bytes.fromhex(net.password)
        else:
            want = hashlib.pbkdf2_hmac("sha1", net.password.encode(), net.ssid.encode(), 4096, 32)
        assert dumped_psk(out) == want
        if '"' not in net.password and len(net.password) < 64:  # the passphrase itself is in the file
            assert hexdump_ascii(out, "PSK (ASCII passphrase)") == net.password.encode()
    else:
        assert "key_mgmt: 0x4" in out  # NONE
        assert "psk" not in text
    network = root / NETWORKD_FILE
    assert network.read_text() == "[Match]\nName=wlan*\n\n[Network]\nDHCP=yes\n"
    assert stat.S_IMODE(network.stat().st_mode) == 0o644
    assert os.readlink(root / WPA_WANTS) == "/lib/systemd/system/wpa_supplicant@.service"


# ------------------------------------------------------------------------------------------------
# Successful runs


@pytest.mark.parametrize("net", case_params())
def test_networkmanager(tmp_path, net):
    root = make_root(tmp_path, "nm")
    r = run(root, net.file())
    assert_applied(root, r, net)
    check_networkmanager(root, net)
    assert not (root / WPA_FILE).exists()


@pytest.mark.parametrize("net", case_params())
def test_wpa_supplicant(tmp_path, net):
    root = make_root(tmp_path, "networkd")
    r = run(root, net.file())
    assert_applied(root, r, net)
    check_wpa_supplicant(root, net)
    assert not (root / NM_FILE).exists()
    assert "not enabled" not in r.out


@pytest.mark.parametrize("shell", ["dash", "bash"])
@pytest.mark.parametrize("stack", ["nm", "networkd"])
def test_other_shells(tmp_path, stack, shell):
    """/bin/sh is dash on Pi OS and Debian; bash as sh must give the same files."""
    if shutil.which(shell) is None:
        pytest.fail(f"{shell} is missing (apt-get install {shell})")
    net = CASES["specials"]
    root = make_root(tmp_path, stack)
    r = run(root, net.file(), shell=shell)
    assert_applied(root, r, net)
    (check_networkmanager if stack == "nm" else check_wpa_supplicant)(root, net)


@pytest.mark.parametrize("stack", ["nm", "networkd"])
def test_windows_file_with_bom_and_crlf(tmp_path, stack):
    net = Net("Home Net", "secret pass", hidden=True, country="gb")
    data = ("\ufeff# saved by Notepad\r\nSSID=Home Net\r\n\r\nPASSWORD=secret pass\r\n"
            "  # an indented comment\r\ncountry=gb\r\nhidden=Yes").encode()  # no final line end
    root = make_root(tmp_path, stack)
    r = run(root, data)
    assert_applied(root, r, net)
    (check_networkmanager if stack == "nm" else check_wpa_supplicant)(root, net)


def test_commented_out_passwords_are_removed_too(tmp_path):
    root = make_root(tmp_path, "nm")
    r = run(root, "SSID=Home\n#PASSWORD=old-secret-1\n# password = old-secret-2\nPASSWORD=new-secret\nCOUNTRY=GB\n")
    assert r.rc == 0, r.err
    applied = (boot(root) / "redhive-wifi.txt.applied").read_text()
    for secret in ("old-secret-1", "old-secret-2", "new-secret"):
        assert secret not in applied


def test_spaces_after_equals_are_kept_and_noted(tmp_path):
    root = make_root(tmp_path, "networkd")
    net = Net(" Home", " pass word ", country="gb")
    r = run(root, "SSID = Home\nPASSWORD= pass word \nCOUNTRY=gb\n")
    assert_applied(root, r, net, ssid_line="SSID = Home")
    check_wpa_supplicant(root, net)
    assert "note: SSID begins or ends with a space" in r.out
    assert "note: PASSWORD begins or ends with a space" in r.out
    assert "# note: SSID begins or ends with a space" in (boot(root) / "redhive-wifi.txt.applied").read_text()


@pytest.mark.parametrize("before, after", [
    pytest.param("a=1 b\n", "a=1 b cfg80211.ieee80211_regdom=DE\n", id="appended"),
    pytest.param("cfg80211.ieee80211_regdom=US a  b\tc cfg80211.ieee80211_regdom=GB\r\n",
                 "a  b\tc cfg80211.ieee80211_regdom=DE\n", id="replaced-once"),
    pytest.param("a xcfg80211.ieee80211_regdom=US", "a xcfg80211.ieee80211_regdom=US cfg80211.ieee80211_regdom=DE\n",
                 id="no-final-newline"),
    pytest.param("", "cfg80211.ieee80211_regdom=DE\n", id="empty"),
    pytest.param("a b\n# the firmware reads the first line only\n",
                 "a b cfg80211.ieee80211_regdom=DE\n# the firmware reads the first line only\n", id="second-line-kept"),
])
def test_cmdline_regulatory_domain(tmp_path, before, after):
    root = make_root(tmp_path, "nm")
    (boot(root) / "cmdline.txt").write_text(before)
    r = run(root, Net("Home", "password1").file())
    assert r.rc == 0, r.err
    assert (boot(root) / "cmdline.txt").read_text() == after


def test_no_cmdline_no_new_file(tmp_path):
    root = make_root(tmp_path, "networkd")
    (boot(root) / "cmdline.txt").unlink()
    r = run(root, Net("Home", "password1").file())
    assert r.rc == 0, r.err
    assert not (boot(root) / "cmdline.txt").exists()
    assert "country=DE\n" in (root / WPA_FILE).read_text()


def test_country_checked_against_iso3166_when_present(tmp_path):
    root = make_root(tmp_path, "nm")
    tab = root / "usr" / "share" / "zoneinfo" / "iso3166.tab"
    tab.parent.mkdir(parents=True)
    tab.write_text("# ISO 3166 alpha-2 country codes\nDE\tGermany\nGB\tBritain (UK)\nUS\tUnited States\n")
    assert run(root, Net("Home", "password1", country="gb").file()).rc == 0
    r = run(root, Net("Home", "password1", country="UK").file())
    assert r.rc == 1 and "not an ISO 3166 country code" in r.err


def test_second_file_replaces_the_first(tmp_path):
    root = make_root(tmp_path, "networkd")
    assert run(root, Net("First", "password-one").file()).rc == 0
    net = Net("Second", "password-two", hidden=True)
    r = run(root, net.file())
    assert_applied(root, r, net)
    check_wpa_supplicant(root, net)
    assert len([p for p in (root / "etc").rglob("*") if ".redhive-wifi." in p.name]) == 0, "temporary files left"


def test_applied_copy_put_back_is_refused(tmp_path):
    root = make_root(tmp_path, "nm")
    assert run(root, Net("Home", "password1").file()).rc == 0
    b = boot(root)
    (b / "redhive-wifi.txt.applied").rename(b / "redhive-wifi.txt")
    before = (root / NM_FILE).read_bytes()
    r = run(root, None)
    assert r.rc == 1 and "the password was removed from this card" in r.err
    assert (root / NM_FILE).read_bytes() == before


def test_a_fixed_file_clears_the_error(tmp_path):
    root = make_root(tmp_path, "nm")
    assert run(root, "SSID=Home\nPASSWORD=short\nCOUNTRY=GB\n").rc == 1
    assert (boot(root) / "redhive-wifi.txt.error").exists()
    net = Net("Home", "long enough", country="GB")
    assert_applied(root, run(root, net.file()), net)


def test_example_file(tmp_path):
    """The shipped example, copied as is, explains itself; with its lines uncommented it applies."""
    root = make_root(tmp_path, "nm")
    example = EXAMPLE.read_text()
    r = run(root, example)
    assert r.rc == 1 and "no SSID= line" in r.err
    filled = re.sub(r"^#((SSID|PASSWORD|COUNTRY|HIDDEN)=)", r"\1", example, flags=re.M)
    net = Net("My Home Network", "my wifi password", country="GB")
    r = run(root, filled)
    assert_applied(root, r, net)
    check_networkmanager(root, net)


def test_nothing_to_do_without_the_file(tmp_path):
    root = make_root(tmp_path, "nm")
    before = snapshot(root)
    r = run(root, None)
    assert r.rc == 0 and "nothing to do" in r.out
    assert snapshot(root) == before


# ------------------------------------------------------------------------------------------------
# Errors: a clear message, the user file untouched, .error on the card, nothing under /etc

ERRORS = [
    ("no-ssid", "PASSWORD=password1\nCOUNTRY=GB\n", "no SSID= line"),
    ("empty-ssid", "SSID=\nPASSWORD=password1\nCOUNTRY=GB\n", "line 1: SSID is empty"),
    ("ssid-too-long", f"SSID={'x' * 33}\nCOUNTRY=GB\n", "at most 32"),
    ("ssid-too-long-utf8", f"SSID={'é' * 17}\nCOUNTRY=GB\n", "34 bytes long"),
    ("short-password", "SSID=Home\nPASSWORD=seven77\nCOUNTRY=GB\n", "line 2: PASSWORD is 7 bytes long"),
    ("long-password", f"SSID=Home\nPASSWORD={'a' * 65}\nCOUNTRY=GB\n", "PASSWORD is 65 bytes long"),
    ("64-not-hex", f"SSID=Home\nPASSWORD={'g' * 64}\nCOUNTRY=GB\n", "64 characters but not hexadecimal"),
    ("no-country", "SSID=Home\nPASSWORD=password1\n", "no COUNTRY="),
    ("country-name", "SSID=Home\nPASSWORD=password1\nCOUNTRY=Germany\n", "line 3: COUNTRY must be a two-letter"),
    ("country-digit", "SSID=Home\nPASSWORD=password1\nCOUNTRY=D3\n", "COUNTRY must be a two-letter"),
    ("hidden-maybe", "SSID=Home\nCOUNTRY=GB\nHIDDEN=maybe\n", "line 3: HIDDEN must be yes or no"),
    ("unknown-key", "SSID=Home\nPASWORD=password1\nCOUNTRY=GB\n", "line 2: unknown key 'PASWORD'"),
    ("duplicate-key", "SSID=Home\nssid=Other\nCOUNTRY=GB\n", "line 2: SSID is already given on line 1"),
    ("no-equals", "SSID=Home\npassword1\nCOUNTRY=GB\n", "line 2: expected KEY=VALUE"),
    ("control-char", "SSID=Home\tNet\nCOUNTRY=GB\n", "SSID contains a control character"),
    ("placeholder", f"SSID=Home\nPASSWORD={PLACEHOLDER}\nCOUNTRY=GB\n", "removed from this card"),
    ("not-utf8", "SSID=Café\nPASSWORD=password1\nCOUNTRY=FR\n".encode("latin-1"), "not UTF-8"),
]


def error_params():
    return list(_error_params())


def _error_params():
    for name, content, message in ERRORS:
        for stack in ("nm", "networkd"):
            yield pytest.param(stack, content, message, id=f"{name}-{stack}")
    yield pytest.param("none", "SSID=Home\nPASSWORD=password1\nCOUNTRY=GB\n", "neither NetworkManager nor wpa_supplicant",
                       id="no-network-stack")


@pytest.mark.parametrize("stack, content, message", error_params())
def test_errors(tmp_path, stack, content, message):
    root = make_root(tmp_path, stack)
    data = content.encode() if isinstance(content, str) else content
    (boot(root) / "redhive-wifi.txt").write_bytes(data)
    before = snapshot(root)
    r = run(root, None)
    assert r.rc == 1, r.out + r.err
    assert message in r.err, r.err
    error_file = boot(root) / "redhive-wifi.txt.error"
    assert message in error_file.read_text()
    after = snapshot(root)
    del after["boot/firmware/redhive-wifi.txt.error"]
    assert after == before, "an error changed files (user file, /etc or cmdline.txt)"
    assert r.system_commands == ""
    m = re.search(rb"^PASSWORD=(.+)$", data, re.M)
    if m:  # the message names the problem, never the password
        secret = m[1].decode("utf-8", "replace")
        assert secret not in r.out + r.err and secret not in error_file.read_text()


def test_unreadable_file(tmp_path):
    root = make_root(tmp_path, "nm")
    (boot(root) / "redhive-wifi.txt").mkdir()  # exists (the unit's condition holds) but is no file
    r = run(root, None)
    assert r.rc == 1 and "cannot read" in r.err
    assert "cannot read" in (boot(root) / "redhive-wifi.txt.error").read_text()
    assert not (root / "etc").exists()


# ------------------------------------------------------------------------------------------------
# The unit and the script's hygiene


def test_the_unit_verifies(tmp_path):
    analyze = tool("systemd-analyze", "systemd")
    # In a root tree with the script installed where the unit names it...
    tree = tmp_path / "tree"
    (tree / "usr/lib/redhive").mkdir(parents=True)
    (tree / "etc/systemd/system").mkdir(parents=True)
    shutil.copy2(SCRIPT, tree / "usr/lib/redhive/wifi-setup")
    shutil.copy(UNIT, tree / "etc/systemd/system/redhive-wifi.service")
    cp = subprocess.run([analyze, "verify", f"--root={tree}", "redhive-wifi.service"], capture_output=True, text=True)
    assert cp.returncode == 0 and not cp.stderr.strip(), f"systemd-analyze verify --root:\n{cp.stdout}{cp.stderr}"
    # ...and against this machine's units (network-pre.target, NetworkManager...), with ExecStart
    # pointing at the script in the repository.
    unit = tmp_path / "redhive-wifi.service"
    unit.write_text(UNIT.read_text().replace("/usr/lib/redhive/wifi-setup", str(SCRIPT)))
    cp = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert cp.returncode == 0 and not cp.stderr.strip(), f"systemd-analyze verify:\n{cp.stdout}{cp.stderr}"

    text = UNIT.read_text()
    for line in ("Type=oneshot", "ConditionPathExists=/boot/firmware/redhive-wifi.txt",
                 "ExecStart=/usr/lib/redhive/wifi-setup", "RequiresMountsFor=/boot/firmware",
                 "After=local-fs.target", "Wants=network-pre.target",
                 "Before=network-pre.target NetworkManager.service wpa_supplicant@wlan0.service systemd-networkd.service",
                 "WantedBy=multi-user.target"):
        assert f"\n{line}\n" in text, f"{line} missing from the unit"


def test_script_is_executable_and_shellcheck_clean():
    assert os.access(SCRIPT, os.X_OK), f"{SCRIPT} is not executable"
    assert SCRIPT.read_text().startswith("#!/bin/sh\n")
    cp = subprocess.run([tool("shellcheck", "shellcheck"), str(SCRIPT)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    code = "\n".join(line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#"))
    for forbidden in (r"\beval\b", r"(^|[;&|]\s*)(\.|source) "):
        assert not re.search(forbidden, code, re.M), f"the script uses {forbidden}"


@pytest.mark.parametrize("script", ["image/build.sh", "cross/build.sh", "cross/binfmt.sh", "custom-node-red/image/build-local.sh"])
def test_the_image_build_scripts_are_shellcheck_clean(script):
    cp = subprocess.run([tool("shellcheck", "shellcheck"), str(REPO / script)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
