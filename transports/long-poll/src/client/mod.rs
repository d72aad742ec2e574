//! The client halves: a hyper HTTP/1.1 connection that measures header bytes, the header
//! profiles, retry backoff, and the publisher and subscriber built on them.

mod headers;
mod http;
pub mod publisher;
pub mod subscriber;
