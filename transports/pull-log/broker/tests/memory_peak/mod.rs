//! The memory-peak probe of the hostile-input tests, which each run alone in their own binary
//! so the process-wide peak is theirs.

/// This process's peak virtual memory (`VmPeak`, KiB), or `None` off Linux. Virtual, not
/// resident: a `Vec::with_capacity` that is never written still shows up here.
pub fn vm_peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmPeak:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
