//! The managed mosquitto: the config this crate writes (one loopback listener, anonymous
//! clients, persistence off, the queue limits), the [`ProgramSpec`] that starts it, and the
//! [`MqttBroker`] handle.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerHandle, TransportError};
use transport_program::{ManagedProgram, ProgramError, ProgramSpec, Ready};

use crate::config::MqttConfig;

/// The Debian package that provides mosquitto, named when it is missing.
pub const PACKAGES: &[&str] = &["mosquitto"];
/// How long mosquitto may take to stop after SIGTERM before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// mosquitto's config for `config` on `port`. Logs go to stderr (errors and warnings only):
/// started as root, mosquitto drops to its own user after reading the config and could not
/// write into our folder.
pub fn conf(config: &MqttConfig, port: u16, nodelay: bool) -> String {
    let MqttConfig {
        max_inflight_messages,
        max_queued_messages,
        ..
    } = config;
    format!(
        "listener {port} 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
set_tcp_nodelay {nodelay}
max_connections -1
max_inflight_messages {max_inflight_messages}
max_queued_messages {max_queued_messages}
"
    )
}

/// The program description for mosquitto serving `config` on `port`.
pub fn spec(config: &MqttConfig, port: u16, nodelay: bool) -> ProgramSpec {
    ProgramSpec {
        name: "mosquitto",
        program: config.mosquitto.clone(),
        args: vec!["-c".into(), "{dir}/mosquitto.conf".into()],
        files: vec![("mosquitto.conf".into(), conf(config, port, nodelay))],
        ready: Ready::Tcp(SocketAddr::from(([127, 0, 0, 1], port))),
        startup_timeout: config.startup_timeout,
        ..ProgramSpec::new("mosquitto", PACKAGES)
    }
}

/// A running mosquitto, owned by this process.
#[derive(Debug)]
pub struct MqttBroker {
    program: ManagedProgram,
    addr: SocketAddr,
}

/// Maps a program error: a missing program is `MissingProgram` (the runner's bad input), the
/// rest an IO failure at `stage`.
fn program_error(stage: &'static str, e: ProgramError) -> TransportError {
    match e {
        ProgramError::Missing { .. } => TransportError::MissingProgram {
            stage,
            program: "mosquitto",
            detail: e.to_string(),
        },
        e => TransportError::Io {
            stage,
            source: std::io::Error::other(e.to_string()),
        },
    }
}

/// Checks that mosquitto is installed (`MissingProgram` naming the package).
pub fn check(config: &MqttConfig) -> Result<(), TransportError> {
    spec(config, 0, true)
        .check()
        .map_err(|e| program_error("check mosquitto", e))
}

/// Starts mosquitto on `listener`'s port (the listener is closed first: mosquitto binds it).
pub async fn start(
    config: &MqttConfig,
    listener: TcpListener,
    nodelay: bool,
) -> Result<MqttBroker, TransportError> {
    config.validate().map_err(TransportError::Config)?;
    let addr = listener.local_addr().map_err(TransportError::io("bind"))?;
    drop(listener);
    let program = ManagedProgram::start(&spec(config, addr.port(), nodelay))
        .await
        .map_err(|e| program_error("start mosquitto", e))?;
    Ok(MqttBroker { program, addr })
}

impl ServerHandle for MqttBroker {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        let stopped = self
            .program
            .shutdown(STOP_GRACE)
            .await
            .map_err(|e| program_error("stop mosquitto", e))?;
        if stopped.forced {
            return Err(TransportError::Timeout {
                stage: "stop mosquitto",
                after_ms: STOP_GRACE.as_millis() as u64,
            });
        }
        Ok(())
    }

    fn program_pids(&self) -> Option<Vec<u32>> {
        Some(self.program.pids())
    }
}
