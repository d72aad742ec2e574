//! The managed mosquitto: the config this crate writes (one loopback listener, anonymous
//! clients, persistence off, the queue limits), the [`ProgramSpec`] that starts it, and the
//! [`MqttBroker`] handle.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use transport_core::TransportError;
use transport_program::{ProgramServer, ProgramSpec, Ready, check_installed};

use crate::config::MqttConfig;

/// The Debian package that provides mosquitto, named when it is missing.
pub const PACKAGES: &[&str] = &["mosquitto"];

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
pub type MqttBroker = ProgramServer;

/// Checks that mosquitto is installed (`MissingProgram` naming the package).
pub fn check(config: &MqttConfig) -> Result<(), TransportError> {
    check_installed("mosquitto", &spec(config, 0, true))
}

/// Starts mosquitto on `listener`'s port (the listener is closed first: mosquitto binds it).
pub async fn start(
    config: &MqttConfig,
    listener: TcpListener,
    nodelay: bool,
) -> Result<MqttBroker, TransportError> {
    config.validate().map_err(TransportError::Config)?;
    ProgramServer::start("mosquitto", listener, |port| spec(config, port, nodelay)).await
}
