//! The server side of a run when it lives outside the load generator's process: the
//! `serve --metrics` endpoint ([`metrics`]), the `/proc` reader behind its process figures
//! ([`resources`]; the kernel's send queues for its connections come from
//! [`transport_core::sendq`]), the typed [`snapshot`] a scrape yields ([`parse`], [`scrape`]),
//! the owner of a child `serve` process ([`child`], with its libc calls in [`os`]), and the
//! [`probe`] the runner reads any server through.
//!
//! In-process, child and remote servers differ only in who started them; the runner reads
//! child and remote servers through the same endpoint.

pub(crate) mod child;
pub(crate) mod metrics;
pub(crate) mod os;
pub(crate) mod parse;
pub(crate) mod probe;
pub mod resources;
pub mod scrape;
pub(crate) mod snapshot;

pub use child::{ChildError, ChildServer, ChildSpec, Stopped};
pub use metrics::{MetricsServer, MetricsSource};
pub use probe::{ServerDelta, ServerProbe};
pub use resources::ProcessResources;
pub use scrape::{ScrapeError, scrape};
pub use snapshot::ServerSnapshot;
