//! The validated scenario: what a run matrix is made of, with every default filled in.
//!
//! Loading (`load.rs`) turns TOML into this type or an error naming file, line and column; the
//! runner only ever sees a [`Scenario`] that passed validation, expanded into [`RunSpec`]s.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use transport_core::{ReconnectPolicy, SocketOptions};

use super::consumers::ConsumerClass;
use super::options::{OptionSweep, set, tag_text};
use super::tls::TlsSettings;
use crate::link::{Fault, LinkConfig};
use crate::registry::TransportKind;
use crate::text;

/// Offered load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rate {
    /// Open loop: this many messages per second in total, spread evenly over publishers.
    PerSec(f64),
    /// Closed loop: publishers send as fast as a bounded in-flight window allows.
    Max,
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::PerSec(r) => write!(f, "{r}"),
            Rate::Max => f.write_str("max"),
        }
    }
}

/// One value of the matrix's load dimension.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// An offered publish rate.
    Rate(Rate),
    /// A total delivery rate, turned into a publish rate per subscriber count.
    Deliveries(f64),
}

/// A validated scenario file.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Short name; names the results folder.
    pub name: String,
    /// What the scenario is meant to show.
    pub description: String,
    /// The file it came from.
    pub source: PathBuf,
    /// Transports to compare, raw-tcp included unless the scenario set `baseline = false`.
    pub transports: Vec<TransportKind>,
    /// Measured window per run.
    #[serde(with = "transport_core::duration")]
    pub duration: Duration,
    /// Phase before the measured window whose samples are discarded (messages still audited).
    #[serde(with = "transport_core::duration")]
    pub warmup: Duration,
    /// How long after the last publish subscribers may take to catch up before the rest counts
    /// as lost.
    #[serde(with = "transport_core::duration")]
    pub drain_timeout: Duration,
    /// Publishers per run, spread round-robin over topics.
    pub publishers: u32,
    /// Subscriber counts to sweep, spread round-robin over topics.
    pub subscribers: Vec<u32>,
    /// Number of topics.
    pub topics: u32,
    /// Message sizes to sweep, in bytes (the harness header is part of it).
    pub payload_bytes: Vec<u64>,
    /// Offered rates to sweep.
    pub rates: Vec<Rate>,
    /// Total delivery rates to sweep (`deliveries_per_sec`): each run publishes
    /// `deliveries × topics / subscribers` msg/s, so every subscriber count gets the same
    /// deliveries per second and a scale sweep compares like with like.
    pub deliveries: Vec<f64>,
    /// In closed-loop (`max`) runs, messages per topic a publisher may have outstanding
    /// (published but not yet delivered to every subscriber).
    pub max_in_flight: u32,
    /// If true, lost messages are reported but do not fail the run.
    pub allow_loss: bool,
    /// Latency target for "max sustainable rate" reporting, if the scenario names one.
    #[serde(with = "transport_core::duration::option")]
    pub p99_target: Option<Duration>,
    /// Regression thresholds from `[compare]` (`metric → "15%"` or bytes), used by `compare`
    /// below command-line overrides.
    pub compare: BTreeMap<String, String>,
    /// Socket options for every socket.
    pub socket: SocketOptions,
    /// Each transport's `[transport.<name>]` table as written (already validated against the
    /// transport's config type), without its swept knobs; missing tables mean defaults. A run's
    /// own table is [`Scenario::options_for`].
    pub transport_options: BTreeMap<TransportKind, toml::Table>,
    /// Knobs of `[transport.<name>]` tables written as lists, by transport: each a dimension
    /// of that transport's runs (`options.rs`). The effective scenario shows them as lists in
    /// `transport_options`, and each run's `transport_options` its own value.
    #[serde(skip)]
    pub option_sweeps: BTreeMap<TransportKind, Vec<OptionSweep>>,
    /// The emulated link between every client and the server (`[link]`); `None` connects
    /// clients directly (unless faults need the proxy, which then relays without shaping).
    pub link: Option<LinkConfig>,
    /// TLS (`[tls]`); `None`: every run over plaintext, untagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// HTTP versions swept per transport (`[transport.<name>] http = ["1.1", "2"]`), each run
    /// tagged `http=…`; taken out of the transport's table, which gets one value per run.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub http: BTreeMap<TransportKind, Vec<String>>,
    /// Faults fired during the measured window (`[[faults]]`), in time order; empty by default.
    pub faults: Vec<Fault>,
    /// Consumer classes that fall behind (`[[consumers]]`), in file order; empty by default
    /// (every subscriber reads at full speed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ConsumerClass>,
    /// How clients wait between reconnect attempts (`reconnect`), each a cell of the matrix;
    /// `full-jitter` by default.
    pub reconnect: Vec<ReconnectPolicy>,
    /// Where the server runs (`[server]`).
    pub server: ServerPlacement,
    /// Where the load generator runs (`[load]`).
    pub load: LoadPlacement,
    /// Servers someone else runs, by transport (`[transport.<name>] address = "host:port"`):
    /// those runs start no server. Recorded in `environment.placement`, not here, so shards
    /// given different addresses for one server still hold the same effective scenario.
    #[serde(skip)]
    pub addresses: BTreeMap<TransportKind, String>,
    /// Browser subscriber runs (`[browser]`), beside the Rust-client runs; `None` without.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub browser: Option<BrowserRuns>,
}

