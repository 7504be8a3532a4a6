//! Resource limits of one tenant and the units people write them in.

use serde::{Deserialize, Serialize};
use std::fmt;

const MIB: u64 = 1024 * 1024;
/// Below this Node-RED cannot even load its editor.
pub const MIN_MEMORY: u64 = 64 * MIB;
/// Node-RED plus npm for a palette install need a few dozen processes and threads.
pub const MIN_PIDS: u32 = 16;

/// What one tenant may use. Applied as cgroup limits by both runtimes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Hard memory limit; swap is not allowed on top of it.
    pub memory_bytes: u64,
    /// CPU quota in cores (0.5 = half of one core).
    pub cpus: f64,
    /// Most processes and threads at once (fork bombs stop here).
    pub pids: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 * MIB,
            cpus: 1.0,
            pids: 256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{value}` is not a valid {what}: {reason}")]
pub struct LimitError {
    pub value: String,
    pub what: &'static str,
    pub reason: String,
}

impl Limits {
    pub fn memory_mib(&self) -> u64 {
        self.memory_bytes / MIB
    }

    /// CFS quota for a 100 ms period.
    pub fn cpu_quota_us(&self) -> i64 {
        (self.cpus * CPU_PERIOD_US as f64).round() as i64
    }

    /// Refuse values that cannot run Node-RED or make no sense.
    pub fn validate(&self) -> Result<(), LimitError> {
        if self.memory_bytes < MIN_MEMORY {
            return Err(LimitError {
                value: format_bytes(self.memory_bytes),
                what: "memory limit",
                reason: format!("Node-RED needs at least {}", format_bytes(MIN_MEMORY)),
            });
        }
        check_cpus(self.cpus)?;
        if self.pids < MIN_PIDS {
            return Err(LimitError {
                value: self.pids.to_string(),
                what: "process limit",
                reason: format!("Node-RED needs at least {MIN_PIDS}"),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory {}, cpus {}, pids {}",
            format_bytes(self.memory_bytes),
            self.cpus,
            self.pids
        )
    }
}

pub const CPU_PERIOD_US: u64 = 100_000;

/// `256M`, `1G`, `1.5G`, `512MiB`, `300000000` (bytes) → bytes.
pub fn parse_bytes(text: &str) -> Result<u64, LimitError> {
    let error = |reason: &str| LimitError {
        value: text.to_string(),
        what: "size",
        reason: reason.to_string(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| error("expected a number with an optional unit, e.g. 256M or 1G"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => 1024 * MIB,
        _ => return Err(error("unknown unit; use K, M or G")),
    };
    let bytes = number * factor as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 / 2.0 {
        return Err(error("out of range"));
    }
    Ok(bytes as u64)
}

pub fn parse_cpus(text: &str) -> Result<f64, LimitError> {
    let cpus: f64 = text.trim().parse().map_err(|_| LimitError {
        value: text.to_string(),
        what: "CPU quota",
        reason: "expected a number of cores such as 0.5 or 2".into(),
    })?;
    check_cpus(cpus)?;
    Ok(cpus)
}

fn check_cpus(cpus: f64) -> Result<(), LimitError> {
    // 0.01 core = a 1 ms quota per 100 ms period, the smallest the kernel takes.
    if !cpus.is_finite() || !(0.01..=1024.0).contains(&cpus) {
        return Err(LimitError {
            value: cpus.to_string(),
            what: "CPU quota",
            reason: "use a number of cores between 0.01 and 1024".into(),
        });
    }
    Ok(())
}

/// Bytes for people: `256 MiB`, `1.5 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    const GIB: u64 = 1024 * MIB;
    if bytes >= GIB && bytes.is_multiple_of(GIB / 4) {
        format!("{} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_common_spellings() {
        assert_eq!(parse_bytes("256M").unwrap(), 256 * MIB);
        assert_eq!(parse_bytes("256MiB").unwrap(), 256 * MIB);
        assert_eq!(parse_bytes("1.5G").unwrap(), 1536 * MIB);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        for bad in ["", "M", "12X", "-1M", "1.2.3G", "0"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_that_cannot_run_node_red_are_refused() {
        let mut limits = Limits::default();
        assert!(limits.validate().is_ok());
        limits.memory_bytes = 32 * MIB;
        assert!(limits
            .validate()
            .unwrap_err()
            .to_string()
            .contains("64 MiB"));
        limits = Limits {
            cpus: 0.0,
            ..Limits::default()
        };
        assert!(limits.validate().is_err());
        assert!(parse_cpus("0.5").is_ok());
        assert!(parse_cpus("lots").is_err());
        assert_eq!(Limits::default().cpu_quota_us(), 100_000);
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(format_bytes(256 * MIB), "256 MiB");
        assert_eq!(format_bytes(2048 * MIB), "2 GiB");
    }
}
