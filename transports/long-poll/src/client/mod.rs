//! The client halves: a hyper HTTP/1.1 connection that measures header bytes, the header
//! profiles, retry backoff, and the publisher and subscriber built on them. [`http`] is public:
//! the Nchan transports speak HTTP through the same measured connection.

mod headers;
pub mod http;
pub mod publisher;
pub mod subscriber;