/// `[browser]`: runs whose subscribers live in one headless Chromium page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrowserRuns {
    /// Subscriber counts to sweep (all in one page, on one origin).
    pub subscribers: Vec<u32>,
    /// Web transports that get browser runs.
    pub transports: Vec<TransportKind>,
}

/// Who subscribes in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// The transport's own Rust subscriber.
    #[default]
    Rust,
    /// Subscribers in a headless Chromium page (`[browser]`).
    Browser,
}

/// Checks that `s` is `HOST:PORT` with a non-empty host and a port in 1..=65535 (an IPv6 host
/// in brackets), the form `[transport.<name>] address` and `run --server` take.
pub fn check_host_port(s: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "`{s}` is not HOST:PORT ({why}), e.g. 10.0.0.5:8080"
        ))
    };
    let Some((host, port)) = s.rsplit_once(':') else {
        return bad("no port");
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return bad("no host");
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return bad("an IPv6 host goes in brackets");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => bad("the port must be a number in 1..=65535"),
    }
}

/// Where a run's server lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerMode {
    /// A child process of this binary (`transport-bench serve`), so its CPU, memory and
    /// descriptors are its own and can be measured apart from the load generator's.
    #[default]
    Process,
    /// Inside the load generator's process, on its runtime (no server resources measured).
    InProcess,
}

impl ServerMode {
    /// Every mode's scenario name, for error messages.
    pub const NAMES: &'static [&'static str] = &["process", "in-process"];

    /// Looks a mode up by its scenario name.
    pub fn from_name(name: &str) -> Option<ServerMode> {
        match name {
            "process" => Some(ServerMode::Process),
            "in-process" => Some(ServerMode::InProcess),
            _ => None,
        }
    }
}

/// `[server]`: placement of the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerPlacement {
    /// Child process or in-process.
    pub mode: ServerMode,
    /// CPUs the server process may run on (`None`: the scheduler's choice).
    pub cpus: Option<Vec<u32>>,
}

/// `[load]`: placement of the load generator (this process).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadPlacement {
    /// CPUs the load generator's threads may run on (`None`: the scheduler's choice).
    pub cpus: Option<Vec<u32>>,
}

