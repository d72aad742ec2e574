//! The managed redis-server: the [`ProgramSpec`] that starts it on a loopback port with
//! persistence off, and the [`RedisServer`] handle both Redis transports share.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerContext, ServerHandle, TransportError};
use transport_program::{ManagedProgram, ProgramError, ProgramSpec, Ready};

/// The Debian package that provides `redis-server`, named when it is missing.
pub const PACKAGES: &[&str] = &["redis-server"];
/// How long redis-server may take to stop after SIGTERM before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What the managed server needs from a transport's options.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The executable (a bare name is looked up on `PATH`).
    pub program: String,
    /// How long it may take to answer after starting.
    pub startup_timeout: Duration,
}

/// The program description for redis-server on `port`: no RDB snapshots, no append-only
/// file (a benchmark of delivery, not of disks), its working folder the program's own, and
/// the accept backlog as large as the kernel allows here (a thousand subscribers connect at
/// once). Logs go to a file there, so stdout is never a pipe nobody reads.
pub fn spec(options: &ServerOptions, port: u16) -> ProgramSpec {
    let args = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        "{dir}",
        "--logfile",
        "{dir}/redis.log",
        "--tcp-backlog",
        "4096",
    ]
    .map(String::from)
    .to_vec();
    ProgramSpec {
        name: "redis-server",
        program: options.program.clone(),
        args,
        ready: Ready::Tcp(SocketAddr::from(([127, 0, 0, 1], port))),
        startup_timeout: options.startup_timeout,
        ..ProgramSpec::new("redis-server", PACKAGES)
    }
}

/// Maps a program error: a missing program is `MissingProgram` (the runner's bad input), the
/// rest an IO failure at `stage`.
fn program_error(stage: &'static str, e: ProgramError) -> TransportError {
    match e {
        ProgramError::Missing { .. } => TransportError::MissingProgram {
            stage,
            program: "redis-server",
            detail: e.to_string(),
        },
        e => TransportError::Io {
            stage,
            source: std::io::Error::other(e.to_string()),
        },
    }
}

/// Checks that redis-server is installed (`MissingProgram` naming the package).
pub fn check(options: &ServerOptions) -> Result<(), TransportError> {
    spec(options, 0)
        .check()
        .map_err(|e| program_error("check redis-server", e))
}

/// A running redis-server, owned by this process.
#[derive(Debug)]
pub struct RedisServer {
    program: ManagedProgram,
    addr: SocketAddr,
}

/// Starts redis-server on `listener`'s port (the listener is closed first: Redis binds it
/// itself). Redis sets `TCP_NODELAY` on every accepted socket on its own, so the server side
/// matches our clients' setting whatever `ctx` says.
pub async fn start(
    options: &ServerOptions,
    listener: TcpListener,
    _ctx: &ServerContext,
) -> Result<RedisServer, TransportError> {
    let addr = listener.local_addr().map_err(TransportError::io("bind"))?;
    drop(listener);
    let program = ManagedProgram::start(&spec(options, addr.port()))
        .await
        .map_err(|e| program_error("start redis-server", e))?;
    Ok(RedisServer { program, addr })
}

impl RedisServer {
    /// The server's folder (its log).
    pub fn dir(&self) -> &std::path::Path {
        self.program.dir()
    }
}

impl ServerHandle for RedisServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        let stopped = self
            .program
            .shutdown(STOP_GRACE)
            .await
            .map_err(|e| program_error("stop redis-server", e))?;
        if stopped.forced {
            return Err(TransportError::Timeout {
                stage: "stop redis-server",
                after_ms: STOP_GRACE.as_millis() as u64,
            });
        }
        Ok(())
    }

    fn program_pids(&self) -> Option<Vec<u32>> {
        Some(self.program.pids())
    }
}
