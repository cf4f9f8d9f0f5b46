//! Limits on one query: the memory it may hold and the time it may run.
//!
//! Each session has a memory pool shared fairly by the operators of its queries; sorts,
//! aggregates and joins that can spill write to temporary files when their share is used up, and
//! an operator that cannot spill fails with "query exceeded its memory limit". The default is half
//! the machine's memory, `COSTPILOT_QUERY_MEMORY` sets it (`512MiB`, `4GiB`, `2G`, plain bytes, or
//! a share of memory such as `25%`). A query (planning and running) stops after
//! `COSTPILOT_QUERY_TIMEOUT` seconds (default 300).

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};

use crate::error::QueryError;

/// The variable setting the memory limit.
pub const MEMORY_VAR: &str = "COSTPILOT_QUERY_MEMORY";
/// The variable setting the time limit, in seconds.
pub const TIMEOUT_VAR: &str = "COSTPILOT_QUERY_TIMEOUT";
/// The time limit when none is set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The memory assumed where the machine's cannot be read.
const ASSUMED_MEMORY: u64 = 4 << 30;

/// The memory and time one query of a session may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Bytes the session's memory pool holds.
    pub memory: usize,
    /// How long a query may plan and run.
    pub timeout: Duration,
}

impl Default for QueryLimits {
    /// Half the machine's memory and the default timeout.
    fn default() -> Self {
        QueryLimits { memory: share_of_memory(50.0), timeout: DEFAULT_TIMEOUT }
    }
}

impl QueryLimits {
    /// The limits `COSTPILOT_QUERY_MEMORY` and `COSTPILOT_QUERY_TIMEOUT` set, defaults for those unset.
    pub fn from_env() -> Result<QueryLimits, QueryError> {
        let mut limits = QueryLimits::default();
        if let Some(text) = std::env::var_os(MEMORY_VAR) {
            limits.memory = parse_memory(&text.to_string_lossy())?;
        }
        if let Some(text) = std::env::var_os(TIMEOUT_VAR) {
            limits.timeout = parse_timeout(&text.to_string_lossy())?;
        }
        Ok(limits)
    }

    /// The runtime of a session under these limits: a fair spilling pool and a temporary-file
    /// manager for the spills.
    pub(crate) fn runtime(&self) -> Result<Arc<RuntimeEnv>, QueryError> {
        let pool =
            TrackConsumersPool::new(FairSpillPool::new(self.memory), NonZeroUsize::new(3).expect("3 > 0"));
        Ok(RuntimeEnvBuilder::new().with_memory_pool(Arc::new(pool)).build_arc()?)
    }

    /// `error` in words a person reads when it is the memory limit's; `None` otherwise.
    pub(crate) fn explain(&self, error: &DataFusionError) -> Option<QueryError> {
        match error.find_root() {
            DataFusionError::ResourcesExhausted(detail) => Some(QueryError::Query(format!(
                "query exceeded its memory limit of {} ({MEMORY_VAR}): {}",
                human_bytes(self.memory as u64),
                detail.trim()
            ))),
            _ => None,
        }
    }

    /// The error of a query stopped by the time limit.
    pub(crate) fn timed_out(&self) -> QueryError {
        QueryError::Query(format!(
            "query stopped after {} s, its time limit ({TIMEOUT_VAR}): narrow its time range or filters, or raise the limit",
            self.timeout.as_secs_f64()
        ))
    }
}

/// Bytes as a person reads them (`512.0 MiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// The machine's memory in bytes, from `/proc/meminfo`.
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.trim_start_matches("MemTotal:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

fn share_of_memory(percent: f64) -> usize {
    let total = machine_memory().unwrap_or(ASSUMED_MEMORY) as f64;
    (total * percent / 100.0) as usize
}

/// A memory limit: bytes with an optional unit (`K`, `M`, `G`, `T`, with or without `iB`/`B`,
/// all powers of 1024), or a percentage of the machine's memory.
pub fn parse_memory(text: &str) -> Result<usize, QueryError> {
    let bad = || {
        QueryError::Setting(format!(
            "{MEMORY_VAR}={text:?} is not a memory size: write bytes with an optional unit (512MiB, 4GiB, 2G) \
             or a share of the machine's memory (25%)"
        ))
    };
    let trimmed = text.trim();
    if let Some(percent) = trimmed.strip_suffix('%') {
        let percent: f64 = percent.trim().parse().map_err(|_| bad())?;
        if !(percent > 0.0 && percent <= 100.0) {
            return Err(bad());
        }
        return Ok(share_of_memory(percent));
    }
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    let bytes = number * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < usize::MAX as f64) {
        return Err(bad());
    }
    Ok(bytes as usize)
}

/// A time limit in seconds (fractions allowed).
pub fn parse_timeout(text: &str) -> Result<Duration, QueryError> {
    let seconds: f64 = text.trim().trim_end_matches('s').trim().parse().map_err(|_| ())
        .and_then(|s: f64| if s > 0.0 && s.is_finite() { Ok(s) } else { Err(()) })
        .map_err(|_| {
            QueryError::Setting(format!(
                "{TIMEOUT_VAR}={text:?} is not a time limit: write a number of seconds greater than 0 (300, 2.5)"
            ))
        })?;
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024_and_bad_ones_say_what_to_write() {
        assert_eq!(parse_memory("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_memory(" 2G ").unwrap(), 2 << 30);
        assert_eq!(parse_memory("1.5 kb").unwrap(), 1536);
        assert_eq!(parse_memory("1048576").unwrap(), 1 << 20);
        assert!(parse_memory("25%").unwrap() > 0);
        assert_eq!(
            parse_memory("lots").unwrap_err().to_string(),
            "COSTPILOT_QUERY_MEMORY=\"lots\" is not a memory size: write bytes with an optional unit \
             (512MiB, 4GiB, 2G) or a share of the machine's memory (25%)"
        );
        assert!(parse_memory("0").is_err());
        assert!(parse_memory("150%").is_err());
        assert!(parse_memory("3PB").is_err());
    }

    #[test]
    fn timeouts_parse_as_seconds() {
        assert_eq!(parse_timeout("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_timeout("2.5s").unwrap(), Duration::from_millis(2500));
        assert_eq!(
            parse_timeout("-1").unwrap_err().to_string(),
            "COSTPILOT_QUERY_TIMEOUT=\"-1\" is not a time limit: write a number of seconds greater than 0 (300, 2.5)"
        );
    }

    #[test]
    fn bytes_read_as_binary_units() {
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(1 << 20), "1.0 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }
}
