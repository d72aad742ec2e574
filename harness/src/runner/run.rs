//! One cell of the run matrix, generic over the transport, as a sequence of named phases:
//! start the server ([`RunServer::start`]), put the link emulator in front of it
//! ([`Run::start_link`]), connect subscribers then publishers ([`Run::connect`]), start
//! receiving and the fault schedule, publish through warm-up and the measured window
//! ([`Run::publish`]), drain ([`Run::drain`]), stop the receivers ([`Run::stop_receiving`]) and
//! close everything ([`Run::close`]).
//!
//! Every phase has a bound, so a transport that hangs fails the run with a message naming the
//! phase instead of hanging the tool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinHandle;
use transport_core::tls::TlsClient;
use transport_core::{Counters, ServerKind, SharedConns, Transport, WireStats, clock};

use crate::results::{FailureKind, Failures};

use super::clients::{CLOSE_TIMEOUT, Drain, Received, close_all, start_receiving, stop_receiving};
use super::consumers::RunClasses;
use super::ctx::{RunCtx, config_for};
use super::faults;
use super::flow::FlowControl;
use super::output::RunOutput;
use super::publish::{PublishOutcome, Published, Publishing};
use super::recorder::{RunShared, SubscriberRecorder};
use super::resources::ResourceLog;
use super::server::{RunServer, ServerFigures, ServerSockets};
use super::storm::StormLog;
use super::timeline::Timeline;
use super::topic::shares_topic;
use crate::link::LinkProxy;
use crate::scenario::tls::RunTls;
use crate::scenario::{Client, Rate, RunSpec, Scenario};

/// Bound on each set-up phase (server start, connecting subscribers, connecting publishers).
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

#[path = "run_connect.rs"]
mod connect;

async fn bounded<F: Future>(phase: &str, bound: Duration, f: F) -> anyhow::Result<F::Output> {
    tokio::time::timeout(bound, f)
        .await
        .map_err(|_| anyhow::anyhow!("{phase} did not finish within {bound:?}"))
}

/// Runs one cell of the matrix with transport `T`.
pub async fn run_one<T: Transport>(ctx: &RunCtx<'_>) -> anyhow::Result<RunOutput> {
    let RunCtx {
        scenario,
        spec,
        nonce,
        progress,
        plan,
    } = *ctx;
    let mut run = Run::<T>::new(scenario, spec)?;
    let options = scenario.options_for(spec);
    let server = RunServer::<T>::start(
        &run.config,
        options.as_ref(),
        &scenario.server,
        ServerSockets {
            socket: scenario.socket,
            tls: run.tls.as_ref(),
        },
        &run.counters,
        SETUP_TIMEOUT,
        plan.remote.get(&spec.transport),
    )
    .await?;
    let mut resources = ResourceLog::new(&server);
    resources.take(&server).await;
    let link = run.start_link(server.addr()).await?;
    let connected = Arc::new(AtomicU64::new(0));
    let ticker = progress.connecting(spec, connected.clone());
    let setup_started = Instant::now();
    let (subscribers, publishers) = run.connect(&link, nonce, &connected).await?;
    run.setup = setup_started.elapsed();
    ticker.finish();
    // Every shard connects first, then all start warm-up at one instant; the "connected"
    // sample below is then taken with every shard's clients connected.
    if let Some(at) = plan.start_at {
        run.clock_offset_ns = Some(at.wait().await);
    }
    resources.take(&server).await;

    let timeline = Timeline::new(scenario, spec.subscribers);
    run.window_start = timeline.wall_clock(timeline.measure_start_ns);
    run.classes.arm(&timeline);
    let shared = run.shared(&timeline);
    let flow = run.flow_control();
    let classed = |rec, i| {
        let clients = (scenario.publishers, scenario.topics);
        run.classes.recorder(rec, i, clients, &timeline)
    };
    let cuts = |i| run.classes.cut_instants(i);
    let receiving = start_receiving(subscribers, &shared, &flow, (scenario, &classed, &cuts));
    let fault_task = (!scenario.faults.is_empty()).then(|| {
        tokio::spawn(faults::fire::<T>(
            scenario.faults.clone(),
            timeline.measure_start_ns,
            link.proxy.clone(),
            server.restartable(),
            receiving.tracker.clone(),
            (run.counters.clone(), run.subscriber_wire.clone()),
            receiving.stop.clone(),
        ))
    });
    let ticker = progress.start_run(
        spec,
        shared.clone(),
        timeline.measure_start_ns,
        timeline.measure_end_ns,
    );
    // The measured window's edges are sampled while publishers run.
    let window_start = clock::instant_at(timeline.measure_start_ns);
    let (published, ()) = tokio::join!(
        run.publish(publishers, (&flow, &shared), &timeline),
        resources.take_window(&server, window_start, timeline.end)
    );
    let published = published?;
    run.drain(&receiving.drain, &published.published).await;
    resources.take(&server).await;
    receiving.stop.cancel();
    ticker.finish();
    let fired = run.await_faults(fault_task).await;
    let received = stop_receiving(receiving.tasks, &mut run.failures).await;
    let closed = run.close(received, published, &fired).await;
    drop(link);
    let figures = server.figures(&mut run.failures).await;
    resources.incarnations = server.incarnations().await;
    server.shutdown(CLOSE_TIMEOUT, &mut run.failures).await;
    // Counters are read here, after every client closed: idle cost is per this whole span.
    run.output(figures, resources, &shared, &timeline, closed)
}

