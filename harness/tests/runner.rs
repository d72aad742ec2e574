//! The runner's honesty, proven over real loopback sockets with raw-tcp wrapped in faults:
//! a stall shows up in the latency tail (no coordinated omission), and lost messages are
//! counted and fail the run.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use transport_bench::results::{FailureKind, RunStatus};

use bytes::Bytes;
use tokio::net::TcpListener;
use transport_bench::runner::{self, Progress};
use transport_bench::scenario::{self, RunSpec, Scenario};
use transport_core::{
    ClientContext, OptionDoc, Publisher, ServerContext, Subscriber, Transport, TransportError,
};
use transport_raw_tcp::{RawTcp, RawTcpConfig, RawTcpPublisher, RawTcpServer, RawTcpSubscriber};

/// What the wrapped transport does wrong.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The subscriber stops reading for 200 ms once, after this many messages.
    StallSubscriber(u64),
    /// One publish blocks for 200 ms, after this many messages.
    StallPublisher(u64),
    /// The subscriber drops every n-th message.
    DropEvery(u64),
}

static FAULT: OnceLock<std::sync::Mutex<Fault>> = OnceLock::new();

fn fault() -> Fault {
    *FAULT
        .get_or_init(|| std::sync::Mutex::new(Fault::DropEvery(u64::MAX)))
        .lock()
        .unwrap()
}

/// raw-tcp with one injected fault. Tests in this file share the static, so they run one at a
/// time through `serial()`.
struct Faulty;

struct FaultyPublisher(RawTcpPublisher, u64);
struct FaultySubscriber(RawTcpSubscriber, u64, Arc<AtomicU64>);

impl Publisher for FaultyPublisher {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        self.1 += 1;
        if let Fault::StallPublisher(after) = fault()
            && self.1 == after
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.0.publish(msg).await
    }
    async fn flush(&mut self) -> Result<(), TransportError> {
        self.0.flush().await
    }
    async fn close(self) -> Result<(), TransportError> {
        self.0.close().await
    }
}

impl Subscriber for FaultySubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        let mut got = Vec::new();
        self.0.recv(&mut got).await?;
        let before = self.1;
        self.1 += got.len() as u64;
        match fault() {
            Fault::StallSubscriber(after) if before < after && self.1 >= after => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Fault::DropEvery(n) => {
                let kept: Vec<Bytes> = got
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !(before + *i as u64 + 1).is_multiple_of(n))
                    .map(|(_, m)| m)
                    .collect();
                self.2
                    .fetch_add(self.1 - before - kept.len() as u64, Ordering::Relaxed);
                let n = kept.len();
                out.extend(kept);
                return Ok(n);
            }
            _ => {}
        }
        let n = got.len();
        out.extend(got);
        Ok(n)
    }
    async fn close(self) -> Result<(), TransportError> {
        self.0.close().await
    }
}

impl Transport for Faulty {
    const NAME: &'static str = "raw-tcp";
    type Config = RawTcpConfig;
    type Server = RawTcpServer;
    type Publisher = FaultyPublisher;
    type Subscriber = FaultySubscriber;
    fn options() -> &'static [OptionDoc] {
        RawTcp::options()
    }
    async fn serve(
        c: &RawTcpConfig,
        l: TcpListener,
        ctx: ServerContext,
    ) -> Result<RawTcpServer, TransportError> {
        RawTcp::serve(c, l, ctx).await
    }
    async fn publisher(
        c: &RawTcpConfig,
        a: &str,
        t: &str,
        ctx: ClientContext,
    ) -> Result<FaultyPublisher, TransportError> {
        Ok(FaultyPublisher(RawTcp::publisher(c, a, t, ctx).await?, 0))
    }
    async fn subscriber(
        c: &RawTcpConfig,
        a: &str,
        t: &str,
        ctx: ClientContext,
    ) -> Result<FaultySubscriber, TransportError> {
        Ok(FaultySubscriber(
            RawTcp::subscriber(c, a, t, ctx).await?,
            0,
            Arc::default(),
        ))
    }
}

