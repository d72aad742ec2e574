//! Why a run failed, as data: each failure has a kind and a message, and the summary counts
//! the kinds (`failures_by_kind`) so that tools can tell a lost message from a harness problem
//! without parsing sentences.
//!
//! `failures` stays an array of strings in `summary.json` (the schema's contract); the kinds
//! travel beside it as counts. The list is kept grouped by kind in [`FailureKind`]'s order, so
//! the counts are enough to give every message read back its kind again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What failed. Declaration order is the order failures are listed in: what the harness and
/// the transport reported during the run, then what the audit found after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The server or the clients could not be started, so nothing was measured.
    Setup,
    /// A publisher's error, panic or deadline.
    Publisher,
    /// A subscriber's error, panic or deadline.
    Subscriber,
    /// A fault could not be fired.
    Fault,
    /// Closing the clients failed or timed out.
    Close,
    /// The server's figures could not be read, or it did not shut down cleanly.
    Server,
    /// The run's histogram files could not be written.
    Files,
    /// Messages a subscriber should have received and never did.
    Lost,
    /// Messages that reached a subscriber of another topic.
    Misrouted,
    /// Messages that arrived damaged.
    Corrupt,
    /// Latency samples beyond the histogram's range.
    HistogramOverflow,
    /// Read from a summary written before kinds were recorded.
    Unclassified,
}

/// One failure: its kind and the sentence that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What failed.
    pub kind: FailureKind,
    /// What happened, for people.
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// A run's failures, grouped by kind (see the module's note). Serialised as `failures` (the
/// messages) and `failures_by_kind` (absent when there are none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "FailuresRepr", into = "FailuresRepr")]
pub struct Failures(Vec<Failure>);

impl Failures {
    /// Adds a failure after the others of its kind.
    pub fn push(&mut self, failure: Failure) {
        let at = self.0.partition_point(|f| f.kind <= failure.kind);
        self.0.insert(at, failure);
    }

    /// Adds a failure of `kind`.
    pub fn add(&mut self, kind: FailureKind, message: impl Into<String>) {
        self.push(Failure::new(kind, message));
    }

    /// Whether nothing failed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many failures there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every failure, grouped by kind.
    pub fn iter(&self) -> impl Iterator<Item = &Failure> {
        self.0.iter()
    }

    /// The first failure's message, the one a one-line report shows.
    pub fn first_message(&self) -> Option<&str> {
        self.0.first().map(|f| f.message.as_str())
    }

    /// The messages joined with `sep`, for one-line reports.
    pub fn joined(&self, sep: &str) -> String {
        let messages: Vec<&str> = self.0.iter().map(|f| f.message.as_str()).collect();
        messages.join(sep)
    }

    /// How many failures of each kind.
    pub fn by_kind(&self) -> BTreeMap<FailureKind, u64> {
        let mut counts = BTreeMap::new();
        for f in &self.0 {
            *counts.entry(f.kind).or_insert(0) += 1;
        }
        counts
    }

    /// The same failures with every message rewritten by `f` (kinds kept).
    pub fn map_messages(&self, f: impl Fn(&str) -> String) -> Failures {
        Failures(
            self.0
                .iter()
                .map(|x| Failure::new(x.kind, f(&x.message)))
                .collect(),
        )
    }
}

impl IntoIterator for Failures {
    type Item = Failure;
    type IntoIter = std::vec::IntoIter<Failure>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Extend<Failure> for Failures {
    fn extend<I: IntoIterator<Item = Failure>>(&mut self, iter: I) {
        for f in iter {
            self.push(f);
        }
    }
}

impl FromIterator<Failure> for Failures {
    fn from_iter<I: IntoIterator<Item = Failure>>(iter: I) -> Failures {
        let mut out = Failures::default();
        out.extend(iter);
        out
    }
}

/// The shape in `summary.json`.
#[derive(Serialize, Deserialize)]
struct FailuresRepr {
    /// Reasons the run failed (lost messages, harness problems).
    failures: Vec<String>,
    /// How many of `failures` are of each kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    failures_by_kind: BTreeMap<FailureKind, u64>,
}

impl From<Failures> for FailuresRepr {
    fn from(f: Failures) -> FailuresRepr {
        FailuresRepr {
            failures_by_kind: f.by_kind(),
            failures: f.0.into_iter().map(|f| f.message).collect(),
        }
    }
}

impl From<FailuresRepr> for Failures {
    /// Kinds are handed out in order from the counts; counts that do not cover the list (a
    /// summary from before kinds, or edited by hand) leave every message unclassified.
    fn from(r: FailuresRepr) -> Failures {
        let kinds: Vec<FailureKind> = r
            .failures_by_kind
            .iter()
            .flat_map(|(&k, &n)| std::iter::repeat_n(k, n as usize))
            .collect();
        let kinds = if kinds.len() == r.failures.len() {
            kinds
        } else {
            vec![FailureKind::Unclassified; r.failures.len()]
        };
        Failures(
            kinds
                .into_iter()
                .zip(r.failures)
                .map(|(kind, message)| Failure { kind, message })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_survive_the_round_trip_through_strings_and_counts() {
        let mut f = Failures::default();
        f.add(FailureKind::Lost, "3 messages lost");
        f.add(FailureKind::Subscriber, "subscriber 0: reset");
        f.add(FailureKind::Publisher, "publisher 0: reset");
        f.add(FailureKind::Subscriber, "subscriber 1: reset");
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(
            json["failures"],
            serde_json::json!([
                "publisher 0: reset",
                "subscriber 0: reset",
                "subscriber 1: reset",
                "3 messages lost"
            ])
        );
        assert_eq!(
            json["failures_by_kind"],
            serde_json::json!({"publisher": 1, "subscriber": 2, "lost": 1})
        );
        let back: Failures = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn no_failures_add_no_key_and_old_summaries_read_as_unclassified() {
        let json = serde_json::to_value(Failures::default()).unwrap();
        assert_eq!(json, serde_json::json!({"failures": []}));
        let old: Failures = serde_json::from_value(serde_json::json!({"failures": ["x"]})).unwrap();
        assert_eq!(
            old.by_kind(),
            BTreeMap::from([(FailureKind::Unclassified, 1)])
        );
    }
}
