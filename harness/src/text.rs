//! Human number formats, one home for the whole harness: chart labels, `report.md`, the table
//! printed after a run, `compare`'s report and scenario run names all format durations, counts
//! and sizes here, so the same figure reads the same everywhere. It sits below every module that
//! prints (charts, report, compare, cli, scenario) and imports none of them.

/// How many digits [`nanos_with`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digits {
    /// Three significant digits, trailing zeros dropped (`12.3 µs`, `1.2 s`): prose, chart
    /// labels, reports.
    Significant,
    /// Fixed decimals per unit (none for ns, one for µs, two for ms and s: `12.35 ms`, `2.50 s`):
    /// the terminal table, where figures of the same unit line up digit for digit.
    Fixed,
}

/// A latency in nanoseconds as `850 ns`, `12.3 µs`, `4.56 ms`, `1.2 s` (three significant digits).
pub fn nanos(ns: f64) -> String {
    nanos_with(ns, Digits::Significant)
}

/// A latency in nanoseconds in the largest unit (ns, µs, ms, s) that keeps it at or above one,
/// with `digits` deciding the decimals.
pub fn nanos_with(ns: f64, digits: Digits) -> String {
    let (value, step) = by_thousands(ns);
    let unit = ["ns", "µs", "ms", "s"][step];
    let text = match digits {
        Digits::Significant => sig3(value),
        Digits::Fixed => format!("{value:.*}", [0, 1, 2, 2][step]),
    };
    format!("{text} {unit}")
}

/// A count or rate as `950`, `12.5K`, `1.2M`, `3G` (three significant digits).
pub fn count(n: f64) -> String {
    let (value, step) = by_thousands(n);
    format!("{}{}", sig3(value), ["", "K", "M", "G"][step])
}

/// A byte count as `412 B`, `1.5 KB`, `2.3 MB` (decimal units, as throughput is quoted).
pub fn bytes(n: f64) -> String {
    let (value, step) = by_thousands(n);
    format!("{} {}", sig3(value), ["B", "KB", "MB", "GB"][step])
}

/// Formats a byte count the way scenarios write it (`64B`, `1KiB`, `16KiB`, `1.5MiB`).
///
/// The text is always exact (a size that one decimal of a unit cannot express falls to a smaller
/// unit, down to plain bytes), so distinct sizes always give distinct run names.
pub fn exact_size(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n < size {
            continue;
        }
        if n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
        if n.saturating_mul(10).is_multiple_of(size) {
            return format!("{:.1}{unit}", n as f64 / size as f64);
        }
    }
    format!("{n}B")
}

/// `v` divided by 1000 as often as its magnitude allows, at most three times, and how often.
fn by_thousands(v: f64) -> (f64, usize) {
    let step = [1e3, 1e6, 1e9]
        .iter()
        .take_while(|&&limit| v.abs() >= limit)
        .count();
    (v / 1e3_f64.powi(step as i32), step)
}

/// A quantile as a percentile: 0.5 → `50%`, 0.999 → `99.9%`, 0.9999 → `99.99%`.
pub fn percentile(q: f64) -> String {
    let pct = q * 100.0;
    // Enough decimals to tell the nines apart, none beyond what the value has.
    for decimals in 0..6 {
        let scale = 10f64.powi(decimals);
        if ((pct * scale).round() - pct * scale).abs() < 1e-6 {
            return format!("{pct:.*}%", decimals as usize);
        }
    }
    format!("{pct:.5}%")
}

/// A ratio as `8.1×`, `1.02×`, `120×`.
pub fn ratio(r: f64) -> String {
    format!("{}×", sig3(r))
}

/// Three significant digits without trailing zeros (`12.3`, `4.5`, `120`, `0.042`).
pub fn sig3(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    trimmed(v, (2 - magnitude).max(0) as usize)
}

/// At most three decimals, trailing zeros dropped (15.0 → `15`, 0.5 → `0.5`, 0.12345 →
/// `0.123`): thresholds and exported figures, where the value is not scaled to a unit.
pub fn trim_float(v: f64) -> String {
    trimmed(v, 3)
}

/// `v` with `decimals` decimals, then without trailing zeros (and never `-0`).
fn trimmed(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    if text == "-0" { "0" } else { text }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(nanos(850.0), "850 ns");
        assert_eq!(nanos(12_345.0), "12.3 µs");
        assert_eq!(nanos(4_560_000.0), "4.56 ms");
        assert_eq!(nanos(1_200_000_000.0), "1.2 s");
        assert_eq!(count(950.0), "950");
        assert_eq!(count(12_500.0), "12.5K");
        assert_eq!(count(1_000_000.0), "1M");
        assert_eq!(bytes(412.0), "412 B");
        assert_eq!(bytes(1_500_000.0), "1.5 MB");
        assert_eq!(percentile(0.5), "50%");
        assert_eq!(percentile(0.999), "99.9%");
        assert_eq!(percentile(0.9999), "99.99%");
        assert_eq!(ratio(8.123), "8.12×");
        assert_eq!(sig3(0.04217), "0.0422");
        assert_eq!(trim_float(2.0), "2");
        assert_eq!(trim_float(-0.0001), "0");
    }

    #[test]
    fn exact_sizes_as_scenarios_write_them() {
        assert_eq!(exact_size(64), "64B");
        assert_eq!(exact_size(1024), "1KiB");
        assert_eq!(exact_size(16 * 1024), "16KiB");
        assert_eq!(exact_size(1536 * 1024), "1.5MiB");
        assert_eq!(exact_size(1025), "1025B");
        assert_eq!(exact_size(1024 * 1024 + 1024), "1025KiB");
    }

    #[test]
    fn fixed_digits_for_the_terminal_table() {
        let fixed = |ns: u64| nanos_with(ns as f64, Digits::Fixed);
        assert_eq!(fixed(999), "999 ns");
        assert_eq!(fixed(12_345), "12.3 µs");
        assert_eq!(fixed(12_345_678), "12.35 ms");
        assert_eq!(fixed(2_500_000_000), "2.50 s");
    }
}