/// What one run holds across its phases.
struct Run<'a, T: Transport> {
    scenario: &'a Scenario,
    spec: &'a RunSpec,
    config: T::Config,
    counters: Arc<Counters>,
    /// Publishers and subscribers count separately, so each direction's overhead is charged to
    /// the side that causes it (a poll request is subscriber cost, an ack publisher cost).
    publisher_wire: Arc<WireStats>,
    subscriber_wire: Arc<WireStats>,
    /// The run's TLS material (`None`: plaintext), and each client side's TLS with its own
    /// plaintext counts.
    tls: Option<RunTls>,
    publisher_tls: Option<TlsClient>,
    subscriber_tls: Option<TlsClient>,
    /// Connections the run's subscribers may share (HTTP/2 multiplexes their streams).
    subscriber_conns: SharedConns,
    /// Harness problems and transport errors, in the order they were found.
    failures: Failures,
    /// How long connecting every client took.
    setup: Duration,
    /// Wall-clock start of the measured window (set with the timeline).
    window_start: SystemTime,
    /// How far past `--start-at` the clock was when warm-up began, ns.
    clock_offset_ns: Option<i64>,
    /// Which subscribers lag by design, and how.
    classes: RunClasses,
}

/// Where clients connect: straight to the server, or through the link emulator.
struct Link {
    proxy: Option<Arc<LinkProxy>>,
    publishers: String,
    subscribers: String,
}

/// Totals left once every client is closed.
struct Closed {
    recorders: Vec<Option<SubscriberRecorder>>,
    published: Vec<u64>,
    generator_lag: hdrhistogram::Histogram<u64>,
    scheduled_in_window: Option<u64>,
    schedule_lag: hdrhistogram::Histogram<u64>,
    published_in_window: u64,
    unsent: u64,
    faults: Vec<crate::results::faults::FaultResult>,
}

impl<'a, T: Transport> Run<'a, T> {
    fn new(scenario: &'a Scenario, spec: &'a RunSpec) -> anyhow::Result<Self> {
        let tls = match (&scenario.tls, spec.tls) {
            (Some(settings), true) => Some(settings.material()?),
            _ => None,
        };
        Ok(Run {
            publisher_tls: tls.as_ref().map(|t| t.client.fresh()),
            subscriber_tls: tls.as_ref().map(|t| t.client.fresh()),
            tls,
            scenario,
            spec,
            config: config_for::<T>(scenario, spec)?,
            counters: Counters::new(),
            publisher_wire: WireStats::new(),
            subscriber_wire: WireStats::new(),
            subscriber_conns: SharedConns::default(),
            failures: Failures::default(),
            setup: Duration::ZERO,
            window_start: SystemTime::now(),
            clock_offset_ns: None,
            classes: RunClasses::new(scenario, spec),
        })
    }

