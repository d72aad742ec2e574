//! `serve`: one transport's server, standalone, so real clients (curl, websocat, kcat) and
//! clients on a second host can use it. Prints the bound address, runs until Ctrl-C or SIGTERM.
//! With `--metrics ADDR` it also serves its figures for Prometheus and for a harness that
//! started it as a child or reaches it on another host (see `crate::server`).

use std::io::Write;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use transport_core::tls::{TlsServer, read_pem};
use transport_core::{ServerContext, ServerHandle, Transport};

use super::args::ServeArgs;
use crate::exit::{BadInput, Exit};
use crate::registry::{TransportKind, Visit};
use crate::server::{MetricsServer, MetricsSource};

/// Parses `key=value` options (values in TOML syntax; bare words are taken as strings).
fn options_table(options: &[String]) -> anyhow::Result<toml::Table> {
    let mut table = toml::Table::new();
    for o in options {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| BadInput::msg(format!("option `{o}` is not key=value")))?;
        let value = match toml::from_str::<toml::Table>(&format!("v = {v}")) {
            Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(v.to_owned())),
            Err(_) => toml::Value::String(v.to_owned()),
        };
        table.insert(k.trim().to_owned(), value);
    }
    Ok(table)
}

struct Serve {
    options: toml::Table,
    bind: String,
    metrics: Option<String>,
    socket: transport_core::SocketOptions,
    tls: Option<TlsServer>,
}

impl Visit for Serve {
    type Output = anyhow::Result<()>;
    fn visit<T: Transport>(self) -> anyhow::Result<()> {
        if !T::server_kinds().contains(&transport_core::ServerKind::Child) {
            return Err(BadInput::msg(format!(
                "{}'s server is a program we did not write (nginx with Nchan, redis-server, \
                 mosquitto), which `run` starts itself; to use one already running, pass its \
                 address to `run --server`",
                T::NAME
            )));
        }
        let config: T::Config = self
            .options
            .try_into()
            .map_err(|e| BadInput::msg(format!("invalid option for {}: {e}", T::NAME)))?;
        T::validate(&config)
            .map_err(|e| BadInput::msg(format!("invalid option for {}: {e}", T::NAME)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let listener = TcpListener::bind(&self.bind)
                .await
                .map_err(|e| BadInput::msg(format!("cannot bind {}: {e}", self.bind)))?;
            // Listen for SIGTERM before announcing anything, so a parent that stops the server
            // right after reading the addresses gets a clean shutdown, not the default kill.
            let mut term = signal(SignalKind::terminate())?;
            let ctx = ServerContext {
                socket: self.socket,
                tls: self.tls,
                ..ServerContext::fresh()
            };
            let source = MetricsSource {
                wire: ctx.wire.clone(),
                counters: ctx.counters.clone(),
                server_port: listener.local_addr().ok().map(|a| a.port()),
            };
            let server = T::serve(&config, listener, ctx)
                .await
                .context("starting server")?;
            // One line per endpoint, in this order: a parent process parses both.
            println!("{} listening on {}", T::NAME, server.local_addr());
            let metrics = match &self.metrics {
                Some(addr) => Some(start_metrics(addr, source).await?),
                None => None,
            };
            let _ = std::io::stdout().flush();
            wait_for_signal(&mut term).await?;
            eprintln!("shutting down");
            // A graceful stop first lets clients take what the server still holds for them.
            server.drain().await;
            server.shutdown().await.context("shutting down")?;
            if let Some(m) = metrics {
                m.shutdown()
                    .await
                    .context("stopping the metrics endpoint")?;
            }
            anyhow::Ok(())
        })
    }
}

async fn start_metrics(addr: &str, source: MetricsSource) -> anyhow::Result<MetricsServer> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| BadInput::msg(format!("cannot bind metrics address {addr}: {e}")))?;
    let metrics = MetricsServer::start(listener, source).context("starting metrics endpoint")?;
    println!("metrics on {}", metrics.url());
    Ok(metrics)
}

async fn wait_for_signal(term: &mut Signal) -> anyhow::Result<()> {
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// TLS from `--tls-cert` and `--tls-key` (clap makes sure both or neither are given); a file
/// that is missing, unreadable, not PEM, or a key that does not match is bad input.
fn tls_server(
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
) -> anyhow::Result<Option<TlsServer>> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let bad =
        |e: transport_core::tls::TlsError| BadInput::msg(format!("--tls-cert/--tls-key: {e}"));
    let cert_pem = read_pem("cert", cert).map_err(bad)?;
    let key_pem = read_pem("key", key).map_err(bad)?;
    Ok(Some(
        TlsServer::new(&cert_pem, cert, &key_pem, key, &[]).map_err(bad)?,
    ))
}

/// `serve --transport NAME`.
pub fn serve(args: ServeArgs) -> anyhow::Result<Exit> {
    let kind = TransportKind::from_name(&args.transport).ok_or_else(|| {
        BadInput::msg(format!(
            "unknown transport `{}`; allowed: {}",
            args.transport,
            TransportKind::names().join(", ")
        ))
    })?;
    kind.visit(Serve {
        options: options_table(&args.options)?,
        bind: args.bind,
        metrics: args.metrics,
        socket: transport_core::SocketOptions {
            nodelay: args.nodelay,
        },
        tls: tls_server(args.tls_cert.as_deref(), args.tls_key.as_deref())?,
    })?;
    Ok(Exit::Ok)
}
