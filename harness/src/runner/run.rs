//! One cell of the run matrix, generic over the transport: start the server, connect and
//! confirm subscribers, then warm-up → measured window → bounded drain → shutdown.
//!
//! Every phase has a bound, so a transport that hangs fails the run with a message naming the
//! phase instead of hanging the tool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use transport_core::{
    ClientContext, Counters, ServerContext, Transport, WireSnapshot, WireStats, clock,
};

use super::clients::{CLOSE_TIMEOUT, Drain, SubProgress, close_all, receive};
use super::publish::{PublishOutcome, Publishing, closed_loop, open_loop};
use super::recorder::{RunShared, SubscriberRecorder};
use super::schedule::{Schedule, Window};
use super::{Progress, RunOutput};
use crate::link::{self, FaultTracker, LinkProxy, ServerSlot, Side, SubscriberTally};
use crate::scenario::{Rate, RunSpec, Scenario};

const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Time between connecting the last client and the first scheduled message.
const START_LEAD: Duration = Duration::from_millis(50);

async fn bounded<F: Future>(phase: &str, bound: Duration, f: F) -> anyhow::Result<F::Output> {
    tokio::time::timeout(bound, f)
        .await
        .map_err(|_| anyhow::anyhow!("{phase} did not finish within {bound:?}"))
}

/// Parses the transport's options table (already validated when the scenario loaded).
pub fn config_for<T: Transport>(scenario: &Scenario, spec: &RunSpec) -> anyhow::Result<T::Config> {
    Ok(match scenario.transport_options.get(&spec.transport) {
        Some(table) => table.clone().try_into()?,
        None => T::Config::default(),
    })
}

