//! The broker's error type.

use transport_core::TransportError;

/// Why the broker could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The options are inconsistent.
    #[error("invalid broker option: {0}")]
    Config(String),
    /// A socket or file operation failed.
    #[error("{stage}: {source}")]
    Io {
        /// What the broker was doing.
        stage: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Stored data could not be read back.
    #[error("storage: {0}")]
    Storage(String),
    /// A task did not finish within the shutdown bound.
    #[error("shutdown: tasks still running after {0} ms")]
    ShutdownTimeout(u64),
}

impl BrokerError {
    /// Wraps an IO error with the stage it happened in.
    pub fn io(stage: &'static str) -> impl FnOnce(std::io::Error) -> BrokerError {
        move |source| BrokerError::Io { stage, source }
    }
}

impl From<BrokerError> for TransportError {
    fn from(e: BrokerError) -> Self {
        match e {
            BrokerError::Config(m) => TransportError::Config(m),
            BrokerError::Io { stage, source } => TransportError::Io { stage, source },
            BrokerError::Storage(m) => TransportError::protocol("broker storage", m),
            BrokerError::ShutdownTimeout(ms) => TransportError::Timeout {
                stage: "broker shutdown",
                after_ms: ms,
            },
        }
    }
}
