//! `report.md` next to `summary.json`: scenario, environment, findings computed from the data,
//! the claims check when the scenario sweeps rates, the summary table, the sections particular
//! scenarios call for (option sweeps, servers compared, push vs pull on one server) and the
//! charts.
//!
//! [`regenerate`] rebuilds charts and report from a saved results folder, so `transport-bench
//! report DIR` never needs to re-run anything.

pub(crate) mod browser;
pub mod claims;
pub(crate) mod conditions;
pub(crate) mod consumers;
pub(crate) mod findings;
pub(crate) mod h2;
pub(crate) mod limits;
pub(crate) mod push_pull;
pub(crate) mod scale;
pub(crate) mod servers;
pub(crate) mod storms;
pub(crate) mod sweeps;
pub(crate) mod tables;
pub(crate) mod tls;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::charts::{self, figures, select};
use crate::results::{SCHEMA_VERSION, Summary};

/// File name of the report inside a results folder.
pub const REPORT_FILE: &str = "report.md";

/// What [`write_outputs`] and [`regenerate`] wrote.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Chart files, in report order.
    pub charts: Vec<PathBuf>,
    /// The report.
    pub report: PathBuf,
}

/// Draws the charts and writes the report for `summary` into `dir` (the runner calls this right
/// after writing `summary.json`).
pub fn write_outputs(summary: &Summary, dir: &Path) -> anyhow::Result<Outputs> {
    let charts = charts::render_all(summary, dir)?;
    let report = write_report(summary, dir, &charts)?;
    Ok(Outputs { charts, report })
}

/// Reads `dir/summary.json` and rewrites the charts and the report from it.
pub fn regenerate(dir: &Path) -> anyhow::Result<Outputs> {
    let path = dir.join("summary.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let summary: Summary =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(
        summary.schema_version == SCHEMA_VERSION,
        "{} has schema version {}, this tool reads version {SCHEMA_VERSION}",
        path.display(),
        summary.schema_version
    );
    write_outputs(&summary, dir)
}

/// Writes `dir/report.md` for `summary`, linking `charts` (paths in `dir`); returns its path.
pub fn write_report(summary: &Summary, dir: &Path, charts: &[PathBuf]) -> anyhow::Result<PathBuf> {
    let path = dir.join(REPORT_FILE);
    write_atomic(&path, &render(summary, charts))?;
    Ok(path)
}

/// Writes `contents` to a temporary file beside `path` and renames it into place.
pub fn write_atomic(path: &Path, contents: &str) -> anyhow::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} into place", path.display()))
}

/// The report's Markdown.
pub fn render(summary: &Summary, charts: &[PathBuf]) -> String {
    let target = select::p99_target(summary);
    let mut out = header(summary, target);
    out.push_str("## Environment\n\n");
    out.push_str(&tables::environment(summary));
    let variants = select::variants(summary);
    // The variant over HTTP/2 and TLS, whose claims fill the claims tables' last column.
    let deployed = variants.iter().find(|v| {
        let tags: Vec<&str> = v.label.split(", ").collect();
        tags.contains(&"http=2") && tags.contains(&"tls=on")
    });
    for v in &variants {
        out.push_str(&variant(v, target, deployed));
    }
    out.push_str(&sweeps::markdown(summary));
    out.push_str(&conditions::markdown(summary));
    out.push_str(&storms::markdown(summary));
    out.push_str(&scale::markdown(summary));
    out.push_str(&consumers::markdown(summary));
    out.push_str(&browser::markdown(summary));
    out.push_str(&servers::markdown(summary));
    out.push_str(&push_pull::markdown(summary));
    out.push_str(&tls::markdown(summary));
    out.push_str(&h2::markdown(summary));
    out.push_str(&chart_section(summary, charts));
    out.push_str(&caveats(summary));
    out
}

/// Title, what ran, the p99 target and the link the runs went over.
fn header(summary: &Summary, target: Option<std::time::Duration>) -> String {
    let s = &summary.scenario;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# transport-bench: {}\n\n{}\n",
        s.name,
        s.description.trim()
    );
    let mut transports: Vec<&str> = Vec::new();
    for r in &summary.runs {
        if !transports.contains(&r.transport.name()) {
            transports.push(r.transport.name());
        }
    }
    let _ = writeln!(
        out,
        "Scenario file `{}`; {} runs of {} transports ({}). Latency is measured from each message's \
         intended send time (open loop), so a generator that fell behind shows up as latency, not as \
         missing samples; runs that could not keep the offered rate are marked saturated.\n",
        s.file,
        summary.runs.len(),
        transports.len(),
        transports.join(", ")
    );
    if let Some(t) = target {
        let _ = writeln!(
            out,
            "p99 target for \"max sustainable rate\": {}.\n",
            crate::text::nanos(t.as_nanos() as f64)
        );
    }
    if let Some(link) = conditions::link_sentence(summary) {
        let _ = writeln!(out, "{link}\n");
    }
    out
}

