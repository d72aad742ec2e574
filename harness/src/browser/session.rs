//! One browser page holding a run's browser subscribers: Chromium started, the page put on the
//! transport server's origin, its clock mapped onto the harness's, and its reports routed to
//! the subscribers they belong to.
//!
//! The page is served by DevTools request interception (`Fetch.fulfillRequest`) at
//! `http://SERVER/__transport-bench/page`: the browser believes the transport server sent it, so
//! the page's `fetch`, `EventSource` and `WebSocket` are same-origin (no CORS headers need adding
//! to any server, which would change its wire bytes), and the per-origin connection limit of
//! HTTP/1.1 applies exactly as for a page that server served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use transport_core::{Envelope, clock};

use super::cdp::{Cdp, Event};
use super::process::Chromium;

/// The page, embedded in the binary.
const PAGE: &str = include_str!("page.html");
/// The page's path on the server's origin (intercepted; the server never sees it).
const PAGE_PATH: &str = "/__transport-bench/page";
/// The binding the page reports through.
const BINDING: &str = "__tbReport";
/// Bound on the page loading and reporting ready.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Clock samples taken; the one with the shortest round trip wins.
const CLOCK_SAMPLES: usize = 30;

/// What a browser subscriber hears from its page.
#[derive(Debug)]
pub enum SubEvent {
    /// The subscription is live at the server.
    Live,
    /// One delivery unit: its receive time ([`clock`] ns) and its messages.
    Unit(u64, Vec<Bytes>),
    /// The subscriber failed (or the page or browser did).
    Failed(String),
}

/// Figures about the page, recorded with the run.
#[derive(Debug, Clone, Copy)]
pub struct PageFigures {
    /// Smallest step of `performance.now()` measured in the page, ns.
    pub timer_resolution_ns: u64,
    /// Half the shortest DevTools round trip of the clock calibration, plus the timer
    /// resolution: how far a browser time mapped onto the harness clock may be off, ns.
    pub clock_uncertainty_ns: u64,
}

/// Where reports go.
#[derive(Default)]
struct Routes {
    subs: Mutex<HashMap<u32, mpsc::UnboundedSender<SubEvent>>>,
    ready: Mutex<Option<oneshot::Sender<Value>>>,
    /// Browser time (ms since the Unix epoch, as the page reads it) at harness clock 0.
    offset_ms: OnceLock<f64>,
    /// The browser's last console warning or error (it says why a socket failed, which the
    /// page's own error events may not).
    last_log: Mutex<Option<String>>,
}

impl Routes {
    fn send(&self, sub: u32, e: SubEvent) {
        let subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = subs.get(&sub) {
            let _ = tx.send(e);
        }
    }

    fn fail_all(&self, why: &str) {
        let subs = self.subs.lock().unwrap_or_else(PoisonError::into_inner);
        for tx in subs.values() {
            let _ = tx.send(SubEvent::Failed(why.to_owned()));
        }
    }
}

/// A running browser with the subscriber page loaded.
pub struct Session {
    cdp: Arc<Cdp>,
    page: String,
    routes: Arc<Routes>,
    events: JoinHandle<()>,
    /// Figures measured when the page came up.
    pub figures: PageFigures,
    /// `Browser.getVersion`'s product, e.g. `Chrome/120.0.6099.224`.
    pub version: String,
    /// Dropped last: killing the browser ends everything above.
    _browser: Chromium,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.events.abort();
    }
}

impl Session {
    /// Starts Chromium and loads the page on the origin `http://{addr}`, or over TLS
    /// (`spki`: the server key's pin, [`Chromium::launch`]) `https://{addr}`, where Chromium
    /// speaks HTTP/2 when the server agrees by ALPN.
    pub async fn start(addr: &str, spki: Option<&str>) -> anyhow::Result<Session> {
        let browser = Chromium::launch(spki).await?;
        let (cdp, events) = Cdp::connect(&browser.devtools_url).await?;
        let cdp = Arc::new(cdp);
        let version = cdp.call("Browser.getVersion", json!({}), None).await?;
        let version = version["product"].as_str().unwrap_or("unknown").to_owned();
        let target = cdp
            .call("Target.createTarget", json!({"url": "about:blank"}), None)
            .await?;
        let attached = cdp
            .call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
                None,
            )
            .await?;
        let page = attached["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("Target.attachToTarget returned no sessionId"))?
            .to_owned();
        let routes = Arc::new(Routes::default());
        let (ready_tx, ready_rx) = oneshot::channel();
        *routes.ready.lock().unwrap_or_else(PoisonError::into_inner) = Some(ready_tx);
        let events = tokio::spawn(route_events(
            events,
            cdp.clone(),
            page.clone(),
            routes.clone(),
        ));
        let mut session = Session {
            cdp,
            page,
            routes,
            events,
            figures: PageFigures {
                timer_resolution_ns: 0,
                clock_uncertainty_ns: 0,
            },
            version,
            _browser: browser,
        };
        let origin = match spki {
            Some(_) => format!("https://{addr}"),
            None => format!("http://{addr}"),
        };
        let ready = session.load(&origin, ready_rx).await?;
        session.figures.timer_resolution_ns = ready["res_ns"].as_u64().unwrap_or(0);
        session.calibrate().await?;
        Ok(session)
    }

