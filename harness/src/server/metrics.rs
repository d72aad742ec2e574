//! The `serve --metrics ADDR` endpoint: `GET /metrics` answers in the Prometheus text exposition
//! format (encoded by the Prometheus org's `prometheus-client`), so the same endpoint feeds the
//! harness (child and remote servers) and any monitoring stack.
//!
//! Every scrape reads the live [`WireStats`], [`Counters`] and gauges of the server, the
//! kernel's send queues for its connections and this process's `/proc` figures. Byte counts are encoded as integers, so they come back exact. The endpoint's
//! own connections do not pass through the counting wrapper: scraping never changes wire bytes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use transport_core::{Counters, GaugeReading, WireStats};

use super::resources::ProcessResources;
use super::snapshot::{ServerSnapshot, WIRE_SERIES, names, wire_value};

/// The figures one server exposes: the stats its [`transport_core::ServerContext`] shares.
#[derive(Debug, Clone)]
pub struct MetricsSource {
    /// The server's wire bytes.
    pub wire: Arc<WireStats>,
    /// The server's counters and gauges.
    pub counters: Arc<Counters>,
    /// The port the server listens on, whose connections' send queues are summed; `None`
    /// leaves that figure unavailable.
    pub server_port: Option<u16>,
}

impl MetricsSource {
    /// The figures now, with this process's resources (`None` if `/proc` cannot be read).
    pub fn snapshot(&self) -> ServerSnapshot {
        ServerSnapshot {
            process: ProcessResources::of_self().ok(),
            ..self.transport_snapshot()
        }
    }

    /// The transport's figures now, without process resources: what an in-process server
    /// reports (its process is the load generator's).
    pub fn transport_snapshot(&self) -> ServerSnapshot {
        ServerSnapshot {
            counters: self.counters.counter_values(),
            gauges: self.counters.gauge_values(),
            send_queue_bytes: self
                .server_port
                .and_then(|p| transport_core::sendq::send_queue_bytes(p).ok()),
            wire: self.wire.snapshot(),
            process: None,
        }
    }
}

/// `Content-Type` of the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Encodes a snapshot in the Prometheus text exposition format.
pub fn encode(snapshot: &ServerSnapshot) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
    let mut text = String::new();
    // Writing into a String cannot fail; an encoder error would be a bug in a metric name.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry) {
        text = format!("# encoding failed: {e}\n");
    }
    text
}

#[derive(Debug)]
struct SnapshotCollector(ServerSnapshot);

/// The registry appends `_total` to counters itself, so descriptors take the bare name.
fn bare(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

fn counter<N>(e: &mut DescriptorEncoder, name: &str, help: &str, v: N) -> std::fmt::Result
where
    ConstCounter<N>: EncodeMetric,
{
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(bare(name), help, None, c.metric_type())?)
}

fn gauge<N>(e: &mut DescriptorEncoder, name: &str, help: &str, v: N) -> std::fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.0;
        counter(
            &mut e,
            names::CONNECTIONS,
            "Connections accepted.",
            s.wire.connections,
        )?;
        let wire = ConstCounter::new(0u64);
        let mut family = e.encode_descriptor(
            bare(names::WIRE),
            "Bytes on server sockets by direction and phase.",
            None,
            wire.metric_type(),
        )?;
        for (direction, phase) in WIRE_SERIES {
            let v = wire_value(&s.wire, direction, phase);
            let labels = [("direction", direction), ("phase", phase)];
            ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
        }
        let events = ConstCounter::new(0u64);
        let mut family = e.encode_descriptor(
            bare(names::EVENTS),
            "The transport's own counters, by name.",
            None,
            events.metric_type(),
        )?;
        for (name, &v) in &s.counters {
            let labels = [("name", name.as_str())];
            ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
        }
        encode_gauges(&mut e, s)?;
        if let Some(p) = &s.process {
            encode_process(&mut e, p)?;
        }
        Ok(())
    }
}

/// One gauge family: its name, its help, and which figure of a reading it carries.
type GaugeFamily = (&'static str, &'static str, fn(&GaugeReading) -> i64);

/// The transport's gauges (level and peak by name) and the kernel's send queue bytes.
fn encode_gauges(e: &mut DescriptorEncoder, s: &ServerSnapshot) -> std::fmt::Result {
    let families: [GaugeFamily; 2] = [
        (names::GAUGE, "The transport's gauges, by name.", |g| {
            g.value
        }),
        (
            names::GAUGE_PEAK,
            "The highest level each gauge reached, by name.",
            |g| g.peak,
        ),
    ];
    if !s.gauges.is_empty() {
        for (metric, help, pick) in families {
            let g = ConstGauge::new(0i64);
            let mut family = e.encode_descriptor(metric, help, None, g.metric_type())?;
            for (name, reading) in &s.gauges {
                let labels = [("name", name.as_str())];
                ConstGauge::new(pick(reading)).encode(family.encode_family(&labels)?)?;
            }
        }
    }
    match s.send_queue_bytes {
        Some(v) => gauge(
            e,
            names::SEND_QUEUE,
            "Bytes in the kernel send queues of the server's connections (SIOCOUTQ, summed).",
            v,
        ),
        None => Ok(()),
    }
}

fn encode_process(e: &mut DescriptorEncoder, p: &ProcessResources) -> std::fmt::Result {
    counter(
        e,
        names::CPU,
        "User and system CPU seconds.",
        p.cpu_total_s(),
    )?;
    counter(e, names::CPU_USER, "User CPU seconds.", p.cpu_user_s)?;
    counter(e, names::CPU_SYSTEM, "System CPU seconds.", p.cpu_system_s)?;
    gauge(e, names::RSS, "Resident memory in bytes.", p.rss_bytes)?;
    gauge(
        e,
        names::RSS_PEAK,
        "Peak resident memory in bytes.",
        p.rss_peak_bytes,
    )?;
    gauge(e, names::FDS, "Open file descriptors.", p.open_fds)?;
    gauge(
        e,
        names::SOCKETS,
        "Open sockets, listeners included.",
        p.open_sockets,
    )?;
    gauge(e, names::THREADS, "OS threads.", p.threads)
}

/// A running metrics endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl MetricsServer {
    /// Serves `GET /metrics` for `source` on `listener` until [`MetricsServer::shutdown`].
    pub fn start(listener: TcpListener, source: MetricsSource) -> std::io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(source);
        let signal = stop.clone().cancelled_owned();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
        });
        Ok(MetricsServer { addr, stop, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to scrape: `http://ADDR/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// Stops accepting and waits for the server task.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.stop.cancel();
        self.task.await.map_err(std::io::Error::other)?
    }
}

async fn scrape(State(source): State<MetricsSource>) -> impl IntoResponse {
    // Reading /proc/PID/fd walks one entry per descriptor: off the async workers.
    match tokio::task::spawn_blocking(move || encode(&source.snapshot())).await {
        Ok(text) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("collecting metrics failed: {e}\n"),
        ),
    }
}
