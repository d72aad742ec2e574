//! Human number formats shared by chart tick labels and the report: durations from
//! nanoseconds, counts with K/M suffixes, byte sizes, percentiles.

/// A latency in nanoseconds as `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s` (three significant digits).
pub fn nanos(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", sig3(value))
}

/// A count or rate as `950`, `12.5K`, `1.2M`, `3G` (three significant digits).
pub fn count(n: f64) -> String {
    let (value, suffix) = if n.abs() < 1e3 {
        (n, "")
    } else if n.abs() < 1e6 {
        (n / 1e3, "K")
    } else if n.abs() < 1e9 {
        (n / 1e6, "M")
    } else {
        (n / 1e9, "G")
    };
    format!("{}{suffix}", sig3(value))
}

/// A byte count as `412 B`, `1.5 KB`, `2.3 MB` (decimal units, as throughput is quoted).
pub fn bytes(n: f64) -> String {
    let (value, unit) = if n.abs() < 1e3 {
        (n, "B")
    } else if n.abs() < 1e6 {
        (n / 1e3, "KB")
    } else if n.abs() < 1e9 {
        (n / 1e6, "MB")
    } else {
        (n / 1e9, "GB")
    };
    format!("{} {unit}", sig3(value))
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
    let decimals = (2 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
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
    }
}
