//! The managed redis-server: the [`ProgramSpec`] that starts it on a loopback port with
//! persistence off, and the [`RedisServer`] handle both Redis transports share.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerContext, TransportError};
use transport_program::{ProgramServer, ProgramSpec, Ready, check_installed};

/// The Debian package that provides `redis-server`, named when it is missing.
pub const PACKAGES: &[&str] = &["redis-server"];

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

/// Checks that redis-server is installed (`MissingProgram` naming the package).
pub fn check(options: &ServerOptions) -> Result<(), TransportError> {
    check_installed("redis-server", &spec(options, 0))
}

/// A running redis-server, owned by this process.
pub type RedisServer = ProgramServer;

/// Starts redis-server on `listener`'s port (the listener is closed first: Redis binds it
/// itself). Redis sets `TCP_NODELAY` on every accepted socket on its own, so the server side
/// matches our clients' setting whatever `ctx` says.
pub async fn start(
    options: &ServerOptions,
    listener: TcpListener,
    _ctx: &ServerContext,
) -> Result<RedisServer, TransportError> {
    ProgramServer::start("redis-server", listener, |port| spec(options, port)).await
}
