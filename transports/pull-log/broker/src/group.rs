//! Consumer group coordinator (placeholder until the state machine lands).

/// Group state for every group.
#[derive(Debug, Default)]
pub(crate) struct Coordinator {}

impl Coordinator {
    /// An empty coordinator.
    pub(crate) fn new(_config: &crate::BrokerConfig) -> Self {
        Coordinator {}
    }
}

/// Expires members whose session timed out (placeholder).
pub(crate) async fn expiry_task(shared: std::sync::Arc<crate::state::Shared>) {
    let mut s = shared.shutdown.clone();
    let _ = s.wait_for(|v| *v).await;
}
