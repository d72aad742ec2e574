//! The client halves: a publisher that sends one frame per message on its own connection, and
//! a subscriber that resumes by topic position after any break.

mod link;
mod publisher;
mod subscriber;

pub use publisher::WebSocketPublisher;
pub use subscriber::WebSocketSubscriber;
