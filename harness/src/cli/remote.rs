//! `run --server NAME=HOST:PORT` and `run --server-metrics NAME=URL`: servers someone else runs
//! (on another host, under Kubernetes...), checked against the scenario and turned into the
//! runner's [`Remote`]s. A scenario's `[transport.<name>] address` counts as a `--server`, which
//! overrides it.

use std::collections::BTreeMap;

use super::args::RunArgs;
use crate::exit::BadInput;
use crate::registry::TransportKind;
use crate::results::environment::RemoteServer;
use crate::runner::Remote;
use crate::scenario::Scenario;
use crate::scenario::check_host_port;
use crate::server::scrape::parse_url;

/// Splits `NAME=VALUE` and looks the transport up.
fn named<'a>(flag: &str, arg: &'a str) -> anyhow::Result<(TransportKind, &'a str)> {
    let (name, value) = arg.split_once('=').ok_or_else(|| {
        BadInput::msg(format!(
            "{flag} `{arg}` is not NAME=VALUE, e.g. {flag} websocket={}",
            if flag == "--server" {
                "10.0.0.5:8080"
            } else {
                "http://10.0.0.5:9100/metrics"
            }
        ))
    })?;
    let kind = TransportKind::from_name(name.trim()).ok_or_else(|| {
        BadInput::msg(format!(
            "{flag} `{arg}`: unknown transport `{name}`; allowed: {}",
            TransportKind::names().join(", ")
        ))
    })?;
    Ok((kind, value.trim()))
}

/// The remote servers of this run, by transport: the scenario's addresses, overridden by
/// `--server`, with `--server-metrics` attached. Every value is checked (exit 2 otherwise).
pub fn servers(
    args: &RunArgs,
    scenario: &Scenario,
) -> anyhow::Result<BTreeMap<TransportKind, Remote>> {
    // A scenario may name servers for transports this invocation does not run (`--transport`).
    let mut out: BTreeMap<TransportKind, Remote> = scenario
        .addresses
        .iter()
        .filter(|(k, _)| scenario.transports.contains(k))
        .map(|(&k, a)| {
            let remote = Remote {
                address: a.clone(),
                metrics: None,
            };
            (k, remote)
        })
        .collect();
    let mut given = Vec::new();
    for arg in &args.servers {
        let (kind, address) = named("--server", arg)?;
        check_host_port(address).map_err(|e| BadInput::msg(format!("--server {arg}: {e}")))?;
        if !scenario.transports.contains(&kind) {
            let running: Vec<&str> = scenario.transports.iter().map(|k| k.name()).collect();
            return Err(BadInput::msg(format!(
                "--server {arg}: the run has no {kind} transport (it runs {}); add --transport {kind}",
                running.join(", ")
            )));
        }
        if given.contains(&kind) {
            return Err(BadInput::msg(format!("--server {kind} given twice")));
        }
        given.push(kind);
        let remote = Remote {
            address: address.to_owned(),
            metrics: None,
        };
        out.insert(kind, remote);
    }
    for arg in &args.server_metrics {
        let (kind, url) = named("--server-metrics", arg)?;
        parse_url(url).map_err(|e| BadInput::msg(format!("--server-metrics {arg}: {e}")))?;
        let remote = out.get_mut(&kind).ok_or_else(|| {
            BadInput::msg(format!(
                "--server-metrics {arg}: no remote {kind} server to read; give --server {kind}=HOST:PORT (or `address` in [transport.{kind}])"
            ))
        })?;
        if remote.metrics.replace(url.to_owned()).is_some() {
            return Err(BadInput::msg(format!(
                "--server-metrics {kind} given twice"
            )));
        }
    }
    Ok(out)
}

/// The remote servers as `environment.placement` records them.
pub fn recorded(servers: &BTreeMap<TransportKind, Remote>) -> BTreeMap<String, RemoteServer> {
    servers
        .iter()
        .map(|(k, r)| {
            let server = RemoteServer {
                address: r.address.clone(),
                metrics: r.metrics.clone(),
            };
            (k.name().to_owned(), server)
        })
        .collect()
}
