//! What an appliance on an SD card needs beyond the runtimes: free space, a clock that is
//! right (TLS certificates and logs depend on it), one mDNS responder, and a card that has
//! not gone read-only.

use super::{check, Check};
use crate::config::Settings;
use crate::runtime::limits::format_bytes;
use std::path::Path;

/// Below this much free space on the data directory's filesystem, say so.
const LOW_SPACE: u64 = 1 << 30;
/// A clock before this year has never been set (a Pi without an RTC boots in the past).
const PLAUSIBLE_YEAR: i32 = 2025;

pub fn checks(settings: &Settings) -> Vec<Check> {
    let mut checks = vec![disk_space(&settings.data_dir), clock()];
    checks.extend(mdns_responder());
    checks.extend(storage_device(&settings.data_dir));
    checks
}

fn disk_space(data_dir: &Path) -> Check {
    // The data directory may not exist yet before the first start: its parent tells.
    let existing = data_dir
        .ancestors()
        .find(|dir| dir.exists())
        .unwrap_or(Path::new("/"));
    match nix::sys::statvfs::statvfs(existing) {
        Ok(stats) => {
            // fsblkcnt_t and c_ulong are 32-bit on some targets, 64-bit on others.
            #[allow(clippy::unnecessary_cast)]
            let (free, total) = (
                stats.blocks_available() as u64 * stats.fragment_size() as u64,
                stats.blocks() as u64 * stats.fragment_size() as u64,
            );
            let ok = free >= LOW_SPACE;
            check(
                "disk space",
                ok,
                if ok {
                    format!(
                        "{} free of {} for {}",
                        format_bytes(free),
                        format_bytes(total),
                        data_dir.display()
                    )
                } else {
                    format!("only {} free of {} for {}: flows, npm installs and the store need room; delete unused tenants or use a larger card", format_bytes(free), format_bytes(total), data_dir.display())
                },
            )
        }
        Err(error) => check(
            "disk space",
            false,
            format!(
                "cannot read the filesystem of {}: {error}",
                data_dir.display()
            ),
        ),
    }
}

fn clock() -> Check {
    let year: i32 = chrono::Datelike::year(&chrono::Utc::now());
    // SAFETY: adjtimex with modes 0 only reads the kernel's clock state into the struct.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut timex) };
    let synchronised = state != libc::TIME_ERROR && timex.status & libc::STA_UNSYNC == 0;
    match (year >= PLAUSIBLE_YEAR, synchronised) {
        (false, _) => check("clock", false, format!("the clock says {year}: it was never set; connect the appliance to a network with NTP (systemd-timesyncd) — HTTPS certificates are refused by browsers until it is right")),
        (true, true) => check("clock", true, "synchronised by NTP"),
        (true, false) => check("clock", true, "not synchronised by NTP yet (fine if it just booted; else enable systemd-timesyncd): a Pi has no battery clock"),
    }
}

/// Another mDNS responder (avahi) on this machine would answer for the same names.
fn mdns_responder() -> Option<Check> {
    let avahi = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .any(|entry| {
            std::fs::read_to_string(entry.path().join("comm"))
                .is_ok_and(|comm| comm.trim() == "avahi-daemon")
        });
    Some(check(
        "mdns responder",
        !avahi,
        if avahi {
            "avahi-daemon also answers mDNS here: two responders fight over the names; redhive's own is enough (`systemctl disable --now avahi-daemon`)"
        } else {
            "redhive answers mDNS itself; no other responder runs"
        },
    ))
}

/// SD cards: say so, and catch one the kernel remounted read-only after errors.
fn storage_device(data_dir: &Path) -> Option<Check> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let dir = data_dir.canonicalize().ok()?;
    let Mount {
        mount_point,
        options,
        source,
    } = mount_of(&mountinfo, &dir)?;
    let read_only = options.split(',').any(|o| o == "ro");
    if read_only {
        return Some(check("storage", false, format!("{mount_point} ({source}) is read-only: the kernel does this after write errors — the card is failing; copy the data off and replace it")));
    }
    source.contains("mmcblk").then(|| {
        check("storage", true, format!("data on an SD card ({source}): use an A1/A2 or high-endurance card, keep a backup, and power the Pi from a proper supply — power cuts are survived (the store syncs every write) but wear the card"))
    })
}

struct Mount {
    mount_point: String,
    options: String,
    source: String,
}

/// The mount holding `dir` in a `/proc/self/mountinfo` text: the longest mount point that
/// contains it.
fn mount_of(mountinfo: &str, dir: &Path) -> Option<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let separator = fields.iter().position(|f| *f == "-")?;
            Some(Mount {
                mount_point: fields.get(4)?.to_string(),
                options: fields.get(5)?.to_string(),
                source: fields.get(separator + 2)?.to_string(),
            })
        })
        .filter(|mount| dir.starts_with(&mount.mount_point))
        .max_by_key(|mount| mount.mount_point.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
23 22 179:1 / /boot/firmware rw,relatime shared:2 - vfat /dev/mmcblk0p1 rw
40 22 8:1 / /var/lib/redhive ro,noatime shared:3 - ext4 /dev/sda1 ro,errors=remount-ro
";

    #[test]
    fn the_longest_mount_point_holds_the_directory() {
        let root = mount_of(MOUNTINFO, Path::new("/home/pi")).unwrap();
        assert_eq!(
            (root.mount_point.as_str(), root.source.as_str()),
            ("/", "/dev/mmcblk0p2")
        );
        let data = mount_of(MOUNTINFO, Path::new("/var/lib/redhive/store")).unwrap();
        assert_eq!(data.source, "/dev/sda1");
        assert!(data.options.split(',').any(|o| o == "ro"));
    }
}
