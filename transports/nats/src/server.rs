//! The managed nats-server: a fresh loopback port, JetStream on with its store in the program's
//! temporary folder (streams themselves are created with memory storage by the clients), ready
//! when its port accepts, stopped with SIGTERM then SIGKILL. One server serves all three
//! transports; only which subjects and consumers the clients use differs.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerHandle, TransportError};
use transport_program::{ManagedProgram, ProgramError, ProgramSpec, Ready};

use crate::config::ServerOptions;

/// The Debian package that provides nats-server, named when it is missing.
pub const PACKAGES: &[&str] = &["nats-server"];
/// How long nats-server may take to stop after SIGTERM (it drains JetStream first).
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Largest message nats-server accepts (its default is 1 MiB; the harness may send more).
const MAX_PAYLOAD: &str = "8MB";

/// The program description for nats-server on `port`.
pub fn spec(options: &impl ServerOptions, port: u16) -> ProgramSpec {
    let conf = format!("max_payload: {MAX_PAYLOAD}\n");
    ProgramSpec {
        program: options.program().to_owned(),
        args: [
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "{dir}/nats.conf",
            "-js",
            "-sd",
            "{dir}/js",
        ]
        .map(String::from)
        .to_vec(),
        files: vec![("nats.conf".into(), conf)],
        dirs: vec!["js".into()],
        ready: Ready::Tcp(SocketAddr::from(([127, 0, 0, 1], port))),
        startup_timeout: options.startup_timeout(),
        ..ProgramSpec::new("nats-server", PACKAGES)
    }
}

/// A running nats-server owned by this process.
#[derive(Debug)]
pub struct NatsServer {
    program: ManagedProgram,
    addr: SocketAddr,
}

/// Maps a program error: a missing program is `MissingProgram` (the runner's bad input), the
/// rest an IO failure at `stage`.
fn program_error(stage: &'static str, e: ProgramError) -> TransportError {
    match e {
        ProgramError::Missing { .. } => TransportError::MissingProgram {
            stage,
            program: "nats-server",
            detail: e.to_string(),
        },
        e => TransportError::Io {
            stage,
            source: std::io::Error::other(e.to_string()),
        },
    }
}

/// Checks that nats-server is installed (`MissingProgram` naming the package otherwise).
pub fn check(options: &impl ServerOptions) -> Result<(), TransportError> {
    spec(options, 0)
        .check()
        .map_err(|e| program_error("check nats-server", e))
}

/// Starts nats-server on `listener`'s port (closed first: nats-server binds it itself).
pub async fn start(
    options: &impl ServerOptions,
    listener: TcpListener,
) -> Result<NatsServer, TransportError> {
    let addr = listener.local_addr().map_err(TransportError::io("bind"))?;
    drop(listener);
    let program = ManagedProgram::start(&spec(options, addr.port()))
        .await
        .map_err(|e| program_error("start nats-server", e))?;
    Ok(NatsServer { program, addr })
}

impl NatsServer {
    /// nats-server's folder (config, JetStream store).
    pub fn dir(&self) -> &std::path::Path {
        self.program.dir()
    }
}

impl ServerHandle for NatsServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        let stopped = self
            .program
            .shutdown(STOP_GRACE)
            .await
            .map_err(|e| program_error("stop nats-server", e))?;
        if stopped.forced {
            return Err(TransportError::Timeout {
                stage: "stop nats-server",
                after_ms: STOP_GRACE.as_millis() as u64,
            });
        }
        Ok(())
    }

    fn program_pids(&self) -> Option<Vec<u32>> {
        Some(self.program.pids())
    }
}
