//! A scenario error located at the byte span it is about (turned into line and column by
//! `load`), serde's wording rewritten into the scenario vocabulary, and the value checks every
//! table's validation shares (ranges, lists without repeats). Every other file of `load`
//! builds on this one, so it imports none of them but the raw value types.

use std::ops::Range;

use toml::Spanned;

use super::raw::OneOrMany;

/// An error with the byte span it is about, before the span becomes line and column.
#[derive(Debug)]
pub(super) struct Located {
    pub(super) span: Option<Range<usize>>,
    pub(super) message: String,
}

impl Located {
    pub(super) fn at(span: Range<usize>, message: impl Into<String>) -> Located {
        Located {
            span: Some(span),
            message: message.into(),
        }
    }

    pub(super) fn from_toml(e: toml::de::Error) -> Located {
        Located {
            span: e.span(),
            message: humanize(e.message()),
        }
    }
}

/// Rewrites serde's generic wording into the scenario vocabulary (keys, allowed values).
fn humanize(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let mut names = backticked(rest);
        if names.is_empty() {
            return message.to_owned();
        }
        let key = names.remove(0);
        return if names.is_empty() {
            format!("unknown key `{key}`; this table takes no keys")
        } else {
            format!("unknown key `{key}`; allowed: {}", names.join(", "))
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        // Enum-valued options (kebab-case values such as `keep-alive`).
        let names = backticked(rest);
        if let Some((value, allowed)) = names.split_first() {
            return format!("unknown value `{value}`; allowed: {}", allowed.join(", "));
        }
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing required key {rest}");
    }
    // TOML calls them tables.
    message.replace("expected a map", "expected a table")
}

/// The `backticked` names in `s`, in order.
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

pub(super) fn in_range(
    v: i64,
    span: Range<usize>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<u32, Located> {
    if (min..=max).contains(&v) {
        // The range is within u32 by construction of every caller's bounds.
        u32::try_from(v).map_err(|_| Located::at(span, format!("{key} is too large")))
    } else {
        Err(Located::at(
            span,
            format!("{key} must be between {min} and {max}, got {v}"),
        ))
    }
}

/// Converts each item of a one-or-many value, rejecting empty lists and repeated values (they
/// would produce runs with the same name).
pub(super) fn distinct<T, U: PartialEq>(
    list: &Spanned<OneOrMany<T>>,
    key: &str,
    convert: impl Fn(&T, Range<usize>) -> Result<U, Located>,
) -> Result<Vec<U>, Located> {
    let items = &list.get_ref().0;
    if items.is_empty() {
        return Err(Located::at(
            list.span(),
            format!("{key} must not be an empty list"),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (item, span) in items {
        let span = span.clone().unwrap_or_else(|| list.span());
        let value = convert(item, span.clone())?;
        if out.contains(&value) {
            return Err(Located::at(
                span,
                format!("{key} lists the same value twice"),
            ));
        }
        out.push(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_wording_is_rewritten() {
        assert_eq!(
            humanize("unknown field `durration`, expected one of `name`, `duration`"),
            "unknown key `durration`; allowed: name, duration"
        );
        assert_eq!(
            humanize("unknown field `x`, expected `nodelay`"),
            "unknown key `x`; allowed: nodelay"
        );
        assert_eq!(
            humanize("unknown field `x`, there are no fields"),
            "unknown key `x`; this table takes no keys"
        );
        assert_eq!(
            humanize("missing field `name`"),
            "missing required key `name`"
        );
    }
}
