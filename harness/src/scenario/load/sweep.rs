//! Finds the swept knobs of one `[transport.<name>]` table (lists where a knob takes one value)
//! and checks every combination of their values with the transport's own config type, so a
//! value that is out of range, or two that conflict, is reported at the value in the file.
//!
//! A list the transport's type accepts as the knob's own value is that value, not a sweep (no
//! transport has a list-valued knob today; the rule keeps one settable if it comes). Sweeping
//! such a knob would need a list of lists, which is refused with the reason.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use super::located::Located;
use super::transport::{CheckConfig, Parses};
use crate::registry::TransportKind;
use crate::scenario::options::{OptionSweep, RUN_TAGS, is_run_tag, tag_text};

/// Most combinations of swept values one table may have: each is a run in every cell of the
/// rest of the matrix, and each is checked here.
const MAX_COMBINATIONS: usize = 10_000;

/// A list in a table, before it is known to be a sweep.
#[derive(Clone)]
struct List<'i> {
    path: Vec<String>,
    span: Range<usize>,
    items: Vec<Spanned<DeValue<'i>>>,
}

impl List<'_> {
    fn key(&self) -> String {
        self.path.join(".")
    }
}

/// The swept knobs of `kind`'s table `value` (its `address` already taken out), after every
/// combination of their values passed the transport's checks; with no sweep, the table itself
/// is checked.
pub(super) fn sweeps<'i>(
    kind: TransportKind,
    value: &Spanned<DeValue<'i>>,
) -> Result<Vec<OptionSweep>, Located> {
    let mut lists = Vec::new();
    find_lists(value, &mut Vec::new(), &mut lists);
    let mut swept = Vec::new();
    for (i, list) in lists.iter().enumerate() {
        // With every other list at its first value: does the knob take `item` as its value?
        let takes = |item: Spanned<DeValue<'i>>| {
            let others = lists
                .iter()
                .enumerate()
                .filter(|&(j, l)| j != i && !l.items.is_empty())
                .map(|(_, l)| (&l.path[..], l.items[0].clone()));
            let this = std::iter::once((&list.path[..], item));
            kind.visit(Parses {
                value: substituted(value, others.chain(this)),
            })
        };
        let written = Spanned::new(
            list.span.clone(),
            DeValue::Array(list.items.iter().cloned().collect()),
        );
        if takes(written) {
            continue;
        }
        check_list(kind, list, &takes)?;
        swept.push(list.clone());
    }
    // By path, whatever order the TOML map keeps: the first knob varies slowest.
    swept.sort_by(|a, b| a.path.cmp(&b.path));
    check_combinations(kind, value, &swept)?;
    swept.iter().map(|l| to_sweep(kind, l)).collect()
}

/// Every list in the table, sub-tables included (lists inside lists are items, not knobs).
fn find_lists<'i>(value: &Spanned<DeValue<'i>>, path: &mut Vec<String>, out: &mut Vec<List<'i>>) {
    match value.get_ref() {
        DeValue::Table(table) => {
            for (key, v) in table.iter() {
                path.push(key.get_ref().to_string());
                find_lists(v, path, out);
                path.pop();
            }
        }
        DeValue::Array(items) if !path.is_empty() => out.push(List {
            path: path.clone(),
            span: value.span(),
            items: items.iter().cloned().collect(),
        }),
        _ => {}
    }
}