    /// The publish phase's flow control: in closed loop, one in-flight window per publisher,
    /// for as many copies of each message as its topic has subscribers.
    fn flow_control(&self) -> Arc<FlowControl> {
        let (scenario, spec) = (self.scenario, self.spec);
        let fanout = |p: u32| {
            (0..spec.subscribers)
                .filter(|&s| shares_topic(p, s, scenario.topics))
                .count() as u32
        };
        Arc::new(match spec.rate {
            Rate::Max => FlowControl::closed_loop(
                scenario.max_in_flight,
                (0..scenario.publishers).map(fanout),
            ),
            Rate::PerSec(_) => FlowControl::open_loop(),
        })
    }

    /// State every subscriber's recorder shares.
    fn shared(&self, timeline: &Timeline) -> Arc<RunShared> {
        let (scenario, spec) = (self.scenario, self.spec);
        RunShared::with_classes(
            timeline.measure_start_ns..timeline.measure_end_ns,
            (scenario.publishers, scenario.topics),
            // The test-only padding knob (zero unless built with `test-knobs`) grows every
            // message beyond the declared payload, so the extra bytes count as overhead.
            spec.payload_bytes as usize + transport_core::test_knobs::pad_bytes(),
            self.classes.slots(),
        )
    }

    /// Warm-up then the measured window: runs every publisher to its end and collects what
    /// each did (see [`super::publish::run_publishers`]).
    async fn publish(
        &mut self,
        publishers: Vec<T::Publisher>,
        (flow, shared): (&Arc<FlowControl>, &RunShared),
        timeline: &Timeline,
    ) -> anyhow::Result<Published<T::Publisher>> {
        let publishing = Publishing {
            payload_len: self.spec.payload_bytes as usize + transport_core::test_knobs::pad_bytes(),
            measure_start_ns: timeline.measure_start_ns,
            measure_end_ns: timeline.measure_end_ns,
            stop_at: timeline.end + timeline.overrun,
            progress: Arc::default(),
        };
        let plan = super::publish::Plan {
            rate: self.spec.rate,
            start: timeline.start,
            start_ns: timeline.start_ns,
            end: timeline.end,
            total: self.scenario.warmup + self.scenario.duration,
            // One deadline for all publishers together, however many there are.
            deadline_after_end: timeline.overrun + SETUP_TIMEOUT,
        };
        let counted = (publishers, &shared.published[..]);
        super::publish::run_publishers(counted, flow, publishing, plan, &mut self.failures).await
    }