/// Runs one cell of the matrix with transport `T`.
pub async fn run_one<T: Transport>(
    scenario: &Scenario,
    spec: &RunSpec,
    nonce: &str,
    progress: &Progress,
) -> anyhow::Result<RunOutput> {
    let config = config_for::<T>(scenario, spec)?;
    let counters = Counters::new();
    // Publishers and subscribers count separately, so each direction's overhead is charged to
    // the side that causes it (a poll request is subscriber cost, an ack publisher cost).
    let publisher_wire = WireStats::new();
    let subscriber_wire = WireStats::new();
    let server_ctx = ServerContext {
        wire: WireStats::new(),
        counters: counters.clone(),
        socket: scenario.socket,
    };
    let server_wire = server_ctx.wire.clone();

    let (server, addr) = match T::external_address(&config) {
        Some(addr) => (None, addr),
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let server = bounded(
                "server start",
                SETUP_TIMEOUT,
                T::serve(&config, listener, server_ctx.clone()),
            )
            .await??;
            let server = ServerSlot::<T>::new(server, config.clone(), server_ctx);
            let addr = server.addr().to_string();
            (Some(server), addr)
        }
    };
    // With a link or faults, every client connects through the emulator (publishers and
    // subscribers on separate ports, so a fault can target one side).
    let proxy = if scenario.link.is_some() || !scenario.faults.is_empty() {
        let upstream = tokio::net::lookup_host(&addr)
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("server address {addr} does not resolve"))?;
        let link = scenario.link.unwrap_or_default();
        Some(Arc::new(LinkProxy::start(upstream, link).await?))
    } else {
        None
    };
    let pub_addr = proxy
        .as_ref()
        .map_or(addr.clone(), |p| p.addr(Side::Publishers).to_string());
    let sub_addr = proxy
        .as_ref()
        .map_or(addr.clone(), |p| p.addr(Side::Subscribers).to_string());
    let tracker = Arc::new(FaultTracker::new(scenario.faults.len()));
    let client_ctx = |i: u32, wire: &Arc<WireStats>| ClientContext {
        wire: wire.clone(),
        counters: counters.clone(),
        socket: scenario.socket,
        client_index: i,
        source: None,
    };
    let topics: Vec<String> = (0..scenario.topics)
        .map(|t| format!("tb-{nonce}-{t}"))
        .collect();
    let topic_of = |client: u32| topics[(client % scenario.topics) as usize].as_str();

    // Subscribers first: each resolves only once live, so nothing published later is missed.
    let subscribers = bounded("connecting subscribers", SETUP_TIMEOUT, async {
        let mut subs = Vec::with_capacity(spec.subscribers as usize);
        for i in 0..spec.subscribers {
            subs.push(
                T::subscriber(
                    &config,
                    &sub_addr,
                    topic_of(i),
                    client_ctx(i, &subscriber_wire),
                )
                .await
                .map_err(|e| anyhow::anyhow!("subscriber {i} never became ready: {e}"))?,
            );
        }
        anyhow::Ok(subs)
    })
    .await??;
    let publishers = bounded("connecting publishers", SETUP_TIMEOUT, async {
        let mut pubs = Vec::with_capacity(scenario.publishers as usize);
        for p in 0..scenario.publishers {
            pubs.push(
                T::publisher(
                    &config,
                    &pub_addr,
                    topic_of(p),
                    client_ctx(p, &publisher_wire),
                )
                .await
                .map_err(|e| anyhow::anyhow!("publisher {p} could not connect: {e}"))?,
            );
        }
        anyhow::Ok(pubs)
    })
    .await??;

    let fanout = |p: u32| {
        (0..spec.subscribers)
            .filter(|s| s % scenario.topics == p % scenario.topics)
            .count() as u32
    };
    let start = Instant::now() + START_LEAD;
    let start_ns = clock::as_ns(start);
    let measure_start_ns = start_ns + scenario.warmup.as_nanos() as u64;
    let measure_end_ns = measure_start_ns + scenario.duration.as_nanos() as u64;
    let windows = match spec.rate {
        Rate::Max => (0..scenario.publishers)
            .map(|p| Window::new(scenario.max_in_flight, fanout(p)))
            .collect(),
        Rate::PerSec(_) => Vec::new(),
    };
    let shared = RunShared::new(
        measure_start_ns..measure_end_ns,
        scenario.publishers,
        scenario.topics,
        spec.payload_bytes as usize,
        windows,
    );
    let drain = Arc::new(Drain {
        subs: (0..spec.subscribers)
            .map(|_| SubProgress {
                target: AtomicU64::new(u64::MAX),
                ..Default::default()
            })
            .collect(),
        done: AtomicU64::new(0),
        wake: Notify::new(),
    });
    let stop = CancellationToken::new();
    let mut sub_tasks = Vec::new();
    for (i, sub) in subscribers.into_iter().enumerate() {
        let rec = SubscriberRecorder::new(shared.clone(), i as u32);
        let tally = SubscriberTally::new(scenario.publishers, scenario.faults.len());
        sub_tasks.push(tokio::spawn(receive(
            sub,
            (rec, tally, tracker.clone()),
            i,
            drain.clone(),
            stop.clone(),
        )));
    }
    let fault_task = proxy.as_ref().map(|proxy| {
        tokio::spawn(link::fault::fire::<T>(
            scenario.faults.clone(),
            measure_start_ns,
            proxy.clone(),
            server.clone(),
            tracker.clone(),
            counters.clone(),
            stop.clone(),
        ))
    });

    let total = scenario.warmup + scenario.duration;
    let end = clock::instant_at(measure_end_ns);
    // A publisher that falls this far behind stops: what it never sent is reported as unsent.
    let overrun = Duration::from_secs(1).max(scenario.duration / 10);
    let sent_so_far: Vec<Arc<AtomicU64>> =
        (0..scenario.publishers).map(|_| Arc::default()).collect();
    let publishing = Publishing {
        payload_len: spec.payload_bytes as usize,
        measure_start_ns,
        measure_end_ns,
        stop_at: end + overrun,
        progress: Arc::default(),
    };
    let schedule = match spec.rate {
        Rate::PerSec(rate) => Some(Schedule::new(start_ns, rate, scenario.publishers, total)),
        Rate::Max => None,
    };
    let generator = match &schedule {
        Some(s) => Some(s.spawn_generator(measure_start_ns..measure_end_ns)?),
        None => None,
    };
    let mut pub_tasks = Vec::new();
    for (p, publisher) in publishers.into_iter().enumerate() {
        let p = p as u32;
        let publishing = Publishing {
            progress: sent_so_far[p as usize].clone(),
            ..publishing.clone()
        };
        pub_tasks.push(match &schedule {
            Some(s) => tokio::spawn(open_loop(publisher, p, s.clone(), publishing)),
            None => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(start.into()).await;
                    closed_loop(publisher, p, &shared.windows[p as usize], publishing, end).await
                })
            }
        });
    }

    let ticker = progress.start_run(spec, shared.clone(), measure_start_ns, measure_end_ns);
    let mut failures = Vec::new();
    // One deadline for all publishers together, however many there are.
    let publish_deadline = tokio::time::Instant::now()
        + end.saturating_duration_since(Instant::now())
        + overrun
        + SETUP_TIMEOUT;
    let mut outcomes: Vec<Option<PublishOutcome<T::Publisher>>> = Vec::new();
    for (p, mut task) in pub_tasks.into_iter().enumerate() {
        outcomes.push(
            match tokio::time::timeout_at(publish_deadline, &mut task).await {
                Ok(Ok(o)) => {
                    if let Some(e) = &o.error {
                        failures.push(format!("publisher {p}: {e}"));
                    }
                    Some(o)
                }
                Ok(Err(join)) => {
                    failures.push(format!("publisher {p} task failed: {join}"));
                    None
                }
                Err(_) => {
                    task.abort();
                    failures.push(format!("publisher {p} did not finish publishing in time"));
                    None
                }
            },
        );
    }
    if let Some(s) = &schedule {
        s.stop();
    }
    let generator_lag = match generator {
        Some(g) => tokio::task::spawn_blocking(move || g.join())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(super::recorder::latency_histogram),
        None => super::recorder::latency_histogram(),
    };
    let scheduled_in_window = schedule
        .as_ref()
        .map(|s| s.scheduled_between(measure_start_ns, measure_end_ns));

    // Drain: every subscriber should get everything its topic's publishers published.
    // Counted by the publishers as they went, so a publisher that failed or hung still has its
    // messages expected (and audited) under its own id.
    let published: Vec<u64> = sent_so_far
        .iter()
        .map(|p| p.load(Ordering::Relaxed))
        .collect();
    for (i, s) in drain.subs.iter().enumerate() {
        let expected: u64 = (0..published.len())
            .filter(|&p| p as u32 % scenario.topics == i as u32 % scenario.topics)
            .map(|p| published[p])
            .sum();
        s.target.store(expected, Ordering::SeqCst);
        drain.check(i);
    }
    let drain_deadline = Instant::now() + scenario.drain_timeout;
    while drain.done.load(Ordering::SeqCst) < u64::from(spec.subscribers) {
        let left = drain_deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = tokio::time::timeout(left, drain.wake.notified()).await;
    }
    stop.cancel();
    ticker.finish();
    let fired = match fault_task {
        Some(task) => match bounded("fault schedule", CLOSE_TIMEOUT, task).await {
            Ok(Ok(fired)) => fired,
            Ok(Err(join)) => {
                failures.push(format!("fault task failed: {join}"));
                Vec::new()
            }
            Err(e) => {
                failures.push(e.to_string());
                Vec::new()
            }
        },
        None => Vec::new(),
    };

    let mut recorders = Vec::new();
    let mut subs = Vec::new();
    let mut tallies = Vec::new();
    let stop_deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
    for (i, mut task) in sub_tasks.into_iter().enumerate() {
        recorders.push(
            match tokio::time::timeout_at(stop_deadline, &mut task).await {
                Ok(Ok((sub, (rec, tally), err))) => {
                    if let Some(e) = err {
                        failures.push(format!("subscriber {i}: {e}"));
                    }
                    subs.push(sub);
                    tallies.push((i, tally));
                    Some(rec)
                }
                Ok(Err(join)) => {
                    failures.push(format!("subscriber {i} task failed: {join}"));
                    None
                }
                Err(_) => {
                    task.abort();
                    failures.push(format!("subscriber {i} did not stop in time"));
                    None
                }
            },
        );
    }
    let mut lag = super::recorder::latency_histogram();
    let mut published_in_window = 0;
    let mut unsent = 0;
    let mut pubs = Vec::new();
    for o in outcomes.into_iter().flatten() {
        let _ = lag.add(&o.lag);
        published_in_window += o.sent_in_window;
        unsent += o.unsent;
        pubs.push(o.publisher);
    }
    close_all::<T>(subs, pubs, &mut failures).await;
    let faults = fault_results(&fired, tallies, &published, scenario.topics, &counters);
    for f in &faults {
        if let Some(e) = &f.error {
            failures.push(format!("fault {} at {}s: {e}", f.kind, f.at_secs));
        }
    }
    drop(proxy);
    if let Some(server) = server {
        match bounded("server shutdown", CLOSE_TIMEOUT, server.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("server shutdown: {e}")),
            Err(e) => failures.push(e.to_string()),
        }
    }

    // Counters are read below, after every client closed: idle cost is per this whole span.
    let elapsed = start.elapsed();
    Ok(RunOutput {
        spec: spec.clone(),
        effective_config: serde_json::to_value(&config)?,
        recorders,
        intervals: std::mem::take(
            &mut *shared
                .intervals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ),
        schedule_lag: lag,
        published,
        published_in_window,
        unsent,
        topics: scenario.topics,
        measured: scenario.duration,
        publisher_wire: publisher_wire.snapshot(),
        subscriber_wire: subscriber_wire.snapshot(),
        generator_lag,
        scheduled_in_window,
        server_wire: if T::external_address(&config).is_some() {
            WireSnapshot::default()
        } else {
            server_wire.snapshot()
        },
        counters: counters.counter_values(),
        distributions: counters.distributions(),
        failures,
        measure_start_ns,
        elapsed,
        faults,
    })
}

/// Per-fault results: each subscriber's never-delivered tail is charged to the last fault that
/// fired, then [`link::tally::results`] attributes the rest.
fn fault_results(
    fired: &[link::Fired],
    tallies: Vec<(usize, SubscriberTally)>,
    published: &[u64],
    topics: u32,
    counters: &Counters,
) -> Vec<crate::results::summary::FaultResult> {
    if fired.is_empty() {
        return Vec::new();
    }
    let fired_count = fired.iter().filter(|f| f.fired_ns.is_some()).count();
    let tallies: Vec<SubscriberTally> = tallies
        .into_iter()
        .map(|(i, mut t)| {
            let mine: Vec<(usize, u64)> = published
                .iter()
                .enumerate()
                .filter(|&(p, _)| p as u32 % topics == i as u32 % topics)
                .map(|(p, &n)| (p, n))
                .collect();
            t.finish(&mine, fired_count);
            t
        })
        .collect();
    link::tally::results(fired, &tallies, &counters.counter_values())
}
