//! The consumer-group coordinator: the classic JoinGroup / SyncGroup protocol.
//!
//! States per group: `Empty` → `PreparingRebalance` (members (re)join; completes when every
//! known member has rejoined, or at the rebalance deadline, dropping those that did not) →
//! `CompletingRebalance` (the leader, chosen by the coordinator, sends the assignment computed
//! from everyone's metadata in SyncGroup) → `Stable`. A join, a leave or an expired session
//! starts a new rebalance; members learn it from REBALANCE_IN_PROGRESS on their heartbeat and
//! rejoin. Waiting joins and syncs hold a oneshot sender here and are answered in place.
//!
//! The state and its types are in [`model`], the operations (one per group API, and session
//! expiry) in [`ops`]; this file only declares and re-exports, so neither imports it.

mod model;
mod ops;

pub(crate) use model::{Coordinator, JoinArgs, JoinResult, Pending, code};
pub(crate) use ops::expiry_task;
