//! The managed nats-server: a fresh loopback port, JetStream on with its store in the program's
//! temporary folder (streams themselves are created with memory storage by the clients), ready
//! when its port accepts, stopped with SIGTERM then SIGKILL. One server serves all three
//! transports; only which subjects and consumers the clients use differs.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use transport_core::TransportError;
use transport_program::{ProgramServer, ProgramSpec, Ready, check_installed};

use crate::config::ServerOptions;

/// The Debian package that provides nats-server, named when it is missing.
pub const PACKAGES: &[&str] = &["nats-server"];
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
pub type NatsServer = ProgramServer;

/// Checks that nats-server is installed (`MissingProgram` naming the package otherwise).
pub fn check(options: &impl ServerOptions) -> Result<(), TransportError> {
    check_installed("nats-server", &spec(options, 0))
}

/// Starts nats-server on `listener`'s port (closed first: nats-server binds it itself).
pub async fn start(
    options: &impl ServerOptions,
    listener: TcpListener,
) -> Result<NatsServer, TransportError> {
    ProgramServer::start("nats-server", listener, |port| spec(options, port)).await
}
