//! The cost part of a run's result: what connecting took, what staying connected cost per
//! subscriber, and what the run cost the server's and the load generator's processes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a run cost. Flattened into the run's entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cost {
    /// What staying connected cost, per subscriber per minute (meaningful when few messages
    /// flow; always reported).
    #[serde(default)]
    pub idle_cost: IdleCost,
    /// What the run cost the server and the load generator, each in its own process
    /// (unavailable sides carry null figures).
    #[serde(default)]
    pub resources: super::resources::Resources,
    /// Seconds from connecting the first client to the last one being live (null when set-up
    /// did not finish).
    #[serde(default)]
    pub setup_secs: Option<f64>,
}

/// The cost of staying connected, per subscriber per minute of the run (warm-up plus measured
/// window): what re-polls, pings and empty fetches cost when there is little to deliver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleCost {
    /// Client-side steady-state bytes (both directions, handshake excluded) that are not
    /// payload, per subscriber per minute. Publishers' bytes are included; with few messages
    /// they are small.
    pub bytes_per_subscriber_per_min: f64,
    /// Requests made just to stay current, per subscriber per minute: the sum of the `polls`,
    /// `pings` and `fetches` counters (a transport without such counters reports 0).
    pub requests_per_subscriber_per_min: f64,
    /// The counters summed into `requests_per_subscriber_per_min`, with their totals.
    pub requests: BTreeMap<String, u64>,
}