/// One variant's findings, claims and run table; `deployed` (the variant over HTTP/2 and TLS,
/// if the scenario has one) adds a column to the claims table.
fn variant(
    v: &select::Variant<'_>,
    target: Option<std::time::Duration>,
    deployed: Option<&select::Variant<'_>>,
) -> String {
    let mut out = String::new();
    let suffix = if v.label.is_empty() {
        String::new()
    } else {
        format!(" ({})", v.label)
    };
    let _ = writeln!(out, "\n## Findings{suffix}\n");
    for f in findings::findings(v, target) {
        let _ = writeln!(out, "- {f}");
    }
    let verdicts = claims::verdicts(v, target);
    if v.open_rates().len() > 1 && !verdicts.is_empty() {
        let _ = writeln!(out, "\n## Claims vs measurement{suffix}\n");
        out.push_str(
            "The claim under test: \"long polling: 100–1K msg/s, medium latency, high header overhead; \
             WebSockets: 1K–10K msg/s, low latency; Kafka-style pull: 100K–1M+ msg/s, medium latency, \
             very high throughput\". Capacity is the highest rate at which a run had no saturation, \
             no loss and p99 within the target (open-loop runs at their offered rate, the closed-loop \
             run at its throughput). Latency classes compare p50 with the raw-TCP floor's at the same \
             offered rate (low < 3×, medium 3–30×, high ≥ 30×); overhead classes count non-payload \
             bytes per delivered message (low < 32 B, medium 32–200 B, high ≥ 200 B). Loopback has \
             no network round trip, which flatters every pattern that needs one.\n\n",
        );
        // The deployed variant's own table needs no column repeating itself.
        let other = deployed.filter(|d| !std::ptr::eq(*d, v));
        out.push_str(&claims_table(
            verdicts,
            other.map(|d| claims::verdicts(d, target)),
        ));
    }
    let _ = writeln!(out, "\n## Runs{suffix}\n");
    out.push_str(&tables::runs(v));
    out
}

/// The claims table; with `deployed` verdicts (over HTTP/2 and TLS), a column of what each
/// claim measured there ("–" where that variant has no such row).
fn claims_table(verdicts: Vec<claims::Verdict>, deployed: Option<Vec<claims::Verdict>>) -> String {
    let mut out = String::new();
    match &deployed {
        Some(_) => out.push_str(
            "| transport | claim | measured | verdict | over HTTP/2 + TLS |\n|---|---|---|---|---|\n",
        ),
        None => out.push_str("| transport | claim | measured | verdict |\n|---|---|---|---|\n"),
    }
    for r in verdicts {
        let _ = write!(
            out,
            "| {} | {} | {} | {} |",
            r.transport,
            tables::cell(&r.claim),
            tables::cell(&r.measured),
            tables::cell(&r.verdict)
        );
        if let Some(d) = &deployed {
            let there = d
                .iter()
                .find(|o| o.transport == r.transport && o.claim == r.claim)
                .map_or_else(
                    || "–".to_owned(),
                    |o| format!("{} ({})", o.measured, o.verdict),
                );
            let _ = write!(out, " {} |", tables::cell(&there));
        }
        out.push('\n');
    }
    out
}

/// Every chart drawn, with its title and subtitle (empty without charts).
fn chart_section(summary: &Summary, charts: &[PathBuf]) -> String {
    let mut out = String::new();
    if !charts.is_empty() {
        out.push_str("\n## Charts\n");
        let figs = figures(summary);
        for path in charts {
            let file = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let fig = figs.iter().find(|f| f.file == file);
            let title = fig.map_or(file, |f| f.title.as_str());
            let _ = writeln!(out, "\n### {title}\n\n![{title}]({file})\n");
            if let Some(f) = fig {
                let _ = writeln!(out, "_{}_", f.subtitle);
            }
        }
    }
    out
}

/// What the figures cannot show.
fn caveats(summary: &Summary) -> String {
    let mut out = String::new();
    out.push_str("\n## Caveats\n\n");
    if conditions::link_sentence(summary).is_some() {
        out.push_str(
            "- The link is emulated on loopback: delay, jitter and bandwidth are applied per \
             connection by a proxy, but there is no packet loss and no congestion shared between \
             connections.\n",
        );
    } else {
        out.push_str(
            "- Loopback is not a network: there is no propagation delay, loss or bandwidth limit, \
             so patterns that need extra round trips (polls, fetches) look better here than \
             across a WAN.\n",
        );
    }
    out.push_str(
        "- Figures compare transports within this run; compare across machines only as ratios \
         to the raw-TCP floor.\n",
    );
    out
}
