//! A reader for the Prometheus text exposition format (version 0.0.4): the sample lines
//! `name{label="value",...} value [timestamp]`; comments and `# HELP`/`# TYPE` lines are skipped.
//!
//! Written here rather than taken from a crate because the parsers on crates.io turn every value
//! into an `f64`; wire bytes must come back as the exact integers the server counted, so a value
//! written as a plain integer is kept as a `u64`.

/// A sample value: exact when written as an integer, floating-point otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// Written as a plain decimal integer that fits a `u64`.
    Int(u64),
    /// Anything else (`1.5`, `1e3`, `+Inf`, `NaN`).
    Float(f64),
}

impl Value {
    /// The value as an exact integer, when it is one (a float only when integral and ≤ 2^53,
    /// where `f64` is still exact).
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Value::Int(n) => Some(n),
            Value::Float(f) if (0.0..=9_007_199_254_740_992.0).contains(&f) && f.fract() == 0.0 => {
                Some(f as u64)
            }
            Value::Float(_) => None,
        }
    }

    /// The value as an exact signed integer (a gauge may be written negative, as a float).
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Value::Int(n) => i64::try_from(n).ok(),
            Value::Float(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
                Some(f as i64)
            }
            Value::Float(_) => None,
        }
    }

    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(n) => n as f64,
            Value::Float(f) => f,
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name, suffixes included (`..._total`).
    pub name: String,
    /// Label pairs in the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: Value,
}

impl Sample {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Why exposition text could not be read as a server snapshot.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// A line that is not a valid sample.
    #[error("metrics line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A figure the snapshot needs is not in the text.
    #[error("metrics lack {0}")]
    Missing(String),
    /// Anything else (a non-integer byte count...).
    #[error("{0}")]
    Invalid(String),
}

impl ParseError {
    pub(crate) fn missing(name: &str, labels: &[(&str, &str)]) -> ParseError {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        ParseError::Missing(format!("{name}{{{}}}", labels.join(",")))
    }

    pub(crate) fn not_integer(s: &Sample) -> ParseError {
        ParseError::Invalid(format!("{} {:?} is not an exact integer", s.name, s.value))
    }
}

/// Parses every sample line of `text`.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample = parse_line(line).map_err(|message| ParseError::Line {
            line: i + 1,
            message,
        })?;
        out.push(sample);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("no metric name in `{line}`"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| format!("no value in `{line}`"))?;
    let value = parse_value(value)?;
    // An optional timestamp may follow; nothing else may.
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp `{ts}`"))?;
    }
    if fields.next().is_some() {
        return Err(format!("trailing text in `{line}`"));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `key="value",...}` and returns what follows the closing brace.
fn parse_labels<'a>(mut s: &'a str, out: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let eq = s.find('=').ok_or("label without `=`")?;
        let key = s[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad label name `{key}`"));
        }
        let quoted = s[eq + 1..].trim_start();
        let body = quoted.strip_prefix('"').ok_or("label value without `\"`")?;
        let (value, rest) = unescape_until_quote(body)?;
        out.push((key.to_owned(), value));
        s = rest.trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// Reads an escaped label value up to its closing quote; returns it and the text after.
fn unescape_until_quote(s: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                other => return Err(format!("bad escape `\\{:?}`", other.map(|(_, c)| c))),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value".into())
}

fn parse_value(s: &str) -> Result<Value, String> {
    if s.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = s.parse::<u64>()
    {
        return Ok(Value::Int(n));
    }
    let f = match s {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => s.parse().map_err(|_| format!("bad value `{s}`"))?,
    };
    Ok(Value::Float(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_labels_values_and_timestamps() {
        let text = "# HELP x_total help\n# TYPE x_total counter\n\
                    x_total 18446744073709551615\n\
                    y{a=\"1\",b=\"q\\\"\\\\\\n\",} 1.5 1700000000000\n\
                    z +Inf\n";
        let s = parse(text).unwrap();
        assert_eq!(s[0].value, Value::Int(u64::MAX));
        assert_eq!(s[1].label("b"), Some("q\"\\\n"));
        assert_eq!(s[1].value, Value::Float(1.5));
        assert_eq!(s[2].value.as_f64(), f64::INFINITY);
        assert_eq!(Value::Float(3.0).as_u64(), Some(3));
        assert_eq!(Value::Float(3.5).as_u64(), None);
    }

    #[test]
    fn rejects_broken_lines_with_their_number() {
        for bad in [
            "x",
            "x{a=1} 2",
            "x{a=\"1} 2",
            "{a=\"1\"} 2",
            "x 1 2 3",
            "x one",
        ] {
            let err = parse(&format!("# ok\n{bad}\n")).unwrap_err();
            assert!(
                matches!(err, ParseError::Line { line: 2, .. }),
                "{bad}: {err}"
            );
        }
    }
}
