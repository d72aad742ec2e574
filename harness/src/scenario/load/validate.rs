//! Meaning: turns a [`RawScenario`] into a [`Scenario`] — defaults, ranges, cross-field rules
//! and per-transport tables — with every error located at the value it is about.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};
use transport_core::envelope::HEADER_LEN;
use transport_core::{ReconnectPolicy, SocketOptions};

use super::located::{Located, distinct, in_range};
use super::raw::{Count, RateItem, RawScenario, Size};
use super::transport::{ADDRESS, HTTP, take_address, take_http_sweep};
use crate::registry::{FLOOR, TransportKind};
use crate::scenario::model::{Rate, Scenario, ServerMode};
use crate::scenario::options::OptionSweep;
use crate::text;

/// Largest message a scenario may ask for.
const MAX_PAYLOAD: i64 = 16 << 20;

/// Applies defaults and checks every rule; `doc` is the parsed document, for the spans inside
/// `[transport.<name>]` tables. Errors come in the order the file is usually read: identity,
/// transports, timing, load shape, browser/link/faults/placement, transport tables.
pub(super) fn scenario(
    raw: RawScenario,
    doc: &DeTable<'_>,
    path: &Path,
) -> Result<Scenario, Located> {
    identity(&raw)?;
    let transports = transports(raw.transports.as_ref(), raw.baseline.unwrap_or(true))?;
    let timing = timing(&raw)?;
    let shape = shape(&raw)?;
    let duration = timing.duration;
    let topics = shape.topics;
    let has_faults = raw.faults.as_ref().is_some_and(|f| !f.is_empty());
    let browser = super::browser::browser(raw.browser, &transports, topics, has_faults)?;
    let link = super::network::link(raw.link)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tls = super::tls::tls(raw.tls, dir, &transports, browser.is_some())?;
    let restart_fault = raw
        .faults
        .iter()
        .flatten()
        .find(|f| f.get_ref().kind.get_ref() == "server-restart")
        .map(|f| (f.span(), f.get_ref().signal.is_some()));
    let mut faults = super::network::faults(raw.faults, duration)?;
    let consumers_span = raw
        .consumers
        .as_ref()
        .and_then(|c| c.first())
        .map(|c| c.span());
    let consumers = super::consumers::consumers(raw.consumers, duration)?;
    let reconnect = match &raw.reconnect {
        Some(list) => distinct(list, "reconnect", |name, span| {
            ReconnectPolicy::from_name(name).ok_or_else(|| {
                Located::at(
                    span,
                    format!(
                        "unknown reconnect `{name}`; allowed: {}",
                        ReconnectPolicy::NAMES.join(", ")
                    ),
                )
            })
        })?,
        None => vec![ReconnectPolicy::default()],
    };
    if let (Some(_), Some(span)) = (&browser, consumers_span) {
        return Err(Located::at(
            span,
            "[[consumers]] classes apply to Rust subscribers only; a scenario with [browser] cannot have them",
        ));
    }
    let compare = compare_thresholds(raw.compare)?;
    let online = crate::affinity::online();
    let server = super::placement::server(raw.server, &online)?;
    let load = super::placement::load(raw.load, &online)?;
    if let (ServerMode::InProcess, Some((span, explicit))) = (server.mode, restart_fault.clone()) {
        in_process_restarts(&mut faults, span, explicit)?;
    }
    let mut socket = SocketOptions::default();
    if let Some(nodelay) = raw.socket.and_then(|s| s.nodelay) {
        socket.nodelay = nodelay;
    }
    let tables = transport_tables(raw.transport, doc)?;
    if let (Some((span, _)), Some((kind, addr))) = (restart_fault, tables.addresses.iter().next()) {
        return Err(Located::at(
            span,
            format!(
                "a server-restart needs a server the runner owns, but {kind} is reached at {addr} \
                 (its `address`): someone else runs it; drop the address, or the fault"
            ),
        ));
    }
    Ok(Scenario {
        name: raw.name.into_inner(),
        description: raw.description.into_inner(),
        source: path.to_path_buf(),
        transports,
        duration,
        warmup: timing.warmup,
        drain_timeout: timing.drain_timeout,
        publishers: shape.publishers,
        subscribers: shape.subscribers,
        topics,
        payload_bytes: shape.payload_bytes,
        rates: shape.rates,
        deliveries: shape.deliveries,
        max_in_flight: shape.max_in_flight,
        allow_loss: raw.allow_loss.unwrap_or(false),
        p99_target: timing.p99_target,
        compare,
        socket,
        transport_options: tables.options,
        option_sweeps: tables.sweeps,
        link,
        tls,
        http: tables.http,
        faults,
        consumers,
        reconnect,
        server,
        load,
        addresses: tables.addresses,
        browser,
    })
}