/// A list that is a sweep: not empty, one value per item, each item naming its runs cleanly
/// and only once, under a tag the matrix does not use already.
fn check_list<'i>(
    kind: TransportKind,
    list: &List<'i>,
    takes: &dyn Fn(Spanned<DeValue<'i>>) -> bool,
) -> Result<(), Located> {
    let key = list.key();
    let here =
        |span: Range<usize>, m: String| Located::at(span, format!("[transport.{kind}]: {m}"));
    if list.items.is_empty() {
        return Err(here(
            list.span.clone(),
            format!(
                "`{key}` is an empty list; a list sweeps `{key}` over its values: give at least one"
            ),
        ));
    }
    if is_run_tag(&key) {
        return Err(here(
            list.span.clone(),
            format!(
                "`{key}` cannot be swept: its runs' tag would collide with the matrix's own \
                 (tags in use: {}, and `<class>_share`)",
                RUN_TAGS.join(", ")
            ),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for item in &list.items {
        let span = item.span();
        let text = match item.get_ref() {
            DeValue::Array(_) if takes(item.clone()) => {
                return Err(here(
                    span,
                    format!(
                        "`{key}` takes a list as its value, so it cannot be swept (this would be a \
                         list of lists); give one list"
                    ),
                ));
            }
            DeValue::Array(_) => {
                return Err(here(
                    span,
                    format!("each item of a swept `{key}` is one value, not a list"),
                ));
            }
            DeValue::Table(_) => {
                return Err(here(
                    span,
                    format!(
                        "a swept `{key}` takes one value per item, not a table; sweep a key of \
                         the sub-table instead (`[transport.{kind}.{key}]`)"
                    ),
                ));
            }
            _ => tag_text(&to_value(kind, item)?),
        };
        if text.is_empty() || text.contains([',', '=']) {
            return Err(here(
                span,
                format!(
                    "a swept value names its runs (`{key}=<value>`): it must be non-empty, without `,` or `=`"
                ),
            ));
        }
        if seen.contains(&text) {
            return Err(here(span, format!("`{key}` lists the same value twice")));
        }
        seen.push(text);
    }
    Ok(())
}

/// Checks the table with every combination of the swept values (the table alone when nothing
/// is swept), so the error points at the value that breaks it.
fn check_combinations(
    kind: TransportKind,
    value: &Spanned<DeValue<'_>>,
    swept: &[List<'_>],
) -> Result<(), Located> {
    let total = swept
        .iter()
        .try_fold(1usize, |n, l| n.checked_mul(l.items.len()))
        .filter(|&n| n <= MAX_COMBINATIONS);
    let Some(total) = total else {
        return Err(Located::at(
            value.span(),
            format!(
                "[transport.{kind}]: its swept knobs give more than {MAX_COMBINATIONS} combinations \
                 of values; sweep fewer values, or split the scenario"
            ),
        ));
    };
    for n in 0..total {
        // Combination `n` in mixed radix: the last list varies fastest.
        let mut rest = n;
        let mut picks = Vec::with_capacity(swept.len());
        for list in swept.iter().rev() {
            picks.push((&list.path[..], list.items[rest % list.items.len()].clone()));
            rest /= list.items.len();
        }
        kind.visit(CheckConfig {
            value: substituted(value, picks.into_iter()),
        })?;
    }
    Ok(())
}

/// `value` with each `(path, item)` put in place of what the path holds.
fn substituted<'a, 'i: 'a>(
    value: &Spanned<DeValue<'i>>,
    picks: impl Iterator<Item = (&'a [String], Spanned<DeValue<'i>>)>,
) -> Spanned<DeValue<'i>> {
    let mut out = value.clone();
    for (path, item) in picks {
        set(&mut out, path, item);
    }
    out
}

fn set<'i>(value: &mut Spanned<DeValue<'i>>, path: &[String], item: Spanned<DeValue<'i>>) {
    let Some((first, rest)) = path.split_first() else {
        *value = item;
        return;
    };
    if let DeValue::Table(table) = value.get_mut()
        && let Some((_, v)) = table.iter_mut().find(|(k, _)| k.get_ref() == first)
    {
        set(v, rest, item);
    }
}

fn to_value(kind: TransportKind, item: &Spanned<DeValue<'_>>) -> Result<toml::Value, Located> {
    toml::Value::deserialize(ValueDeserializer::from(item.clone())).map_err(|e| {
        let mut located = Located::from_toml(e);
        located.message = format!("[transport.{kind}]: {}", located.message);
        located
    })
}

fn to_sweep(kind: TransportKind, list: &List<'_>) -> Result<OptionSweep, Located> {
    Ok(OptionSweep {
        path: list.path.clone(),
        values: list
            .items
            .iter()
            .map(|i| to_value(kind, i))
            .collect::<Result<_, _>>()?,
    })
}
