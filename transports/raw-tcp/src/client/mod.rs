//! The raw-TCP clients: one connection each, a hello frame and its reply, then messages. After a
//! break they reconnect with backoff and resume from their position (the crate docs say how);
//! the error paths sit outside the hot path. The connection both share is [`conn`]'s; this file
//! only declares and re-exports.

mod conn;
mod publisher;
mod subscriber;
mod unconfirmed;
mod writer;

pub use publisher::RawTcpPublisher;
pub use subscriber::RawTcpSubscriber;