/// An in-process server cannot be killed, only shut down: its restarts stop it gracefully
/// (`term`), and an explicit `signal = "kill"` is refused.
fn in_process_restarts(
    faults: &mut [crate::link::Fault],
    span: Range<usize>,
    explicit: bool,
) -> Result<(), Located> {
    use crate::link::{FaultKind, RestartSignal};
    for f in faults
        .iter_mut()
        .filter(|f| f.kind == FaultKind::ServerRestart)
    {
        if explicit && f.signal == Some(RestartSignal::Kill) {
            return Err(Located::at(
                span,
                "an in-process server cannot be killed (it shares the load generator's process); \
                 use signal = \"term\", or [server] mode = \"process\" (the default)",
            ));
        }
        f.signal = Some(RestartSignal::Term);
    }
    Ok(())
}

/// The name (it becomes a results folder name) and a description that says something.
fn identity(raw: &RawScenario) -> Result<(), Located> {
    let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if raw.name.get_ref().is_empty() || !raw.name.get_ref().chars().all(name_ok) {
        // The name becomes a results folder name.
        return Err(at(
            &raw.name,
            "name must be non-empty and use only letters, digits, '-', '_' and '.'",
        ));
    }
    if raw.description.get_ref().trim().is_empty() {
        return Err(at(
            &raw.description,
            "description must say what the scenario shows",
        ));
    }
    Ok(())
}

/// How long a run measures, warms up and drains, and the latency it aims for.
struct Timing {
    duration: Duration,
    warmup: Duration,
    drain_timeout: Duration,
    p99_target: Option<Duration>,
}

fn timing(raw: &RawScenario) -> Result<Timing, Located> {
    let duration = positive_duration(&raw.duration, "duration")?;
    let warmup = raw
        .warmup
        .as_ref()
        .map_or(Duration::from_secs(1), |d| d.get_ref().0);
    let drain_timeout = match &raw.drain_timeout {
        Some(d) => positive_duration(d, "drain_timeout")?,
        None => Duration::from_secs(5),
    };
    let p99_target = raw
        .p99_target
        .as_ref()
        .map(|d| positive_duration(d, "p99_target"))
        .transpose()?;
    Ok(Timing {
        duration,
        warmup,
        drain_timeout,
        p99_target,
    })
}

/// The load: clients, topics, payloads and rates (the lists are the run matrix's axes).
struct Shape {
    publishers: u32,
    subscribers: Vec<u32>,
    topics: u32,
    payload_bytes: Vec<u64>,
    deliveries: Vec<f64>,
    rates: Vec<Rate>,
    max_in_flight: u32,
}

