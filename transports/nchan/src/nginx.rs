//! The managed nginx: the config this crate writes (Nchan publisher and subscriber locations on
//! one loopback port), the [`ProgramSpec`] that starts it, and the [`NchanServer`] handle.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use transport_core::{ServerContext, TransportError};
use transport_program::{ProgramServer, ProgramSpec, Ready, check_installed};

use crate::config::NchanConfig;

/// The Debian packages that provide nginx and the module, named when either is missing.
pub const PACKAGES: &[&str] = &["nginx-light", "libnginx-mod-nchan"];

/// The nginx config for `config` listening on `port`; `{dir}` is the program's folder.
pub fn conf(config: &NchanConfig, port: u16, nodelay: bool) -> String {
    let NchanConfig {
        module,
        worker_processes,
        worker_connections,
        message_buffer_length,
        message_timeout,
        ..
    } = config;
    let nofile = worker_connections * 2 + 64;
    let timeout_s = message_timeout.as_secs();
    let nodelay = if nodelay { "on" } else { "off" };
    format!(
        "load_module {module};
worker_processes {worker_processes};
worker_rlimit_nofile {nofile};
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
  access_log off;
  client_body_temp_path {{dir}}/tmp/body;
  proxy_temp_path {{dir}}/tmp/proxy;
  fastcgi_temp_path {{dir}}/tmp/fastcgi;
  uwsgi_temp_path {{dir}}/tmp/uwsgi;
  scgi_temp_path {{dir}}/tmp/scgi;
  # Keep-alive connections serve a whole run (nginx closes them after 1000 requests by default).
  keepalive_requests 1000000000;
  keepalive_timeout 3600s;
  tcp_nodelay {nodelay};
  client_max_body_size 16m;
  # Bodies stay in memory: as root, workers run as another user and cannot write our folder.
  client_body_buffer_size 16m;
  nchan_shared_memory_size 256M;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location ~ ^/pub/([^/]+)$ {{
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length {message_buffer_length};
      nchan_message_timeout {timeout_s}s;
    }}
    location ~ ^/sub/([^/]+)$ {{
      nchan_subscriber;
      nchan_channel_id $1;
      nchan_subscriber_first_message oldest;
    }}
  }}
}}
"
    )
}

/// The program description for nginx serving `config` on `port`.
pub fn spec(config: &NchanConfig, port: u16, nodelay: bool) -> ProgramSpec {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    ProgramSpec {
        name: "nginx",
        program: config.nginx.clone(),
        required_files: vec![config.module.clone().into()],
        args: [
            "-c",
            "{dir}/nginx.conf",
            "-p",
            "{dir}/",
            "-e",
            "{dir}/error.log",
            "-g",
            "daemon off;",
        ]
        .map(String::from)
        .to_vec(),
        files: vec![("nginx.conf".into(), conf(config, port, nodelay))],
        dirs: vec!["tmp".into()],
        ready: Ready::Http {
            addr,
            path: "/".into(),
        },
        startup_timeout: config.startup_timeout,
        ..ProgramSpec::new("nginx", PACKAGES)
    }
}

/// A running nginx with Nchan, owned by this process.
pub type NchanServer = ProgramServer;

/// What nginx is called in errors.
const LABEL: &str = "nginx with the Nchan module";

/// Checks that nginx and the module are installed (`MissingProgram` naming the packages).
pub fn check(config: &NchanConfig) -> Result<(), TransportError> {
    check_installed(LABEL, &spec(config, 0, true))
}

/// Starts nginx on `listener`'s port (the listener is closed first: nginx binds it itself).
pub async fn start(
    config: &NchanConfig,
    listener: TcpListener,
    ctx: &ServerContext,
) -> Result<NchanServer, TransportError> {
    config.validate().map_err(TransportError::Config)?;
    let nodelay = ctx.socket.nodelay;
    ProgramServer::start(LABEL, listener, |port| spec(config, port, nodelay)).await
}