/// One cell of the run matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSpec {
    /// Transport under test.
    pub transport: TransportKind,
    /// Message size in bytes.
    pub payload_bytes: u64,
    /// Offered load.
    pub rate: Rate,
    /// Subscribers in this run.
    pub subscribers: u32,
    /// Who subscribes (tagged `client=browser` for browser runs; Rust runs keep their names).
    pub client: Client,
    /// How its clients wait between reconnect attempts.
    #[serde(skip_serializing_if = "is_full_jitter")]
    pub reconnect: ReconnectPolicy,
    /// Whether every socket of the run carries TLS (tagged `tls=on|off` when the scenario has
    /// `[tls]`).
    pub tls: bool,
    /// The HTTP version of this run when the scenario sweeps its transport's `http` (tagged
    /// `http=1.1|2`); `None`: the table's own value, or the transport's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Share of the subscribers in each of the scenario's consumer classes (same order);
    /// empty without `[[consumers]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumer_shares: Vec<f64>,
    /// This run's value of each knob its transport's table sweeps, by tag (`batch` → 10);
    /// empty when the table sweeps nothing.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, toml::Value>,
    /// Tags naming the run: every swept dimension, sorted by key.
    pub tags: BTreeMap<String, String>,
}

fn is_full_jitter(p: &ReconnectPolicy) -> bool {
    *p == ReconnectPolicy::FullJitter
}