    async fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.cdp.call(method, params, Some(&self.page)).await
    }

    /// Intercepts the page's URL, navigates there, and waits for the page's ready report.
    async fn load(&self, origin: &str, ready: oneshot::Receiver<Value>) -> anyhow::Result<Value> {
        let pattern = format!("*{PAGE_PATH}*");
        self.call(
            "Fetch.enable",
            json!({"patterns": [{"urlPattern": pattern, "requestStage": "Request"}]}),
        )
        .await?;
        self.call("Runtime.addBinding", json!({"name": BINDING}))
            .await?;
        self.call("Runtime.enable", json!({})).await?;
        self.call("Log.enable", json!({})).await?;
        let url = format!("{origin}{PAGE_PATH}");
        self.call("Page.navigate", json!({"url": url})).await?;
        match tokio::time::timeout(READY_TIMEOUT, ready).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => anyhow::bail!("the browser page failed before reporting ready"),
            Err(_) => {
                anyhow::bail!("the browser page did not report ready within {READY_TIMEOUT:?}")
            }
        }
    }

    /// Maps the page's clock onto the harness's: reads `performance.timeOrigin +
    /// performance.now()` over DevTools between two harness readings, and keeps the reading
    /// with the shortest round trip (its midpoint is the best estimate).
    async fn calibrate(&mut self) -> anyhow::Result<()> {
        let mut best: Option<(u64, f64)> = None;
        for _ in 0..CLOCK_SAMPLES {
            let t0 = clock::now_ns();
            let v = self
                .call(
                    "Runtime.evaluate",
                    json!({"expression": "performance.timeOrigin + performance.now()",
                           "returnByValue": true}),
                )
                .await?;
            let t1 = clock::now_ns();
            let Some(ms) = v["result"]["value"].as_f64() else {
                anyhow::bail!("the page's clock reading was not a number: {v}");
            };
            let rtt = t1 - t0;
            if best.is_none_or(|(r, _)| rtt < r) {
                let mid_ms = (t0 + rtt / 2) as f64 / 1e6;
                best = Some((rtt, ms - mid_ms));
            }
        }
        let (rtt, offset) = best.ok_or_else(|| anyhow::anyhow!("no clock samples"))?;
        let _ = self.routes.offset_ms.set(offset);
        self.figures.clock_uncertainty_ns = rtt / 2 + self.figures.timer_resolution_ns;
        Ok(())
    }

    /// Opens subscriber `sub` in the page with `spec` (see `tb.open` in the page); events for it
    /// arrive on the returned receiver, the first one `Live` or `Failed`.
    pub async fn open(
        &self,
        sub: u32,
        spec: Value,
    ) -> anyhow::Result<mpsc::UnboundedReceiver<SubEvent>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sub, tx);
        self.call(
            "Runtime.evaluate",
            json!({"expression": format!("tb.open({spec})")}),
        )
        .await?;
        Ok(rx)
    }

    /// Closes subscriber `sub` in the page.
    pub async fn close(&self, sub: u32) -> anyhow::Result<()> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": format!("tb.close({sub})")}),
            )
            .await;
        self.routes
            .subs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&sub);
        r.map(|_| ())
    }
}

/// Handles every DevTools event of the session until the connection ends.
async fn route_events(
    mut events: mpsc::UnboundedReceiver<Event>,
    cdp: Arc<Cdp>,
    page: String,
    routes: Arc<Routes>,
) {
    while let Some(e) = events.recv().await {
        match e.method.as_str() {
            "Fetch.requestPaused" => {
                let body = base64::engine::general_purpose::STANDARD.encode(PAGE);
                let params = json!({
                    "requestId": e.params["requestId"],
                    "responseCode": 200,
                    "responseHeaders": [
                        {"name": "Content-Type", "value": "text/html; charset=utf-8"},
                        {"name": "Cache-Control", "value": "no-store"}
                    ],
                    "body": body,
                });
                if let Err(err) = cdp.call("Fetch.fulfillRequest", params, Some(&page)).await {
                    routes.fail_all(&format!("serving the page: {err:#}"));
                }
            }
            "Runtime.bindingCalled" if e.params["name"] == BINDING => {
                let payload = e.params["payload"].as_str().unwrap_or("");
                on_report(&routes, payload);
            }
            "Runtime.exceptionThrown" => {
                let d = &e.params["exceptionDetails"];
                let text = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str());
                routes.fail_all(&format!("page exception: {}", text.unwrap_or("?")));
            }
            "Log.entryAdded" if e.params["entry"]["level"] != "verbose" => {
                let text = e.params["entry"]["text"].as_str().unwrap_or("").to_owned();
                *routes
                    .last_log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(text);
            }
            "Inspector.targetCrashed" | "Target.targetCrashed" => {
                routes.fail_all("the browser page crashed");
            }
            _ => {}
        }
    }
    routes.fail_all("the DevTools connection to the browser closed");
}