fn scenario(extra: &str) -> (Scenario, RunSpec) {
    let text = format!(
        "name = \"t\"\ndescription = \"test\"\ntransports = [\"raw-tcp\"]\nwarmup = \"200ms\"\nduration = \"2s\"\n\
         drain_timeout = \"2s\"\npayload = \"64B\"\nrate_per_sec = 1000\n{extra}\n\
         [server]\nmode = \"in-process\"\n"
    );
    let s = scenario::load_str(&text, Path::new("test.toml")).expect("test scenario is valid");
    let spec = s.expand().remove(0);
    (s, spec)
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn run(fault_kind: Fault, extra: &str) -> transport_bench::runner::CellResult {
    *FAULT
        .get_or_init(|| std::sync::Mutex::new(fault_kind))
        .lock()
        .unwrap() = fault_kind;
    let (s, spec) = scenario(extra);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(runner::run_with::<Faulty>(&runner::RunCtx::new(
        &s,
        &spec,
        "test",
        &Progress::new(true),
    )))
}

#[test]
fn a_subscriber_stall_shows_in_the_tail() {
    let _g = serial();
    // 1000 msg/s: message 1000 arrives about 0.8 s into the 2 s window.
    let r = run(Fault::StallSubscriber(1000), "").result;
    assert_eq!(
        (r.status.as_str(), r.delivery.lost, r.delivery.duplicated),
        ("ok", 0, 0),
        "{:?}",
        r.failures
    );
    assert!(
        r.latency.latency_ns.p999 >= 190_000_000,
        "p99.9 {} ns must show the 200 ms stall",
        r.latency.latency_ns.p999
    );
    assert!(
        r.latency.latency_ns.p50 < 50_000_000,
        "the median stays low: {}",
        r.latency.latency_ns.p50
    );
}

#[test]
fn a_publisher_stall_is_not_hidden_by_coordinated_omission() {
    let _g = serial();
    let r = run(Fault::StallPublisher(1000), "").result;
    assert_eq!(r.delivery.lost, 0, "{:?}", r.failures);
    // Messages due during the stall were sent late: from their intended time they waited up to
    // 200 ms. Timing from the actual send (what closed-loop tools do) would hide it.
    assert!(
        r.latency.latency_ns.p999 >= 190_000_000,
        "from intended: {}",
        r.latency.latency_ns.p999
    );
    assert!(
        r.latency.latency_from_send_ns.p999 < 100_000_000,
        "from send hides it: {}",
        r.latency.latency_from_send_ns.p999
    );
    assert!(
        r.latency.schedule_lag_ns.max >= 190_000_000,
        "schedule lag shows the generator fell behind"
    );
}

#[test]
fn lost_messages_are_counted_and_fail_the_run() {
    let _g = serial();
    let r = run(Fault::DropEvery(10), "").result;
    assert_eq!(r.status, RunStatus::Failed);
    assert!(
        r.failures
            .iter()
            .any(|f| f.kind == FailureKind::Lost && f.message.contains("messages lost")),
        "{:?}",
        r.failures
    );
    let expected = r.delivery.published / 10;
    assert!(
        r.delivery.lost.abs_diff(expected) <= 1,
        "lost {} of {} published",
        r.delivery.lost,
        r.delivery.published
    );
    assert_eq!(r.delivery.delivered + r.delivery.lost, r.delivery.published);

    let allowed = run(Fault::DropEvery(10), "allow_loss = true\n").result;
    assert_eq!(
        allowed.status,
        RunStatus::Ok,
        "allow_loss keeps the run passing: {:?}",
        allowed.failures
    );
    assert!(
        allowed.delivery.lost > 0,
        "...but the loss is still reported"
    );
}

#[test]
fn closed_loop_runs_keep_the_window_and_lose_nothing() {
    let _g = serial();
    let (mut s, _) = scenario("");
    s.rates = vec![transport_bench::scenario::Rate::Max];
    s.duration = Duration::from_millis(500);
    s.max_in_flight = 64;
    let spec = s.expand().remove(0);
    *FAULT
        .get_or_init(|| std::sync::Mutex::new(Fault::DropEvery(u64::MAX)))
        .lock()
        .unwrap() = Fault::DropEvery(u64::MAX);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let r = rt
        .block_on(runner::run_with::<Faulty>(&runner::RunCtx::new(
            &s,
            &spec,
            "max",
            &Progress::new(true),
        )))
        .result;
    assert_eq!(
        (r.status, r.delivery.lost),
        (RunStatus::Ok, 0),
        "{:?}",
        r.failures
    );
    assert_eq!(r.offered_rate, None);
    assert!(
        r.delivery.published > 1000,
        "closed loop pushes as fast as the window allows: {}",
        r.delivery.published
    );
}
