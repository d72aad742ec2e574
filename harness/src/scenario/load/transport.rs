//! Checks one `[transport.<name>]` table with that transport's own config type, generically, so
//! no concrete transport is named outside the registry.

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};
use transport_core::Transport;

use super::located::Located;
use crate::registry::{TransportKind, Visit};

/// The key of a `[transport.<name>]` table that names a server someone else runs. It is the
/// harness's, not the transport's: it is taken out before the table reaches the transport.
pub(super) const ADDRESS: &str = "address";

/// Takes `address` out of a `[transport.<name>]` table, checked to be `"host:port"`.
pub(super) fn take_address(
    kind: TransportKind,
    value: &mut Spanned<DeValue<'_>>,
) -> Result<Option<String>, Located> {
    let DeValue::Table(table) = value.get_mut() else {
        return Ok(None);
    };
    let Some(key) = table.keys().find(|k| k.get_ref() == ADDRESS).cloned() else {
        return Ok(None);
    };
    let Some(address) = table.remove(&key) else {
        return Ok(None);
    };
    let here = |m: String| Located::at(address.span(), format!("[transport.{kind}]: {m}"));
    if kind == TransportKind::PullLog {
        return Err(here(
            "the pull log names its broker with `bootstrap = \"host:port\"`, not `address`".into(),
        ));
    }
    let DeValue::String(text) = address.get_ref() else {
        return Err(here("address must be a string \"host:port\"".into()));
    };
    crate::scenario::model::check_host_port(text).map_err(here)?;
    Ok(Some(text.to_string()))
}

/// The key of a `[transport.<name>]` table whose list value the harness sweeps
/// (`http = ["1.1", "2"]`): the runs get one value each.
pub(super) const HTTP: &str = "http";

/// Takes a list-valued `http` out of a `[transport.<name>]` table, each value checked by the
/// transport's own config type (so `"3"` is refused at that value, naming the allowed ones).
/// `None` when the table has no `http` or a single value, which stays for the transport.
pub(super) fn take_http_sweep(
    kind: TransportKind,
    value: &mut Spanned<DeValue<'_>>,
) -> Result<Option<Vec<String>>, Located> {
    let DeValue::Table(table) = value.get_mut() else {
        return Ok(None);
    };
    let Some(key) = table.keys().find(|k| k.get_ref() == HTTP).cloned() else {
        return Ok(None);
    };
    if !matches!(
        table.get(&key).map(Spanned::get_ref),
        Some(DeValue::Array(_))
    ) {
        return Ok(None);
    }
    let Some(list) = table.remove(&key) else {
        return Ok(None);
    };
    let span = list.span();
    let here = |span, m: &str| Located::at(span, format!("[transport.{kind}]: http: {m}"));
    let DeValue::Array(items) = list.into_inner() else {
        return Ok(None);
    };
    if items.is_empty() {
        return Err(here(
            span,
            "an empty list sweeps nothing; allowed values: \"1.1\", \"2\"",
        ));
    }
    let mut versions = Vec::new();
    for item in items {
        let mut one = value.clone();
        if let DeValue::Table(t) = one.get_mut() {
            t.insert(key.clone(), item.clone());
        }
        kind.visit(CheckConfig { value: one })?;
        let DeValue::String(text) = item.get_ref() else {
            return Err(here(item.span(), "expected \"1.1\" or \"2\""));
        };
        let text: &str = text;
        if versions.iter().any(|v: &String| v.as_str() == text) {
            return Err(here(item.span(), "each version once"));
        }
        versions.push(text.to_owned());
    }
    Ok(Some(versions))
}

/// Deserializes the table as `T::Config` (unknown keys rejected by the type) and runs
/// `T::validate`. The value keeps its spans, so errors point at the offending key or value.
pub(super) struct CheckConfig<'i> {
    /// The table's value as parsed from the document.
    pub value: Spanned<DeValue<'i>>,
}

impl Visit for CheckConfig<'_> {
    type Output = Result<(), Located>;

    fn visit<T: Transport>(self) -> Self::Output {
        let table_span = self.value.span();
        let keys: Vec<_> = match self.value.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .map(|(k, v)| (k.get_ref().to_string(), v.span()))
                .collect(),
            _ => Vec::new(),
        };
        let config = T::Config::deserialize(ValueDeserializer::from(self.value)).map_err(|e| {
            let mut located = Located::from_toml(e);
            located.message = format!("[transport.{}]: {}", T::NAME, located.message);
            located
        })?;
        T::validate(&config).map_err(|message| {
            // Point at the option the message names, if the table sets it.
            let span = keys
                .iter()
                .filter(|(key, _)| names_word(&message, key))
                .max_by_key(|(key, _)| key.len())
                .map_or(table_span, |(_, span)| span.clone());
            Located::at(span, format!("[transport.{}]: {message}", T::NAME))
        })
    }
}

/// Whether the table deserializes as `T::Config` at all (no `validate`): how a sweep tells a
/// list the knob takes as its own value from a list of values to sweep.
pub(super) struct Parses<'i> {
    /// The table's value as parsed from the document.
    pub value: Spanned<DeValue<'i>>,
}

impl Visit for Parses<'_> {
    type Output = bool;

    fn visit<T: Transport>(self) -> bool {
        T::Config::deserialize(ValueDeserializer::from(self.value)).is_ok()
    }
}

/// Whether `word` occurs in `text` as a whole word (option names contain `_` and `-`).
fn names_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(names_word("queue_capacity must be > 0", "queue_capacity"));
        assert!(names_word("`hold` must be > 0", "hold"));
        assert!(!names_word("queue_capacity must be > 0", "queue"));
        assert!(!names_word("threshold too low", "hold"));
    }
}
