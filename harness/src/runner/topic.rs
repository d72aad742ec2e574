//! The topic rule every part of the runner pairs clients by: connecting, the audit, fault
//! accounting and the recorder all ask it, so it sits apart from all of them.

/// The topic client `client` (publisher or subscriber id) uses, of `topics`: publisher `p` and
/// subscriber `s` share a topic when their ids agree modulo the topic count.
pub fn topic_of(client: u32, topics: u32) -> u32 {
    client % topics.max(1)
}

/// Whether publisher `p` and subscriber `s` share a topic (see [`topic_of`]).
pub fn shares_topic(p: u32, s: u32, topics: u32) -> bool {
    topic_of(p, topics) == topic_of(s, topics)
}
