//! The broker's integration tests as one binary: each module below is one concern, and they
//! share `common`'s in-process broker and raw Kafka client. One binary (rather than one per
//! file) links once, and every helper in `common` is used by some module, so none is dead.

mod common;

mod drain;
mod fetch;
mod groups;
mod idempotence;
mod kcat;
mod storage;
mod topic_ids;
mod topics;
mod wire;
