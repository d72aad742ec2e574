//! The client halves: a hyper HTTP/1.1 connection that measures header bytes or an HTTP/2
//! connection several subscribers share ([`h2`]), the header profiles, retry backoff, and the
//! publisher and subscriber built on them. [`http`] is public: the Nchan transports speak HTTP
//! through the same measured connection, and SSE opens its HTTP/2 streams with [`h2`].

pub mod h2;
mod headers;
pub mod http;
pub mod publisher;
pub mod subscriber;
