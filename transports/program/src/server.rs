//! A program server as a transport's [`ServerHandle`]: the handle every product transport
//! (nginx + Nchan, nats-server, redis-server, mosquitto) returns from `serve`. The runner
//! reserves a loopback port with a listener; the program binds it itself, so the listener is
//! closed just before the program starts. Stopping is SIGTERM, a bounded wait, then SIGKILL;
//! a stop that needed the kill is reported as a timeout.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerHandle, TransportError};

use crate::{ManagedProgram, ProgramError, ProgramSpec};

/// How long a program may take to stop after SIGTERM before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running program server, owned by this process.
#[derive(Debug)]
pub struct ProgramServer {
    program: ManagedProgram,
    addr: SocketAddr,
    /// What the program is called in errors ("nats-server", "nginx with the Nchan module").
    label: &'static str,
}

impl ProgramServer {
    /// Starts the program `spec_for(port)` describes on `listener`'s port, `label` naming it
    /// in errors.
    pub async fn start(
        label: &'static str,
        listener: TcpListener,
        spec_for: impl FnOnce(u16) -> ProgramSpec,
    ) -> Result<ProgramServer, TransportError> {
        let addr = listener.local_addr().map_err(TransportError::io("bind"))?;
        drop(listener);
        let program = ManagedProgram::start(&spec_for(addr.port()))
            .await
            .map_err(|e| program_error(label, "start", e))?;
        Ok(ProgramServer {
            program,
            addr,
            label,
        })
    }

    /// The program's folder (its config, logs, store).
    pub fn dir(&self) -> &Path {
        self.program.dir()
    }
}

/// Checks that the program `spec` describes is installed: `MissingProgram` naming its
/// packages otherwise (the runner's bad input).
pub fn check_installed(label: &'static str, spec: &ProgramSpec) -> Result<(), TransportError> {
    spec.check().map_err(|e| program_error(label, "check", e))
}

/// Maps a program error: a missing program is `MissingProgram` (the runner's bad input), the
/// rest an IO failure at `stage`.
fn program_error(label: &'static str, stage: &'static str, e: ProgramError) -> TransportError {
    match e {
        ProgramError::Missing { .. } => TransportError::MissingProgram {
            stage,
            program: label,
            detail: e.to_string(),
        },
        e => TransportError::Io {
            stage,
            source: std::io::Error::other(format!("{label}: {e}")),
        },
    }
}

impl ServerHandle for ProgramServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        let label = self.label;
        let stopped = self
            .program
            .shutdown(STOP_GRACE)
            .await
            .map_err(|e| program_error(label, "stop", e))?;
        if stopped.forced {
            return Err(TransportError::Timeout {
                stage: "stop a program server",
                after_ms: STOP_GRACE.as_millis() as u64,
            });
        }
        Ok(())
    }

    fn program_pids(&self) -> Option<Vec<u32>> {
        Some(self.program.pids())
    }
}
