//! The coordinator's operations: one method per group API, plus session expiry.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::model::{Committed, Coordinator, Group, JoinArgs, JoinResult, Member, Pending, State};
use super::model::{SyncResult, code, ms};
use crate::state::Shared;

/// How often sessions and rebalance deadlines are checked.
const EXPIRY_TICK: Duration = Duration::from_millis(50);

impl Coordinator {
    /// JoinGroup. Answers at once on an error; otherwise when the round completes.
    /// Returns whether a generation started synchronously (for the rebalance counter).
    pub(crate) fn join(&self, args: JoinArgs, now: Instant) -> (Pending<JoinResult>, bool) {
        let ready = |e| (Pending::Ready(JoinResult::error(e, &args.member_id)), false);
        if args.group_id.is_empty() {
            return ready(code::INVALID_GROUP_ID);
        }
        // As Kafka: a member must name its protocol type and offer at least one protocol, or
        // no round could ever choose one.
        if args.protocol_type.is_empty() || args.protocols.is_empty() {
            return ready(code::INCONSISTENT_GROUP_PROTOCOL);
        }
        let session = ms(args.session_timeout_ms);
        if session < self.min_session || session > self.max_session {
            return ready(code::INVALID_SESSION_TIMEOUT);
        }
        let mut groups = self.lock();
        let group = groups
            .entry(args.group_id.clone())
            .or_insert_with(|| Group::new(now));
        if !group.members.is_empty()
            && (group.protocol_type.as_deref() != Some(&args.protocol_type)
                || !group.compatible(&args.member_id, &args.protocols))
        {
            return ready(code::INCONSISTENT_GROUP_PROTOCOL);
        }
        let member_id = if args.member_id.is_empty() {
            // No MEMBER_ID_REQUIRED round trip (KIP-394 makes it optional): assign and go on.
            format!("member-{}", self.next_member.fetch_add(1, Relaxed))
        } else if group.members.contains_key(&args.member_id) {
            args.member_id.clone()
        } else {
            return ready(code::UNKNOWN_MEMBER_ID);
        };
        let (tx, rx) = oneshot::channel();
        let rebalance = ms(args.rebalance_timeout_ms).max(session);
        let m = group.members.entry(member_id).or_insert_with(|| Member {
            instance_id: None,
            session_timeout: session,
            rebalance_timeout: rebalance,
            protocols: Vec::new(),
            last_seen: now,
            join_waiter: None,
            sync_waiter: None,
        });
        m.instance_id = args.instance_id;
        m.session_timeout = session;
        m.rebalance_timeout = rebalance;
        m.protocols = args.protocols;
        m.last_seen = now;
        // A duplicate join replaces the earlier one, which learns to rejoin.
        if let Some(old) = m.join_waiter.replace(tx) {
            let _ = old.send(JoinResult::error(code::REBALANCE_IN_PROGRESS, ""));
        }
        group.protocol_type = Some(args.protocol_type);
        group.prepare_rebalance(now, self.initial_delay);
        let started = group.maybe_complete(now);
        (Pending::Wait(rx), started)
    }

