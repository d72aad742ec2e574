//! [`InBrowser<T>`]: transport `T` with its subscribers inside a headless Chromium page. The
//! server and the publishers are `T`'s own; only the subscribers differ, so the runner runs a
//! browser cell exactly as any other (same schedule, audit, histograms and reduction).
//!
//! All subscribers of a run share one page (one origin, as in a web app with several
//! subscriptions open), started by the first subscriber that connects and kept in the run's
//! config; the browser dies when the run drops its config and the last subscriber.
//!
//! The browser's connections to the server are counted by the kernel ([`OutsideTally`]) into
//! the subscribers' wire stats, setup as handshake: a server whose own bytes are not ours to
//! count (nginx) still gets exact subscriber bytes. Where the server counts, the results
//! derive the subscribers' bytes from its counts instead (`runner::aggregate`).

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, mpsc};
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, ServerKind, Subscriber, Transport,
    TransportError, WireProbe,
};
use transport_program::OutsideTally;

use super::figures::{self, CLOCK_UNCERTAINTY, TIMER_RESOLUTION};
use super::kind::WebKind;
use super::process::LaunchError;
use super::session::{Session, SubEvent};

/// Bound on one browser subscriber becoming live.
const LIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// Chromium's limit on HTTP/1.1 connections per origin (for the stall message).
const PER_ORIGIN: u32 = 6;

/// Transport `T` with browser subscribers.
#[derive(Debug)]
pub struct InBrowser<T>(PhantomData<fn() -> T>);

/// `T`'s options (serialized exactly as `T`'s), plus the run's browser page, started by the
/// first subscriber.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BrowserConfig<C> {
    /// The transport's own options.
    pub inner: C,
    #[serde(skip)]
    page: Arc<OnceCell<Arc<Session>>>,
    /// The kernel's count of the browser's connections to the server (none for a server
    /// address that is not an IP address and port).
    #[serde(skip)]
    tally: Arc<OnceLock<Option<Arc<OutsideTally>>>>,
}

/// A subscription being set up: its bytes count as handshake until this is dropped.
struct Opening(Option<Arc<OutsideTally>>);

impl Opening {
    fn new(tally: Option<Arc<OutsideTally>>) -> Opening {
        if let Some(t) = &tally {
            t.opening();
        }
        Opening(tally)
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.opened();
        }
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for BrowserConfig<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserConfig")
            .field("inner", &self.inner)
            .field("page_started", &self.page.initialized())
            .finish()
    }
}

fn browser_error(stage: &'static str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Protocol {
        stage,
        detail: e.to_string(),
    }
}

/// What `tb.open` in the page needs: the pattern, the topic and the options that change what
/// the page sends or parses.
/// A browser that could not start: a missing Chromium is the machine's setup, anything else
/// is the browser misbehaving.
fn start_error(e: &anyhow::Error) -> TransportError {
    match e.downcast_ref::<LaunchError>() {
        Some(missing @ LaunchError::NotInstalled(_)) => TransportError::MissingProgram {
            stage: "browser start",
            program: "chromium",
            detail: missing.to_string(),
        },
        _ => browser_error("browser start", format!("{e:#}")),
    }
}

fn page_spec(kind: WebKind, options: &Value, topic: &str, sub: u32) -> Value {
    let hold_ms = options["hold_timeout"]
        .as_str()
        .and_then(|s| humantime::parse_duration(s).ok())
        .map_or(30_000, |d| d.as_millis() as u64);
    json!({
        "sub": sub,
        "kind": kind.name(),
        "topic": topic,
        "json": options["encoding"] == "json",
        "text": options["data_encoding"] == "text",
        "max": options["max_messages"].as_u64().unwrap_or(1000),
        "hold_ms": hold_ms,
    })
}

impl<T: Transport> Transport for InBrowser<T> {
    const NAME: &'static str = T::NAME;
    type Config = BrowserConfig<T::Config>;
    type Server = T::Server;
    type Publisher = T::Publisher;
    type Subscriber = BrowserSubscriber;

