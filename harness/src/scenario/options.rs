//! Transport-option sweeps in the run matrix: a knob of a `[transport.<name>]` table written as
//! a list (`[transport.nats-pull] batch = [1, 10, 100]`) is one more dimension of the matrix, as
//! `subscribers = [..]` is. Each run of that transport gets one value, tagged `<knob>=<value>`
//! (a knob of a sub-table by its dotted path, `broker.partitions_per_topic=4`), so tables,
//! charts and `compare` keep the runs apart; the other transports' runs are untouched.
//!
//! Loading (`load/sweep.rs`) takes the lists out of the table before the transport parses it,
//! so a transport only ever sees one value per knob: `Scenario::options_for` (in the model)
//! puts a run's values back into its table.

use serde::Serialize;

/// Tags the matrix names runs by; a swept knob may not take one of these names (nor end in
/// `_share`, the consumer classes' tags), or two dimensions would share a tag.
pub const RUN_TAGS: &[&str] = &[
    "transport",
    "payload",
    "rate",
    "deliveries",
    "subscribers",
    "tls",
    "http",
    "reconnect",
    "client",
    "rep",
    "repetition",
];

/// One knob of a transport's table swept over a list of values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptionSweep {
    /// The knob's path inside the table: `["batch"]`, or `["broker", "partitions_per_topic"]`.
    pub path: Vec<String>,
    /// Its values, in file order, each as the transport reads it.
    pub values: Vec<toml::Value>,
}

impl OptionSweep {
    /// The tag that names the knob in a run's name: its path joined with `.`.
    pub fn key(&self) -> String {
        self.path.join(".")
    }
}

/// A swept value as a tag writes it: strings without quotes, numbers and booleans as TOML
/// writes them.
pub fn tag_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a tag named `key` would collide with a tag the matrix already uses.
pub fn is_run_tag(key: &str) -> bool {
    RUN_TAGS.contains(&key) || key.ends_with("_share")
}

/// Sets `path` in `table` to `value`, creating sub-tables on the way.
pub(super) fn set(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = table;
    for key in parents {
        let entry = at
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        at = next;
    }
    at.insert(last.clone(), value);
}

/// Removes `path` from `table` (a sub-table left empty stays: the transport reads it as its
/// defaults, as it would read a missing one).
pub(crate) fn remove(table: &mut toml::Table, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = table;
    for key in parents {
        let Some(toml::Value::Table(next)) = at.get_mut(key) else {
            return;
        };
        at = next;
    }
    at.remove(last);
}

/// For the effective scenario: every value `sweep` took in `runs` (one transport's effective
/// options per run, as JSON), as the runs' options show it, in run order.
pub fn swept_values(runs: &[serde_json::Value], sweep: &OptionSweep) -> Vec<serde_json::Value> {
    let mut values: Vec<serde_json::Value> = Vec::new();
    for options in runs {
        let at = sweep.path.iter().try_fold(options, |at, key| at.get(key));
        if let Some(v) = at.filter(|v| !values.contains(v)) {
            values.push(v.clone());
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_remove_follow_the_path() {
        let mut t: toml::Table = toml::from_str("a = 1\n[b]\nc = 2\n").unwrap();
        set(&mut t, &["b".into(), "c".into()], toml::Value::Integer(5));
        set(
            &mut t,
            &["d".into(), "e".into()],
            toml::Value::Boolean(true),
        );
        assert_eq!(t["b"]["c"].as_integer(), Some(5));
        assert_eq!(t["d"]["e"].as_bool(), Some(true));
        remove(&mut t, &["b".into(), "c".into()]);
        remove(&mut t, &["a".into()]);
        assert!(t["b"].as_table().unwrap().is_empty());
        assert!(!t.contains_key("a"));
    }

    #[test]
    fn tags_read_like_the_file_and_reserved_names_are_refused() {
        assert_eq!(tag_text(&toml::Value::String("100ms".into())), "100ms");
        assert_eq!(tag_text(&toml::Value::Integer(10)), "10");
        assert_eq!(tag_text(&toml::Value::Boolean(false)), "false");
        assert!(is_run_tag("rate") && is_run_tag("slow_share"));
        assert!(!is_run_tag("batch"));
    }
}
