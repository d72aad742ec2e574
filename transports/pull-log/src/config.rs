//! `[transport.pull-log]` options: where the broker is, how the producer batches and
//! acknowledges, and how the consumer fetches and commits.
//!
//! Defaults follow the Kafka clients where a benchmark does not need something else: a fetch
//! waits for 1 byte or 500 ms, the producer waits for the leader's acknowledgement, and there is
//! no consumer group, so every subscriber reads every partition (the harness audit expects every
//! subscriber to see every message of its topic). `linger` defaults to 0 ms: a batch leaves as
//! soon as the sender is free, so batching only happens when produce requests are in flight,
//! which keeps latency comparable with the push transports.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How many acknowledgements a produce request waits for (Kafka's `acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Acks {
    /// `acks=0`: the broker sends no response; `flush` only waits until bytes are written.
    None,
    /// `acks=1`: the partition leader has appended the batch.
    Leader,
    /// `acks=-1`: every in-sync replica has it (on a single broker, the same as `leader`).
    All,
}

impl Acks {
    /// The value of the `acks` field in a Produce request.
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// When a consumer in a group commits the offsets it has handed to the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitMode {
    /// Asynchronously, at most every `auto_commit_interval` (Kafka's `enable.auto.commit`).
    Auto,
    /// Synchronously, before each fetch, for everything returned since the last commit (with
    /// `max_records_per_poll`, a fetched batch may take several polls to return).
    AfterBatch,
    /// Never (a restarted member re-reads from the offsets committed when it first joined).
    None,
}

/// Options of `[transport.pull-log]`. Durations are human strings (`"5ms"`, `"1s"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PullLogConfig {
    /// `host:port` of an external Kafka-compatible broker; when set the runner starts no
    /// embedded broker and every client connects there.
    pub bootstrap: Option<String>,
    /// Options of the embedded broker (`[transport.pull-log.broker]`).
    pub broker: transport_pull_log_broker::BrokerConfig,
    /// How long the producer waits for more messages before sending a batch.
    #[serde(with = "transport_core::duration")]
    pub linger: Duration,
    /// A batch is sent as soon as its records reach this many bytes.
    pub batch_max_bytes: usize,
    /// Acknowledgements a produce request waits for: `none`, `leader` or `all`.
    pub acks: Acks,
    /// Produce requests a publisher keeps in flight on its connection (Kafka's
    /// `max.in.flight.requests.per.connection`); beyond that, messages queue into the next batch.
    pub max_in_flight_requests: usize,
    /// Idempotent producer (Kafka's `enable.idempotence`): the publisher gets a producer id
    /// and numbers its records, so a batch resent after a broken connection is not appended
    /// twice. Needs `max_in_flight_requests` ≤ 5 (what a broker remembers per producer). An
    /// external broker without InitProducerId gets non-idempotent batches instead (counted as
    /// `idempotence_fallbacks`). Ignored with `acks = "none"`, where nothing is resent.
    pub idempotent: bool,
    /// A fetch returns once this many bytes are available (or `fetch_max_wait` passes).
    pub fetch_min_bytes: u32,
    /// The longest the broker holds a fetch that has fewer than `fetch_min_bytes`.
    #[serde(with = "transport_core::duration")]
    pub fetch_max_wait: Duration,
    /// Upper bound on the bytes of one fetch response.
    pub fetch_max_bytes: u32,
    /// Upper bound on the bytes one partition contributes to a fetch response.
    pub partition_fetch_max_bytes: u32,
    /// Records one `recv` returns at most; the rest of a fetch is kept for the next `recv`.
    /// Unset: every record of the fetch response.
    pub max_records_per_poll: Option<usize>,
    /// When a group member commits offsets: `auto`, `after-batch` or `none`.
    pub commit: CommitMode,
    /// Commit period for `commit = "auto"`.
    #[serde(with = "transport_core::duration")]
    pub auto_commit_interval: Duration,
    /// Consumer group id. Unset: each subscriber reads every partition on its own.
    pub group: Option<String>,
    /// A group member that sends no heartbeat for this long is removed by the coordinator.
    #[serde(with = "transport_core::duration")]
    pub session_timeout: Duration,
    /// How often a group member heartbeats (and so how quickly it notices a rebalance).
    #[serde(with = "transport_core::duration")]
    pub heartbeat_interval: Duration,
    /// How long the coordinator waits for every member to rejoin during a rebalance.
    #[serde(with = "transport_core::duration")]
    pub rebalance_timeout: Duration,
    /// Bound on every request that is not a parked fetch.
    #[serde(with = "transport_core::duration")]
    pub request_timeout: Duration,
    /// First reconnect window after a broken connection; doubles per failed attempt, and each
    /// delay is uniform in 0..window (full jitter). Retrying stops after `request_timeout`.
    #[serde(with = "transport_core::duration")]
    pub reconnect_base: Duration,
    /// Largest reconnect window.
    #[serde(with = "transport_core::duration")]
    pub reconnect_cap: Duration,
}