/// Routes one report of the page.
fn on_report(routes: &Routes, payload: &str) {
    let Ok(v) = serde_json::from_str::<Value>(payload) else {
        routes.fail_all(&format!("unreadable page report {payload:.80}"));
        return;
    };
    let sub = |v: &Value| v.as_u64().and_then(|s| u32::try_from(s).ok());
    match v["t"].as_str() {
        Some("ready") => {
            let tx = routes
                .ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(tx) = tx {
                let _ = tx.send(v);
            }
        }
        Some("live") => {
            if let Some(s) = sub(&v["sub"]) {
                routes.send(s, SubEvent::Live);
            }
        }
        Some("error") => {
            if let Some(s) = sub(&v["sub"]) {
                let mut msg = v["msg"].as_str().unwrap_or("?").to_owned();
                let log = routes
                    .last_log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(log) = log.as_ref() {
                    msg += &format!(" (browser console: {log})");
                }
                routes.send(s, SubEvent::Failed(msg));
            }
        }
        Some("units") => {
            let offset = routes.offset_ms.get().copied().unwrap_or(0.0);
            for u in v["u"].as_array().into_iter().flatten() {
                let (Some(s), Some(ms), Some(msgs)) = (sub(&u[0]), u[1].as_f64(), u[2].as_array())
                else {
                    continue;
                };
                let msgs = msgs.iter().map(message).collect();
                routes.send(s, SubEvent::Unit(to_clock_ns(ms, offset), msgs));
            }
        }
        _ => {}
    }
}

/// A browser time (ms since the Unix epoch) on the harness clock, given the offset.
fn to_clock_ns(browser_ms: f64, offset_ms: f64) -> u64 {
    // The difference is small, so it keeps sub-microsecond precision in an f64.
    let ns = (browser_ms - offset_ms) * 1e6;
    if ns <= 0.0 { 0 } else { ns.round() as u64 }
}

/// The message the page decoded, rebuilt as the bytes the recorder audits: the envelope the
/// page read at its length. A message the page could not read becomes empty (corrupt).
fn message(m: &Value) -> Bytes {
    let field = |i: usize| m[i].as_f64().filter(|v| *v >= 0.0 && v.fract() == 0.0);
    let (Some(publisher), Some(seq), Some(intended), Some(sent), Some(len)) =
        (field(0), field(1), field(2), field(3), field(4))
    else {
        return Bytes::new();
    };
    let Ok(publisher) = u32::try_from(publisher as u64) else {
        return Bytes::new();
    };
    Envelope {
        publisher,
        seq: seq as u64,
        intended_ns: intended as u64,
        sent_ns: sent as u64,
    }
    .encode(len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_messages_rebuild_their_envelope_or_count_as_corrupt() {
        let good = message(&json!([1, 5, 1000, 1010, 64]));
        assert_eq!(good.len(), 64);
        let e = Envelope::decode(&good).unwrap();
        assert_eq!(
            (e.publisher, e.seq, e.intended_ns, e.sent_ns),
            (1, 5, 1000, 1010)
        );
        assert!(message(&json!([0, 0, 0, 0, -1])).is_empty());
        assert!(message(&json!(["x"])).is_empty());
    }

    #[test]
    fn browser_times_map_onto_the_harness_clock() {
        let offset = 1.7e12;
        assert_eq!(to_clock_ns(offset + 1.5, offset), 1_500_000);
        assert_eq!(to_clock_ns(offset - 1.0, offset), 0);
    }

    #[test]
    fn units_reach_their_subscriber_with_mapped_times() {
        let routes = Routes::default();
        routes.offset_ms.set(1000.0).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        routes.subs.lock().unwrap().insert(3, tx);
        on_report(
            &routes,
            r#"{"t":"units","u":[[3,1002.5,[[0,0,5,6,40]]],[9,1003,[]]]}"#,
        );
        match rx.try_recv().unwrap() {
            SubEvent::Unit(ns, msgs) => assert_eq!((ns, msgs.len()), (2_500_000, 1)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(rx.try_recv().is_err(), "subscriber 9's unit went nowhere");
    }
}