    fn options() -> &'static [OptionDoc] {
        T::options()
    }

    fn capabilities() -> Capabilities {
        T::capabilities()
    }

    // The server is `T`'s, so it runs where `T`'s may (nginx: as a program the runner starts).
    fn server_kinds() -> &'static [ServerKind] {
        T::server_kinds()
    }

    fn preflight(config: &Self::Config) -> Result<(), TransportError> {
        T::preflight(&config.inner)
    }

    fn validate(config: &Self::Config) -> Result<(), String> {
        T::validate(&config.inner)
    }

    fn external_address(config: &Self::Config) -> Option<String> {
        T::external_address(&config.inner)
    }

    async fn serve(
        config: &Self::Config,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<T::Server, TransportError> {
        T::serve(&config.inner, listener, ctx).await
    }

    async fn publisher(
        config: &Self::Config,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<T::Publisher, TransportError> {
        T::publisher(&config.inner, addr, topic, ctx).await
    }

    async fn subscriber(
        config: &Self::Config,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<BrowserSubscriber, TransportError> {
        let kind = WebKind::of(T::NAME).ok_or_else(|| {
            TransportError::Config(format!(
                "{} has no browser subscriber; allowed: {}",
                T::NAME,
                WebKind::names().join(", ")
            ))
        })?;
        let tally = config
            .tally
            .get_or_init(|| {
                let peer: SocketAddr = addr.parse().ok()?;
                Some(OutsideTally::register(ctx.wire.clone(), peer))
            })
            .clone();
        let opening = Opening::new(tally.clone());
        // Over TLS the page is on `https://` and Chromium trusts the run's server key by its
        // SPKI hash; a run that does not know the key cannot have a browser over TLS.
        let pin = match &ctx.tls {
            None => None,
            Some(tls) => Some(tls.spki_pin().ok_or_else(|| {
                TransportError::Config(
                    "a browser over TLS needs the server's key to pin (cert and key, or a \
                     throwaway certificate)"
                        .to_owned(),
                )
            })?),
        };
        let session = config
            .page
            .get_or_try_init(|| async {
                let s = Session::start(addr, pin).await?;
                record_figures(&s, &ctx);
                anyhow::Ok(Arc::new(s))
            })
            .await
            .map_err(|e| start_error(&e))?
            .clone();
        let options = serde_json::to_value(&config.inner).unwrap_or_default();
        let sub = ctx.client_index;
        let mut events = session
            .open(sub, page_spec(kind, &options, topic, sub))
            .await
            .map_err(|e| browser_error("browser subscribe", format!("{e:#}")))?;
        let live = tokio::time::timeout(LIVE_TIMEOUT, events.recv()).await;
        drop(opening);
        match live {
            Ok(Some(SubEvent::Live)) => Ok(BrowserSubscriber {
                session,
                sub,
                events,
                received_at: None,
                tally,
            }),
            Ok(Some(SubEvent::Failed(e))) => Err(browser_error("browser subscribe", e)),
            Ok(_) => Err(TransportError::Closed {
                stage: "browser subscribe",
            }),
            Err(_) => Err(browser_error("browser subscribe", stall(kind, sub))),
        }
    }
}

/// Why a browser subscriber may never have become live.
fn stall(kind: WebKind, sub: u32) -> String {
    let mut why = format!("browser subscriber {sub} was not live within {LIVE_TIMEOUT:?}");
    if kind.holds_http() && sub >= PER_ORIGIN {
        why += &format!(
            " (Chromium opens at most {PER_ORIGIN} HTTP/1.1 connections per origin, and the \
             page's other {} {} subscribers hold them)",
            sub,
            kind.name()
        );
    }
    why
}

/// Records the page's figures in the run's distributions (one sample per page), from which
/// the results' `browser` block is built.
fn record_figures(s: &Session, ctx: &ClientContext) {
    let c = &ctx.counters;
    c.distribution(TIMER_RESOLUTION)
        .record(s.figures.timer_resolution_ns);
    c.distribution(CLOCK_UNCERTAINTY)
        .record(s.figures.clock_uncertainty_ns);
    figures::set_version(&s.version);
}

/// One subscriber in the run's browser page.
pub struct BrowserSubscriber {
    session: Arc<Session>,
    sub: u32,
    events: mpsc::UnboundedReceiver<SubEvent>,
    received_at: Option<u64>,
    tally: Option<Arc<OutsideTally>>,
}

impl Subscriber for BrowserSubscriber {
    async fn recv(&mut self, out: &mut Vec<Bytes>) -> Result<usize, TransportError> {
        loop {
            match self.events.recv().await {
                Some(SubEvent::Unit(at, msgs)) => {
                    self.received_at = Some(at);
                    let n = msgs.len();
                    out.extend(msgs);
                    return Ok(n);
                }
                Some(SubEvent::Live) => {}
                Some(SubEvent::Failed(e)) => return Err(browser_error("browser receive", e)),
                None => {
                    return Err(TransportError::Closed {
                        stage: "browser receive",
                    });
                }
            }
        }
    }

    fn received_at_ns(&self) -> Option<u64> {
        self.received_at
    }

    async fn close(self) -> Result<(), TransportError> {
        // The kernel forgets a connection's counts when it closes: read them first.
        if let Some(t) = &self.tally {
            t.refresh();
        }
        self.session
            .close(self.sub)
            .await
            .map_err(|e| browser_error("browser close", format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_spec_follows_the_transport_options() {
        let lp = json!({"hold_timeout": "5s", "encoding": "json", "max_messages": 10});
        let s = page_spec(WebKind::LongPoll, &lp, "t", 2);
        assert_eq!(s["hold_ms"], 5000);
        assert_eq!(s["json"], true);
        assert_eq!(s["max"], 10);
        assert_eq!(s["kind"], "long-poll");
        let sse = json!({"data_encoding": "base64"});
        assert_eq!(page_spec(WebKind::Sse, &sse, "t", 0)["text"], false);
    }

    #[test]
    fn a_stalled_http_subscriber_names_the_per_origin_limit() {
        assert!(stall(WebKind::LongPoll, 6).contains("6 HTTP/1.1 connections per origin"));
        assert!(!stall(WebKind::WebSocket, 6).contains("per origin"));
        assert!(!stall(WebKind::Sse, 2).contains("per origin"));
        assert!(stall(WebKind::NchanSse, 6).contains("per origin"));
        assert!(!stall(WebKind::NchanWebSocket, 6).contains("per origin"));
    }

    #[test]
    fn a_missing_chromium_is_a_missing_program_and_other_failures_the_browsers() {
        let missing = anyhow::Error::new(LaunchError::NotInstalled("none on PATH".into()));
        let text = start_error(&missing).to_string();
        assert!(
            text.starts_with("browser start: missing program chromium:"),
            "{text}"
        );
        assert!(text.contains("apt-get install chromium"), "{text}");
        let crashed = anyhow::anyhow!("DevTools never answered");
        let text = start_error(&crashed).to_string();
        assert!(!text.contains("missing program"), "{text}");
    }
}