fn shape(raw: &RawScenario) -> Result<Shape, Located> {
    let publishers = count(raw.publishers.as_ref(), "publishers", 1, (1, 10_000))?;
    let subscribers = match &raw.subscribers {
        Some(list) => distinct(list, "subscribers", |c, span| {
            in_range(c.0, span, "subscribers", 1, 100_000)
        })?,
        None => vec![1],
    };
    let topics = count(raw.topics.as_ref(), "topics", 1, (1, 10_000))?;
    let min_subscribers = subscribers.iter().copied().min().unwrap_or(1);
    if let Some(t) = &raw.topics {
        // Each topic needs a publisher feeding it and a subscriber draining it.
        if topics > publishers || topics > min_subscribers {
            return Err(at(
                t,
                format!(
                    "topics must be <= publishers ({publishers}) and <= the smallest subscriber count ({min_subscribers}), got {topics}"
                ),
            ));
        }
    }
    let payload_bytes = match &raw.payload {
        Some(list) => distinct(list, "payload", payload)?,
        None => vec![100],
    };
    let deliveries = match &raw.deliveries_per_sec {
        Some(list) => distinct(list, "deliveries_per_sec", |r, span| match *r {
            RateItem::PerSec(v) => Ok(v),
            RateItem::Max => Err(Located::at(
                span,
                "deliveries_per_sec must be a number > 0; for closed loop use rate_per_sec = \"max\"",
            )),
        })?,
        None => Vec::new(),
    };
    let rates = match &raw.rate_per_sec {
        Some(list) => distinct(list, "rate_per_sec", |r, _| {
            Ok(match *r {
                RateItem::PerSec(v) => Rate::PerSec(v),
                RateItem::Max => Rate::Max,
            })
        })?,
        // A scenario that fixes deliveries instead runs only those.
        None if !deliveries.is_empty() => Vec::new(),
        None => vec![Rate::PerSec(1000.0)],
    };
    let max_in_flight = count(
        raw.max_in_flight.as_ref(),
        "max_in_flight",
        1000,
        (1, 10_000_000),
    )?;
    Ok(Shape {
        publishers,
        subscribers,
        topics,
        payload_bytes,
        deliveries,
        rates,
        max_in_flight,
    })
}

/// Options per transport as written (`address`, a swept `http` and swept knobs taken out),
/// each checked by that transport's own config type (every combination of swept values), the
/// swept knobs, the addresses of servers someone else runs, and the HTTP versions swept per
/// transport.
#[derive(Default)]
struct TransportTables {
    options: BTreeMap<TransportKind, toml::Table>,
    sweeps: BTreeMap<TransportKind, Vec<OptionSweep>>,
    addresses: BTreeMap<TransportKind, String>,
    http: BTreeMap<TransportKind, Vec<String>>,
}

fn transport_tables(
    raw: Option<BTreeMap<Spanned<String>, Spanned<toml::Table>>>,
    doc: &DeTable<'_>,
) -> Result<TransportTables, Located> {
    let mut out = TransportTables::default();
    for (name, table) in raw.unwrap_or_default() {
        let Some(kind) = TransportKind::from_name(name.get_ref()) else {
            return Err(at(
                &name,
                format!(
                    "unknown transport table `[transport.{}]`; allowed: {}",
                    name.get_ref(),
                    TransportKind::names().join(", ")
                ),
            ));
        };
        let mut table = table.into_inner();
        table.remove(ADDRESS);
        if let Some(mut value) = transport_value(doc, name.get_ref()) {
            if let Some(address) = take_address(kind, &mut value)? {
                out.addresses.insert(kind, address);
            }
            // `http` has its own sweep (each version checked, its own tag); taken out here,
            // the generic knob sweep below never sees it.
            if let Some(versions) = take_http_sweep(kind, &mut value)? {
                table.remove(HTTP);
                out.http.insert(kind, versions);
            }
            let sweeps = super::sweep::sweeps(kind, &value)?;
            for sweep in &sweeps {
                crate::scenario::options::remove(&mut table, &sweep.path);
            }
            if !sweeps.is_empty() {
                out.sweeps.insert(kind, sweeps);
            }
        }
        out.options.insert(kind, table);
    }
    Ok(out)
}