impl Default for PullLogConfig {
    fn default() -> Self {
        PullLogConfig {
            bootstrap: None,
            broker: Default::default(),
            linger: Duration::ZERO,
            batch_max_bytes: 16 * 1024,
            acks: Acks::Leader,
            max_in_flight_requests: 5,
            idempotent: true,
            fetch_min_bytes: 1,
            fetch_max_wait: Duration::from_millis(500),
            fetch_max_bytes: 50 * 1024 * 1024,
            partition_fetch_max_bytes: 1024 * 1024,
            max_records_per_poll: None,
            commit: CommitMode::Auto,
            auto_commit_interval: Duration::from_secs(5),
            group: None,
            session_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_millis(500),
            rebalance_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            reconnect_base: transport_core::backoff::DEFAULT_BASE,
            reconnect_cap: transport_core::backoff::DEFAULT_CAP,
        }
    }
}

/// The largest response frame a client accepts: a full fetch plus room for its headers.
pub(crate) fn max_response_bytes(config: &PullLogConfig) -> usize {
    (config.fetch_max_bytes as usize).max(config.partition_fetch_max_bytes as usize) + (1 << 20)
}

/// A fresh reconnect backoff for one recovery. It never gives up by count: the callers bound
/// retrying by `request_timeout`, as Kafka clients do.
pub(crate) fn backoff(
    config: &PullLogConfig,
    ctx: &transport_core::ClientContext,
) -> transport_core::Backoff {
    ctx.backoff(transport_core::BackoffConfig {
        base: config.reconnect_base,
        cap: config.reconnect_cap,
        max_attempts: 0,
    })
}

/// Milliseconds as the i32 Kafka puts on the wire (saturating).
pub(crate) fn wire_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// Checks what serde cannot; the message names the option.
pub(crate) fn validate(c: &PullLogConfig) -> Result<(), String> {
    const MAX_MS: Duration = Duration::from_millis(i32::MAX as u64);
    if let Some(b) = &c.bootstrap {
        match b.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
            _ => return Err(format!("bootstrap must be \"host:port\", got {b:?}")),
        }
    }
    if c.batch_max_bytes == 0 || c.batch_max_bytes > (1 << 30) {
        return Err("batch_max_bytes must be in 1..=1073741824".into());
    }
    if c.max_in_flight_requests == 0 {
        return Err("max_in_flight_requests must be > 0".into());
    }
    if c.idempotent && c.max_in_flight_requests > 5 {
        return Err("idempotent needs max_in_flight_requests <= 5 (set idempotent = false)".into());
    }
    if c.fetch_max_bytes == 0 || c.fetch_max_bytes > (1 << 30) {
        return Err("fetch_max_bytes must be in 1..=1073741824".into());
    }
    if c.partition_fetch_max_bytes == 0 || c.partition_fetch_max_bytes > (1 << 30) {
        return Err("partition_fetch_max_bytes must be in 1..=1073741824".into());
    }
    if c.fetch_min_bytes > i32::MAX as u32 {
        return Err("fetch_min_bytes must fit in an i32".into());
    }
    if c.max_records_per_poll == Some(0) {
        return Err("max_records_per_poll must be > 0 when set".into());
    }
    for (name, d) in [
        ("linger", c.linger),
        ("fetch_max_wait", c.fetch_max_wait),
        ("auto_commit_interval", c.auto_commit_interval),
        ("session_timeout", c.session_timeout),
        ("heartbeat_interval", c.heartbeat_interval),
        ("rebalance_timeout", c.rebalance_timeout),
        ("request_timeout", c.request_timeout),
    ] {
        if d > MAX_MS {
            return Err(format!("{name} must be at most {MAX_MS:?}"));
        }
    }
    if c.request_timeout <= c.fetch_max_wait {
        return Err("request_timeout must be longer than fetch_max_wait".into());
    }
    let reconnect = transport_core::BackoffConfig {
        base: c.reconnect_base,
        cap: c.reconnect_cap,
        max_attempts: 0,
    };
    reconnect.validate("reconnect_")?;
    if c.group.as_deref() == Some("") {
        return Err("group must not be empty when set".into());
    }
    if c.group.is_some() {
        if c.heartbeat_interval.is_zero() || c.heartbeat_interval >= c.session_timeout {
            return Err("heartbeat_interval must be > 0 and shorter than session_timeout".into());
        }
        if c.commit == CommitMode::Auto && c.auto_commit_interval.is_zero() {
            return Err("auto_commit_interval must be > 0 with commit = \"auto\"".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let c = PullLogConfig::default();
        validate(&c).unwrap();
        let text = toml::to_string(&c).unwrap();
        let back: PullLogConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.fetch_max_wait, c.fetch_max_wait);
    }

    #[test]
    fn parses_human_durations_and_kebab_enums() {
        let c: PullLogConfig = toml::from_str(
            "linger = \"5ms\"\nacks = \"all\"\ncommit = \"after-batch\"\ngroup = \"g\"\n",
        )
        .unwrap();
        assert_eq!(c.linger, Duration::from_millis(5));
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.commit, CommitMode::AfterBatch);
        validate(&c).unwrap();
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<PullLogConfig>("lingr = \"5ms\"").is_err());
        assert!(toml::from_str::<PullLogConfig>("acks = 1").is_err());
        assert!(toml::from_str::<PullLogConfig>("linger = \"soon\"").is_err());
        let c = PullLogConfig {
            bootstrap: Some("nohost".into()),
            ..Default::default()
        };
        assert!(validate(&c).unwrap_err().contains("bootstrap"));
    }
}
