//! The managed nginx: the config this crate writes (Nchan publisher and subscriber locations on
//! one loopback port), the [`ProgramSpec`] that starts it, and the [`NchanServer`] handle.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use transport_core::{ServerContext, ServerHandle, TransportError};
use transport_program::{ManagedProgram, ProgramError, ProgramSpec, Ready};

use crate::config::NchanConfig;

/// The Debian packages that provide nginx and the module, named when either is missing.
pub const PACKAGES: &[&str] = &["nginx-light", "libnginx-mod-nchan"];
/// How long nginx may take to stop after SIGTERM before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

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
#[derive(Debug)]
pub struct NchanServer {
    program: ManagedProgram,
    addr: SocketAddr,
}

/// Maps a program error: a missing program or module is `MissingProgram` (the runner's bad
/// input), the rest an IO failure at `stage`.
fn program_error(stage: &'static str, e: ProgramError) -> TransportError {
    match e {
        ProgramError::Missing { .. } => TransportError::MissingProgram {
            stage,
            program: "nginx with the Nchan module",
            detail: e.to_string(),
        },
        e => TransportError::Io {
            stage,
            source: std::io::Error::other(e.to_string()),
        },
    }
}

/// Checks that nginx and the module are installed (`MissingProgram` naming the packages).
pub fn check(config: &NchanConfig) -> Result<(), TransportError> {
    spec(config, 0, true)
        .check()
        .map_err(|e| program_error("check nginx", e))
}

/// Starts nginx on `listener`'s port (the listener is closed first: nginx binds it itself).
pub async fn start(
    config: &NchanConfig,
    listener: TcpListener,
    ctx: &ServerContext,
) -> Result<NchanServer, TransportError> {
    config.validate().map_err(TransportError::Config)?;
    let addr = listener.local_addr().map_err(TransportError::io("bind"))?;
    drop(listener);
    let spec = spec(config, addr.port(), ctx.socket.nodelay);
    let program = ManagedProgram::start(&spec)
        .await
        .map_err(|e| program_error("start nginx", e))?;
    Ok(NchanServer { program, addr })
}

impl NchanServer {
    /// nginx's folder (config, error log).
    pub fn dir(&self) -> &std::path::Path {
        self.program.dir()
    }
}

impl ServerHandle for NchanServer {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    async fn shutdown(self) -> Result<(), TransportError> {
        let stopped = self
            .program
            .shutdown(STOP_GRACE)
            .await
            .map_err(|e| program_error("stop nginx", e))?;
        if stopped.forced {
            return Err(TransportError::Timeout {
                stage: "stop nginx",
                after_ms: STOP_GRACE.as_millis() as u64,
            });
        }
        Ok(())
    }

    fn program_pids(&self) -> Option<Vec<u32>> {
        Some(self.program.pids())
    }
}
