//! The one error type every transport returns, with enough context to say where it broke.

use std::io;

/// Why a transport operation failed. Each variant names the stage (connect, subscribe,
/// publish, fetch, ...) so a message reads like "subscribe: connection refused".
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A socket operation failed.
    #[error("{stage}: {source}")]
    Io {
        /// What the transport was doing.
        stage: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The peer sent something that breaks the protocol.
    #[error("{stage}: protocol error: {detail}")]
    Protocol {
        /// What the transport was doing.
        stage: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The server answered with an error status or code.
    #[error("{stage}: server refused: {detail}")]
    Refused {
        /// What the transport was doing.
        stage: &'static str,
        /// The status, code or reason the server gave.
        detail: String,
    },
    /// The peer closed the connection and the transport could not (or may not) recover.
    #[error("{stage}: connection closed by peer")]
    Closed {
        /// What the transport was doing.
        stage: &'static str,
    },
    /// An operation did not finish within its bound.
    #[error("{stage}: timed out after {after_ms} ms")]
    Timeout {
        /// What the transport was doing.
        stage: &'static str,
        /// The bound that ran out.
        after_ms: u64,
    },
    /// The transport's options are inconsistent.
    #[error("invalid option: {0}")]
    Config(String),
    /// A program outside this binary that the transport drives (a browser, a broker) is not
    /// installed: the machine's setup, not the peer's behaviour, is at fault.
    #[error("{stage}: missing program {program}: {detail}")]
    MissingProgram {
        /// What the transport was doing.
        stage: &'static str,
        /// The program's name.
        program: &'static str,
        /// Where it was looked for and how to install it.
        detail: String,
    },
}

impl TransportError {
    /// Wraps an IO error with the stage it happened in.
    pub fn io(stage: &'static str) -> impl FnOnce(io::Error) -> TransportError {
        move |source| TransportError::Io { stage, source }
    }

    /// A protocol violation at `stage`.
    pub fn protocol(stage: &'static str, detail: impl Into<String>) -> TransportError {
        TransportError::Protocol {
            stage,
            detail: detail.into(),
        }
    }
}