impl RunSpec {
    /// The run's name: its tags joined as `key=value,...` in key order.
    pub fn name(&self) -> String {
        self.tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Scenario {
    /// Expands list-valued fields into the run matrix, transports outermost so that each
    /// transport's sweep runs back to back.
    pub fn expand(&self) -> Vec<RunSpec> {
        let mut runs = Vec::new();
        let tls = self.tls.as_ref().map_or(&[false][..], |t| &t.enabled[..]);
        for (&transport, &tls) in self
            .transports
            .iter()
            .flat_map(|t| tls.iter().map(move |s| (t, s)))
        {
            for &payload_bytes in &self.payload_bytes {
                for load in self.loads() {
                    for &subscribers in &self.subscribers {
                        let (rate, load_tag) = match load {
                            Load::Rate(rate) => (rate, ("rate", rate.to_string())),
                            Load::Deliveries(d) => (
                                Rate::PerSec(d * f64::from(self.topics) / f64::from(subscribers)),
                                ("deliveries", d.to_string()),
                            ),
                        };
                        let mut tags = BTreeMap::from([
                            ("payload".to_owned(), text::exact_size(payload_bytes)),
                            (load_tag.0.to_owned(), load_tag.1),
                            ("subscribers".to_owned(), subscribers.to_string()),
                            ("transport".to_owned(), transport.name().to_owned()),
                        ]);
                        if self.tls.is_some() {
                            let on = if tls { "on" } else { "off" };
                            tags.insert("tls".to_owned(), on.to_owned());
                        }
                        let cell = RunSpec {
                            transport,
                            payload_bytes,
                            rate,
                            subscribers,
                            client: Client::Rust,
                            reconnect: ReconnectPolicy::default(),
                            tls,
                            http: None,
                            consumer_shares: Vec::new(),
                            options: BTreeMap::new(),
                            tags,
                        };
                        runs.extend(
                            self.with_http(cell)
                                .into_iter()
                                .flat_map(|c| self.with_reconnect(c))
                                .flat_map(|c| self.with_options(c))
                                .flat_map(|c| self.with_consumer_shares(c)),
                        );
                    }
                }
            }
            runs.extend(self.browser_runs(transport, tls));
        }
        runs
    }

    /// One cell per HTTP version the scenario sweeps for the cell's transport, tagged
    /// `http=…` (just `cell` without a sweep).
    fn with_http(&self, cell: RunSpec) -> Vec<RunSpec> {
        let Some(versions) = self.http.get(&cell.transport) else {
            return vec![cell];
        };
        versions
            .iter()
            .map(|v| {
                let mut c = cell.clone();
                c.http = Some(v.clone());
                c.tags.insert("http".to_owned(), v.clone());
                c
            })
            .collect()
    }

    /// One cell per reconnect policy, tagged `reconnect=…` when the scenario sweeps them.
    fn with_reconnect(&self, cell: RunSpec) -> Vec<RunSpec> {
        self.reconnect
            .iter()
            .map(|&policy| {
                let mut c = cell.clone();
                c.reconnect = policy;
                if self.reconnect.len() > 1 {
                    c.tags
                        .insert("reconnect".to_owned(), policy.name().to_owned());
                }
                c
            })
            .collect()
    }

    /// `cell` once per combination of the consumer classes' shares, tagged `<behaviour>_share`
    /// (just `cell` without classes).
    fn with_consumer_shares(&self, cell: RunSpec) -> Vec<RunSpec> {
        let mut cells = vec![cell];
        for class in &self.consumers {
            cells = cells
                .into_iter()
                .flat_map(|c| {
                    class.share.iter().map(move |&share| {
                        let mut c = c.clone();
                        c.consumer_shares.push(share);
                        c.tags.insert(class.tag(), share.to_string());
                        c
                    })
                })
                .collect();
        }
        cells
    }

    /// The browser cells of `transport` over TLS or not (`tls`): the same payloads and loads,
    /// with the browser's subscriber counts, tagged `client=browser`.
    fn browser_runs(&self, transport: TransportKind, tls: bool) -> Vec<RunSpec> {
        let Some(b) = self
            .browser
            .as_ref()
            .filter(|b| b.transports.contains(&transport))
        else {
            return Vec::new();
        };
        let rust = Scenario {
            browser: None,
            transports: vec![transport],
            // This pass of the caller's TLS sweep only; it calls once per value.
            tls: self.tls.clone().map(|mut t| {
                t.enabled = vec![tls];
                t
            }),
            subscribers: b.subscribers.clone(),
            ..self.clone()
        };
        let mut runs = rust.expand();
        for r in &mut runs {
            r.client = Client::Browser;
            r.tags.insert("client".to_owned(), "browser".to_owned());
        }
        runs
    }

    /// The load dimension of the matrix: offered rates, then fixed delivery rates.
    fn loads(&self) -> impl Iterator<Item = Load> + '_ {
        let rates = self.rates.iter().map(|&r| Load::Rate(r));
        rates.chain(self.deliveries.iter().map(|&d| Load::Deliveries(d)))
    }

    /// Total planned time for the matrix (warm-up plus measured window per run), without drains.
    pub fn planned_time(&self) -> Duration {
        (self.duration + self.warmup) * self.expand().len() as u32
    }
}

impl Scenario {
    /// `cell` once per combination of the values its transport's table sweeps, each tagged
    /// `<knob>=<value>` (just `cell` when the table sweeps nothing).
    fn with_options(&self, cell: RunSpec) -> Vec<RunSpec> {
        let mut cells = vec![cell];
        let Some(sweeps) = self.option_sweeps.get(&cells[0].transport) else {
            return cells;
        };
        for sweep in sweeps {
            cells = cells
                .into_iter()
                .flat_map(|c| {
                    sweep.values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.tags.insert(sweep.key(), tag_text(v));
                        c.options.insert(sweep.key(), v.clone());
                        c
                    })
                })
                .collect();
        }
        cells
    }

    /// The `[transport.<name>]` table of `spec`'s run: the table as written with the run's own
    /// value of every swept knob. `None` when the scenario has no table for the transport.
    pub fn options_for(&self, spec: &RunSpec) -> Option<toml::Table> {
        let base = self.transport_options.get(&spec.transport);
        let sweeps = self.option_sweeps.get(&spec.transport);
        let (Some(sweeps), false) = (sweeps, spec.options.is_empty()) else {
            return base.cloned();
        };
        let mut table = base.cloned().unwrap_or_default();
        for sweep in sweeps {
            if let Some(v) = spec.options.get(&sweep.key()) {
                set(&mut table, &sweep.path, v.clone());
            }
        }
        Some(table)
    }
}