    /// SyncGroup. The leader's call carries everyone's assignment and completes the round.
    pub(crate) fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Pending<SyncResult> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return Pending::Ready(Err(code::UNKNOWN_MEMBER_ID));
        };
        if !group.members.contains_key(member_id) {
            return Pending::Ready(Err(code::UNKNOWN_MEMBER_ID));
        }
        if generation != group.generation {
            return Pending::Ready(Err(code::ILLEGAL_GENERATION));
        }
        let proto = (group.protocol_type.clone(), group.protocol_name.clone());
        match group.state {
            State::Empty => Pending::Ready(Err(code::UNKNOWN_MEMBER_ID)),
            State::PreparingRebalance => Pending::Ready(Err(code::REBALANCE_IN_PROGRESS)),
            State::Stable => {
                let a = group
                    .assignments
                    .get(member_id)
                    .cloned()
                    .unwrap_or_default();
                Pending::Ready(Ok((proto.0, proto.1, a)))
            }
            State::CompletingRebalance => {
                if group.leader.as_deref() == Some(member_id) {
                    group.assignments = assignments.into_iter().collect();
                    group.state = State::Stable;
                    for (id, m) in group.members.iter_mut() {
                        if let Some(tx) = m.sync_waiter.take() {
                            let a = group.assignments.get(id).cloned().unwrap_or_default();
                            let _ = tx.send(Ok((proto.0.clone(), proto.1.clone(), a)));
                        }
                    }
                    let a = group
                        .assignments
                        .get(member_id)
                        .cloned()
                        .unwrap_or_default();
                    Pending::Ready(Ok((proto.0, proto.1, a)))
                } else {
                    let (tx, rx) = oneshot::channel();
                    if let Some(m) = group.members.get_mut(member_id) {
                        m.sync_waiter = Some(tx);
                    }
                    Pending::Wait(rx)
                }
            }
        }
    }

    /// Heartbeat: keeps the session alive and tells the member when to rejoin.
    pub(crate) fn heartbeat(&self, group_id: &str, member_id: &str, generation: i32) -> i16 {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return code::UNKNOWN_MEMBER_ID;
        };
        let Some(m) = group.members.get_mut(member_id) else {
            return code::UNKNOWN_MEMBER_ID;
        };
        m.last_seen = Instant::now();
        match group.state {
            State::PreparingRebalance => code::REBALANCE_IN_PROGRESS,
            _ if generation != group.generation => code::ILLEGAL_GENERATION,
            _ => 0,
        }
    }

    /// LeaveGroup for each of `member_ids`; returns a code per member and whether a new
    /// generation started (the group emptied).
    pub(crate) fn leave(&self, group_id: &str, member_ids: &[String]) -> (Vec<i16>, bool) {
        let now = Instant::now();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return (vec![code::UNKNOWN_MEMBER_ID; member_ids.len()], false);
        };
        let codes: Vec<i16> = member_ids
            .iter()
            .map(|id| {
                if group.remove(id, code::UNKNOWN_MEMBER_ID) {
                    0
                } else {
                    code::UNKNOWN_MEMBER_ID
                }
            })
            .collect();
        let mut started = false;
        if codes.contains(&0) {
            group.prepare_rebalance(now, self.initial_delay);
            started = group.maybe_complete(now);
        }
        (codes, started)
    }

    /// OffsetCommit: accepted from the current generation's members, or from standalone
    /// consumers (generation -1, no member id) of a group with no members.
    pub(crate) fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        offsets: Vec<((String, i32), Committed)>,
    ) -> i16 {
        let mut groups = self.lock();
        let group = groups
            .entry(group_id.to_owned())
            .or_insert_with(|| Group::new(Instant::now()));
        let standalone = generation < 0 && member_id.is_empty() && group.members.is_empty();
        if !standalone {
            if !group.members.contains_key(member_id) {
                return code::UNKNOWN_MEMBER_ID;
            }
            if generation != group.generation {
                return code::ILLEGAL_GENERATION;
            }
            if group.state == State::CompletingRebalance {
                return code::REBALANCE_IN_PROGRESS;
            }
        }
        group.offsets.extend(offsets);
        0
    }

    /// Committed offsets of `group_id`: for the given partitions, or all when `None`.
    pub(crate) fn committed(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, i32)>>,
    ) -> Vec<((String, i32), Option<Committed>)> {
        let groups = self.lock();
        let offsets = groups.get(group_id).map(|g| &g.offsets);
        match wanted {
            Some(list) => list
                .into_iter()
                .map(|k| {
                    let v = offsets.and_then(|o| o.get(&k).cloned());
                    (k, v)
                })
                .collect(),
            None => offsets
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Drops members whose session expired, and completes rounds whose time is up.
    /// Returns how many generations started.
    pub(crate) fn expire(&self, now: Instant) -> u64 {
        let mut started = 0;
        let mut groups = self.lock();
        for group in groups.values_mut() {
            let expired: Vec<String> = group
                .members
                .iter()
                // Members parked in a join or sync are alive by definition: they wait on us.
                .filter(|(_, m)| {
                    m.join_waiter.is_none()
                        && m.sync_waiter.is_none()
                        && now >= m.last_seen + m.session_timeout
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &expired {
                group.remove(id, code::UNKNOWN_MEMBER_ID);
            }
            if !expired.is_empty() {
                group.prepare_rebalance(now, self.initial_delay);
            }
            if group.maybe_complete(now) {
                started += 1;
            }
        }
        started
    }
}

/// Runs [`Coordinator::expire`] every tick until shutdown.
pub(crate) async fn expiry_task(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let mut tick = tokio::time::interval(EXPIRY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let n = shared.groups.expire(Instant::now());
                shared.counters.rebalances.add(n);
            }
            () = crate::state::stopped(&mut shutdown) => break,
        }
    }
}