/// `[compare]`: each entry must be a threshold `compare` understands (checked here, so a typo
/// fails when the scenario loads, not when two results are compared months later).
fn compare_thresholds(
    raw: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
) -> Result<BTreeMap<String, String>, Located> {
    let mut out = BTreeMap::new();
    for (metric, value) in raw.unwrap_or_default() {
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            _ => {
                return Err(at(
                    &value,
                    "expected a threshold like \"15%\" or a number of bytes",
                ));
            }
        };
        format!("{}={text}", metric.get_ref())
            .parse::<crate::metric::ThresholdOverride>()
            .map_err(|e| at(&metric, e.to_string()))?;
        out.insert(metric.into_inner(), text);
    }
    Ok(out)
}

fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Located {
    Located::at(value.span(), message)
}

/// The transports to run: the listed ones (default: every registered one), with the baseline
/// first unless the scenario turned it off.
fn transports(
    listed: Option<&Spanned<Vec<Spanned<String>>>>,
    baseline: bool,
) -> Result<Vec<TransportKind>, Located> {
    let allowed = || TransportKind::names().join(", ");
    let mut kinds: Vec<TransportKind> = Vec::new();
    match listed {
        Some(list) => {
            for name in list.get_ref() {
                let kind = TransportKind::from_name(name.get_ref()).ok_or_else(|| {
                    at(
                        name,
                        format!(
                            "unknown transport `{}`; allowed: {}",
                            name.get_ref(),
                            allowed()
                        ),
                    )
                })?;
                if kinds.contains(&kind) {
                    return Err(at(name, format!("transport `{kind}` is listed twice")));
                }
                kinds.push(kind);
            }
        }
        None => kinds.extend(
            TransportKind::ALL
                .iter()
                .filter(|&&k| k != FLOOR && k.runs_by_default()),
        ),
    }
    // The physical floor runs first unless `baseline = false`.
    if baseline {
        kinds.retain(|&k| k != FLOOR);
        kinds.insert(0, FLOOR);
    }
    if kinds.is_empty() {
        let span = listed.map_or(0..0, |l| l.span());
        return Err(Located::at(
            span,
            format!("no transports to run; name at least one of: {}", allowed()),
        ));
    }
    Ok(kinds)
}

fn positive_duration(d: &Spanned<super::raw::Dur>, key: &str) -> Result<Duration, Located> {
    let value = d.get_ref().0;
    if value.is_zero() {
        return Err(at(
            d,
            format!("{key} must be > 0; expected a duration like \"30s\" or \"250ms\""),
        ));
    }
    Ok(value)
}

/// A single count: `default` when absent, else within `min..=max`.
fn count(
    value: Option<&Spanned<Count>>,
    key: &str,
    default: u32,
    (min, max): (i64, i64),
) -> Result<u32, Located> {
    match value {
        Some(c) => in_range(c.get_ref().0, c.span(), key, min, max),
        None => Ok(default),
    }
}

fn payload(size: &Size, span: Range<usize>) -> Result<u64, Located> {
    let header = HEADER_LEN as i64;
    if (header..=MAX_PAYLOAD).contains(&size.0) {
        Ok(size.0 as u64)
    } else {
        Err(Located::at(
            span,
            format!(
                "payload must be between {header}B (the harness header) and {}, got {}B",
                text::exact_size(MAX_PAYLOAD as u64),
                size.0
            ),
        ))
    }
}

/// The spanned value of `transport.<name>` in the parsed document.
fn transport_value<'i>(doc: &DeTable<'i>, name: &str) -> Option<Spanned<DeValue<'i>>> {
    let (_, transport) = doc.iter().find(|(k, _)| k.get_ref() == "transport")?;
    let DeValue::Table(tables) = transport.get_ref() else {
        return None;
    };
    tables
        .iter()
        .find(|(k, _)| k.get_ref() == name)
        .map(|(_, v)| v.clone())
}