    /// Waits, up to the drain timeout, until every subscriber has everything its topic's
    /// publishers published. Counted by the publishers as they went, so a publisher that failed
    /// or hung still has its messages expected (and audited) under its own id.
    async fn drain(&self, drain: &Drain, published: &[u64]) {
        let topics = self.scenario.topics;
        for (i, s) in drain.subs.iter().enumerate() {
            let expected: u64 = (0..published.len())
                .filter(|&p| shares_topic(p as u32, i as u32, topics))
                .map(|p| published[p])
                .sum();
            s.target.store(expected, Ordering::SeqCst);
            drain.check(i);
        }
        let deadline = Instant::now() + self.scenario.drain_timeout;
        while drain.done.load(Ordering::SeqCst) < u64::from(self.spec.subscribers) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let _ = tokio::time::timeout(left, drain.wake.notified()).await;
        }
    }

    /// Waits for the fault schedule (already told to stop) to hand back what it fired.
    async fn await_faults(
        &mut self,
        task: Option<JoinHandle<Vec<faults::Fired>>>,
    ) -> Vec<faults::Fired> {
        let Some(task) = task else {
            return Vec::new();
        };
        match bounded("fault schedule", CLOSE_TIMEOUT, task).await {
            Ok(Ok(fired)) => fired,
            Ok(Err(join)) => {
                self.failures
                    .add(FailureKind::Fault, format!("fault task failed: {join}"));
                Vec::new()
            }
            Err(e) => {
                self.failures.add(FailureKind::Fault, e.to_string());
                Vec::new()
            }
        }
    }

    /// Closes every client, and attributes losses to the faults that fired.
    async fn close(
        &mut self,
        received: Received<T::Subscriber>,
        published: Published<T::Publisher>,
        fired: &[faults::Fired],
    ) -> Closed {
        let mut schedule_lag = super::recorder::latency_histogram();
        let (mut published_in_window, mut unsent) = (0, 0);
        let mut pubs = Vec::new();
        for o in published.outcomes.into_iter().flatten() {
            let PublishOutcome {
                publisher,
                sent_in_window,
                unsent: never_sent,
                lag,
                ..
            } = o;
            let _ = schedule_lag.add(&lag);
            published_in_window += sent_in_window;
            unsent += never_sent;
            pubs.push(publisher);
        }
        close_all::<T>(received.subs, pubs, &mut self.failures).await;
        let faults = faults::results_for_run(
            fired,
            received.tallies,
            (&published.published, self.scenario.topics),
            &self.counters,
            &StormLog {
                connections: self.classes.connections(),
                publisher_connections: self.classes.publisher_connections(),
                handshake_bytes_end: faults::handshake_bytes(&self.subscriber_wire.snapshot()),
            },
        );
        for f in &faults {
            if let Some(e) = &f.error {
                self.failures.add(
                    FailureKind::Fault,
                    format!("fault {} at {}s: {e}", f.kind, f.at_secs),
                );
            }
        }
        Closed {
            recorders: received.recorders,
            published: published.published,
            generator_lag: published.generator_lag,
            scheduled_in_window: published.scheduled_in_window,
            schedule_lag,
            published_in_window,
            unsent,
            faults,
        }
    }

    /// Everything the run recorded, for [`super::aggregate::reduce`].
    fn output(
        self,
        server: ServerFigures,
        resources: ResourceLog,
        shared: &RunShared,
        timeline: &Timeline,
        closed: Closed,
    ) -> anyhow::Result<RunOutput> {
        let intervals = shared.intervals();
        // A product server's sockets are not ours: its side is the mirror of our clients'.
        let mirror =
            T::server_kinds().contains(&ServerKind::Program) && self.spec.client == Client::Rust;
        let clients = (
            self.publisher_wire.snapshot(),
            self.subscriber_wire.snapshot(),
        );
        let (server_wire, server_wire_mirrored) =
            crate::results::wire::counted_or_mirrored(server.wire, mirror, clients);
        Ok(RunOutput {
            spec: self.spec.clone(),
            recorders: closed.recorders,
            latencies: shared.latencies_from(&intervals),
            intervals,
            schedule_lag: closed.schedule_lag,
            published: closed.published,
            published_in_window: closed.published_in_window,
            unsent: closed.unsent,
            topics: self.scenario.topics,
            measured: self.scenario.duration,
            // The same snapshots the mirror was made of, so the two agree exactly.
            publisher_wire: clients.0,
            subscriber_wire: clients.1,
            plaintext_wire: self
                .publisher_tls
                .as_ref()
                .zip(self.subscriber_tls.as_ref())
                .map(|(p, s)| (p.plaintext.snapshot(), s.plaintext.snapshot())),
            tls: self
                .subscriber_tls
                .as_ref()
                .and_then(TlsClient::negotiated)
                .or_else(|| self.publisher_tls.as_ref().and_then(TlsClient::negotiated)),
            generator_lag: closed.generator_lag,
            scheduled_in_window: closed.scheduled_in_window,
            server_wire,
            server_wire_mirrored,
            // A child server's counters join the clients' (an in-process one counted into them).
            counters: self
                .counters
                .counter_values()
                .into_iter()
                .chain(server.counters)
                .collect(),
            resources,
            distributions: self.counters.distributions(),
            failures: self.failures,
            setup: self.setup,
            elapsed: timeline.start.elapsed(),
            faults: closed.faults,
            window_start: self.window_start,
            clock_offset_ns: self.clock_offset_ns,
            class_latencies: shared.class_latencies(),
            classes: self.classes,
        })
    }
}
