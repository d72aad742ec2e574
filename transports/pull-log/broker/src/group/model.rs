//! The coordinator's state: groups, their members and rounds, committed offsets, and the
//! request and answer types of the group APIs. The operations on it are in `ops`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::BrokerConfig;

/// Kafka error codes the coordinator answers with.
pub(crate) mod code {
    pub(crate) const ILLEGAL_GENERATION: i16 = 22;
    pub(crate) const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub(crate) const INVALID_GROUP_ID: i16 = 24;
    pub(crate) const UNKNOWN_MEMBER_ID: i16 = 25;
    pub(crate) const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub(crate) const REBALANCE_IN_PROGRESS: i16 = 27;
    pub(crate) const COORDINATOR_NOT_AVAILABLE: i16 = 15;
}

/// A JoinGroup, as the coordinator needs it.
#[derive(Debug, Clone)]
pub(crate) struct JoinArgs {
    pub(crate) group_id: String,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) session_timeout_ms: i32,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
}

/// A JoinGroup answer. `members` is filled for the leader only.
#[derive(Debug, Clone, Default)]
pub(crate) struct JoinResult {
    pub(crate) error: i16,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    pub(crate) members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub(super) fn error(error: i16, member_id: &str) -> Self {
        JoinResult {
            error,
            generation: -1,
            member_id: member_id.to_owned(),
            ..Default::default()
        }
    }
}

/// A SyncGroup answer: an error code, or this member's assignment.
pub(crate) type SyncResult = Result<(Option<String>, Option<String>, Bytes), i16>;

/// Either answered now, or answered through the receiver when the round completes.
pub(crate) enum Pending<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

#[derive(Debug)]
pub(super) struct Member {
    pub(super) instance_id: Option<String>,
    pub(super) session_timeout: Duration,
    pub(super) rebalance_timeout: Duration,
    pub(super) protocols: Vec<(String, Bytes)>,
    pub(super) last_seen: Instant,
    pub(super) join_waiter: Option<oneshot::Sender<JoinResult>>,
    pub(super) sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

/// A committed offset and its metadata string.
pub(crate) type Committed = (i64, Option<String>);

#[derive(Debug)]
pub(super) struct Group {
    pub(super) state: State,
    pub(super) generation: i32,
    pub(super) protocol_type: Option<String>,
    pub(super) protocol_name: Option<String>,
    pub(super) leader: Option<String>,
    pub(super) members: BTreeMap<String, Member>,
    pub(super) assignments: HashMap<String, Bytes>,
    /// Earliest completion of the current round (initial rebalance delay).
    pub(super) not_before: Instant,
    /// Latest completion: members that have not rejoined by then are dropped.
    pub(super) deadline: Instant,
    pub(super) offsets: BTreeMap<(String, i32), Committed>,
}

impl Group {
    pub(super) fn new(now: Instant) -> Self {
        Group {
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            assignments: HashMap::new(),
            not_before: now,
            deadline: now,
            offsets: BTreeMap::new(),
        }
    }

    /// Starts a new round unless one is under way; waiting syncs learn of it at once.
    pub(super) fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration) {
        if self.state == State::PreparingRebalance {
            return;
        }
        for m in self.members.values_mut() {
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(Err(code::REBALANCE_IN_PROGRESS));
            }
        }
        let longest = self.members.values().map(|m| m.rebalance_timeout).max();
        self.not_before = if self.state == State::Empty {
            now + initial_delay
        } else {
            now
        };
        self.deadline = now + longest.unwrap_or(Duration::ZERO).max(initial_delay);
        self.state = State::PreparingRebalance;
    }

    /// Completes the round if everyone rejoined (after the initial delay) or time is up.
    /// Returns whether a new generation started.
    pub(super) fn maybe_complete(&mut self, now: Instant) -> bool {
        if self.state != State::PreparingRebalance {
            return false;
        }
        let all_joined = self.members.values().all(|m| m.join_waiter.is_some());
        if !(all_joined && now >= self.not_before) && now < self.deadline {
            return false;
        }
        self.members.retain(|_, m| m.join_waiter.is_some());
        self.generation += 1;
        self.assignments.clear();
        if self.members.is_empty() {
            self.state = State::Empty;
            self.leader = None;
            self.protocol_name = None;
            return true;
        }
        self.leader = match self.leader.take() {
            Some(l) if self.members.contains_key(&l) => Some(l),
            _ => self.members.keys().next().cloned(),
        };
        let leader = self.leader.clone().unwrap_or_default();
        self.protocol_name = self.choose_protocol(&leader);
        let proto = self.protocol_name.clone().unwrap_or_default();
        let roster: Vec<(String, Option<String>, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let meta = m.protocols.iter().find(|(n, _)| *n == proto);
                (
                    id.clone(),
                    m.instance_id.clone(),
                    meta.map(|p| p.1.clone()).unwrap_or_default(),
                )
            })
            .collect();
        self.state = State::CompletingRebalance;
        for (id, m) in self.members.iter_mut() {
            m.last_seen = now;
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinResult {
                    error: 0,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    leader: leader.clone(),
                    member_id: id.clone(),
                    members: if *id == leader {
                        roster.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
        true
    }

    /// The leader's most preferred protocol that every member supports.
    pub(super) fn choose_protocol(&self, leader: &str) -> Option<String> {
        let lead = self.members.get(leader)?;
        lead.protocols
            .iter()
            .map(|(n, _)| n)
            .find(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .cloned()
    }

    /// Whether a member offering `protocols` shares at least one with every other member.
    pub(super) fn compatible(&self, member_id: &str, protocols: &[(String, Bytes)]) -> bool {
        protocols.iter().any(|(n, _)| {
            self.members
                .iter()
                .filter(|(id, _)| id.as_str() != member_id)
                .all(|(_, m)| m.protocols.iter().any(|(p, _)| p == n))
        })
    }

    pub(super) fn remove(&mut self, member_id: &str, error: i16) -> bool {
        let Some(mut m) = self.members.remove(member_id) else {
            return false;
        };
        if let Some(tx) = m.join_waiter.take() {
            let _ = tx.send(JoinResult::error(error, member_id));
        }
        if let Some(tx) = m.sync_waiter.take() {
            let _ = tx.send(Err(error));
        }
        true
    }
}

/// All groups of the broker.
#[derive(Debug)]
pub(crate) struct Coordinator {
    pub(super) groups: Mutex<HashMap<String, Group>>,
    pub(super) next_member: std::sync::atomic::AtomicU64,
    pub(super) min_session: Duration,
    pub(super) max_session: Duration,
    pub(super) initial_delay: Duration,
}

pub(super) fn ms(v: i32) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

impl Coordinator {
    /// An empty coordinator with the configured session bounds.
    pub(crate) fn new(config: &BrokerConfig) -> Self {
        Coordinator {
            groups: Mutex::new(HashMap::new()),
            next_member: std::sync::atomic::AtomicU64::new(1),
            min_session: Duration::from_millis(u64::from(config.min_session_timeout_ms)),
            max_session: Duration::from_millis(u64::from(config.max_session_timeout_ms)),
            initial_delay: Duration::from_millis(u64::from(config.initial_rebalance_delay_ms)),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
