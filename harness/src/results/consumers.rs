//! `runs[].consumers[]`: a run's audit, latency and lag split by consumer class, the
//! full-speed subscribers first (`behaviour = "full"`), then the scenario's classes in order.
//! Present only for scenarios with `[[consumers]]`.

use serde::{Deserialize, Serialize};

use super::latency::Percentiles;

/// One consumer class's figures in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerResult {
    /// `full` for the subscribers that read at full speed, else the class's behaviour
    /// (`slow`, `paused`, `batch`, `offline`).
    pub behaviour: String,
    /// Share of the run's subscribers in the class (for `full`, the rest).
    pub share: f64,
    /// Subscribers in the class.
    pub subscribers: u32,
    /// Their ids (omitted for `full`: every id not in another class).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriber_ids: Vec<u32>,
    /// Whether the scenario allows this class to lose messages.
    pub allow_loss: bool,
    /// Unique messages its subscribers received.
    pub delivered: u64,
    /// Messages its subscribers should have received and never did (dropped by the
    /// transport's policy, or past its retention).
    pub lost: u64,
    /// Extra copies its subscribers received.
    pub duplicated: u64,
    /// Latency from intended send over the measured window; null when none was recorded.
    pub latency_ns: Option<Percentiles>,
    /// Largest backlog any of its subscribers had: messages handed to the transport for its
    /// topic and not yet received. Null when the class has no subscribers.
    pub max_lag_messages: Option<u64>,
    /// Age of the oldest message any of its subscribers received (from intended send), ns.
    pub max_lag_ns: Option<u64>,
    /// For a class whose lag ends by design (a pause, an absence, or the window's end for a
    /// slow or batch reader): the longest time any of its subscribers took, from that end,
    /// to hold everything published before it. Null for `full`, and when some subscriber
    /// never caught up (see `caught_up`).
    pub catch_up_ns: Option<u64>,
    /// How many of its subscribers caught up (null for `full`).
    pub caught_up: Option<u32>,
}
