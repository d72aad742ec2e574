//! Charts and report from a synthetic summary of four transports swept over three offered rates
//! plus closed loop: PNGs exist with the right size and are not blank, the chart data matches a
//! checked-in snapshot, the report names every transport and judges the claims, and `report`
//! on a saved folder reproduces the charts byte for byte.

use std::path::Path;
use transport_bench::registry::TransportKind;

use transport_bench::charts::{self, HEIGHT, WIDTH, figures, style};
use transport_bench::report::{self, claims};
use transport_bench::results::Summary;

#[path = "charts/fixture.rs"]
mod fixture;

use fixture::{TRANSPORTS, run, summary};

/// The chart tests' usual summary: three offered rates and a max-rate run. (Here, not in
/// `fixture.rs`, which `merge.rs` also includes: there it would be dead code.)
fn sweep() -> Summary {
    summary(&[Some(1_000.0), Some(10_000.0), Some(100_000.0), None])
}

const SNAPSHOT: &str = "tests/charts/figures.json";

/// Decodes a PNG and checks its size, that it is not blank, that the title band has text, and
/// that each listed transport's colour appears.
fn check_png(path: &Path, transports: &[&str]) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), (WIDTH, HEIGHT), "{}", path.display());
    let non_white = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    let total = (WIDTH * HEIGHT) as usize;
    assert!(
        non_white > total / 50,
        "{} is nearly blank: {non_white} of {total} pixels drawn",
        path.display()
    );
    let title_ink = (0..WIDTH)
        .flat_map(|x| (0..40).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
        .count();
    assert!(
        title_ink > 300,
        "{}: no title text ({title_ink} dark pixels)",
        path.display()
    );
    for t in transports {
        let c = style::colour(t);
        assert!(
            img.pixels().any(|p| p.0 == [c.0, c.1, c.2]),
            "{}: nothing drawn in {t}'s colour",
            path.display()
        );
    }
}

#[test]
fn every_chart_is_written_sized_and_not_blank() {
    let dir = tempfile::tempdir().unwrap();
    let written = charts::render_all(&sweep(), dir.path()).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "latency-spectrum.png",
            "throughput.png",
            "wire-bytes.png",
            "rate-sweep.png",
            "timeseries.png",
            "delivery-units.png"
        ]
    );
    for path in &written {
        check_png(path, &TRANSPORTS);
    }
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    if let Ok(keep) = std::env::var("KEEP_CHARTS") {
        for p in &written {
            std::fs::copy(p, Path::new(&keep).join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn chart_data_matches_snapshot() {
    let json = serde_json::to_string_pretty(&figures(&sweep())).unwrap() + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &json).unwrap();
    }
    let expected =
        std::fs::read_to_string(&path).expect("snapshot missing: run with UPDATE_SNAPSHOTS=1");
    if expected != json {
        std::fs::write(path.with_extension("json.new"), &json).unwrap();
        panic!(
            "chart data differs from {SNAPSHOT}; see the .new file, and rerun with UPDATE_SNAPSHOTS=1 if intended"
        );
    }
}

#[test]
fn single_rate_skips_the_sweep_and_repetitions_use_the_median() {
    let mut s = summary(&[Some(1_000.0)]);
    // Two more repetitions of websocket: p99 +1 µs and +2 µs; the median is the +1 µs one.
    s.runs.push(run("websocket", Some(1_000.0), 2));
    s.runs.push(run("websocket", Some(1_000.0), 1));
    let figs = figures(&s);
    assert!(figs.iter().all(|f| f.file != "rate-sweep.png"));
    let spectrum = &figs[0];
    assert!(
        spectrum
            .subtitle
            .contains("median-p99 run of 3 repetitions"),
        "{}",
        spectrum.subtitle
    );
    let v = &transport_bench::charts::select::variants(&s)[0];
    let ws = v
        .cell(
            TransportKind::WebSocket,
            transport_bench::charts::select::RateKey::PerSec(1_000.0),
        )
        .unwrap();
    assert_eq!(
        (ws.repetitions, ws.run.latency.latency_ns.p99),
        (3, 112_000)
    );
}

#[test]
fn report_names_every_transport_and_judges_the_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = report::write_outputs(&sweep(), dir.path()).unwrap();
    let text = std::fs::read_to_string(&out.report).unwrap();
    if let Ok(keep) = std::env::var("KEEP_CHARTS") {
        std::fs::write(Path::new(&keep).join("report.md"), &text).unwrap();
    }
    for t in TRANSPORTS {
        assert!(
            text.contains(&format!("**{t}**")),
            "report does not name {t}"
        );
    }
    for c in &out.charts {
        assert!(text.contains(&format!("]({})", c.file_name().unwrap().to_string_lossy())));
    }
    assert!(text.contains("## Claims vs measurement"));
    let s = sweep();
    let v = &transport_bench::charts::select::variants(&s)[0];
    let verdicts = claims::verdicts(v, Some(std::time::Duration::from_millis(10)));
    let row = |t: &str, claim: &str| {
        verdicts
            .iter()
            .find(|r| r.transport.name() == t && r.claim.starts_with(claim))
            .unwrap()
            .verdict
            .clone()
    };
    // long-poll sustains 10K (p99 900 µs): 10× above the claimed 1K ceiling.
    assert_eq!(
        row("long-poll", "100–1K"),
        "does not hold: 10× above the claimed ceiling (understated)"
    );
    // At 1K msg/s (its claimed ceiling) long-poll carries ~340 B of overhead per message.
    assert_eq!(row("long-poll", "high header overhead"), "holds");
    // websocket sustains every rate, so closed-loop 250K is its figure.
    assert_eq!(
        row("websocket", "1K–10K"),
        "does not hold: 25× above the claimed ceiling (understated)"
    );
    assert_eq!(row("websocket", "low latency"), "holds");
    // The floor's ratio is about p50; the p99 shown is the transport's own.
    let measured = &verdicts
        .iter()
        .find(|r| r.transport == TransportKind::WebSocket && r.claim.starts_with("low latency"))
        .unwrap()
        .measured;
    assert!(
        measured.contains("the raw-TCP floor's p50)") && measured.contains("this transport's p99"),
        "{measured}"
    );
    assert_eq!(row("pull-log", "100K–1M+"), "holds");
    assert_eq!(
        row("pull-log", "very high"),
        "holds: 3.6× the next best (websocket)"
    );
    assert!(
        text.contains("p99 is") && text.contains("lower than"),
        "{text}"
    );
}

#[test]
fn report_subcommand_reproduces_the_charts() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep();
    std::fs::write(
        dir.path().join("summary.json"),
        serde_json::to_vec_pretty(&s).unwrap(),
    )
    .unwrap();
    let first = report::write_outputs(&s, dir.path()).unwrap();
    let before: Vec<Vec<u8>> = first
        .charts
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    for p in &first.charts {
        std::fs::remove_file(p).unwrap();
    }
    let again = report::regenerate(dir.path()).unwrap();
    assert_eq!(again.charts, first.charts);
    let after: Vec<Vec<u8>> = again
        .charts
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(
        before == after,
        "regenerated charts differ from the originals"
    );
    assert!(again.report.exists());
}

#[test]
fn no_system_font_or_tls_library_in_the_dependency_tree() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            // Every member and every edge kind: a dev-dependency (criterion's plots) that pulled
            // in fontconfig would break `cargo test` on a minimal machine just the same.
            "--workspace",
            "-e",
            "all",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    for banned in [
        "fontconfig",
        "freetype",
        "font-kit",
        "openssl-sys",
        "aws-lc-sys",
        "yeslogic",
    ] {
        assert!(
            !tree.lines().any(|l| l.starts_with(banned)),
            "{banned} is in the dependency tree"
        );
    }
    assert!(
        tree.lines().any(|l| l.starts_with("ab_glyph")),
        "plotters should render text with ab_glyph"
    );
}

/// Rebuilds charts and report in a saved results folder: `REPORT_DIR=results/quick/<time>
/// cargo test -p transport-bench --test charts -- --ignored regenerate_saved_folder`.
#[test]
#[ignore = "needs REPORT_DIR pointing at a saved results folder"]
fn regenerate_saved_folder() {
    let dir = std::env::var("REPORT_DIR").expect("set REPORT_DIR");
    let out = report::regenerate(Path::new(&dir)).unwrap();
    let transports: Vec<String> = {
        let s: transport_bench::results::Summary =
            serde_json::from_slice(&std::fs::read(Path::new(&dir).join("summary.json")).unwrap())
                .unwrap();
        let mut t: Vec<String> = s
            .runs
            .iter()
            .map(|r| r.transport.name().to_owned())
            .collect();
        t.dedup();
        t
    };
    let names: Vec<&str> = transports.iter().map(String::as_str).collect();
    for p in &out.charts {
        check_png(p, &names);
    }
    println!("{}", out.report.display());
}

#[test]
fn each_payload_gets_its_own_charts_named_by_what_differs() {
    let mut s = summary(&[Some(1_000.0), Some(10_000.0)]);
    let big: Vec<_> = s
        .runs
        .iter()
        .cloned()
        .map(|mut r| {
            r.tags.insert("payload".to_owned(), "1KiB".to_owned());
            r.payload_bytes = 1024;
            r
        })
        .collect();
    s.runs.extend(big);
    let files: Vec<String> = figures(&s).into_iter().map(|f| f.file).collect();
    assert!(
        files.contains(&"latency-spectrum_payload-100B.png".to_owned()),
        "{files:?}"
    );
    assert!(
        files.contains(&"rate-sweep_payload-1KiB.png".to_owned()),
        "{files:?}"
    );
    let mut unique = files.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), files.len(), "file names collide: {files:?}");
    let dir = tempfile::tempdir().unwrap();
    let out = report::write_outputs(&s, dir.path()).unwrap();
    assert_eq!(out.charts.len(), files.len());
    let text = std::fs::read_to_string(&out.report).unwrap();
    assert!(text.contains("## Findings (payload=1KiB)"), "{text}");
}

#[test]
fn empty_and_degenerate_summaries_still_render() {
    let dir = tempfile::tempdir().unwrap();
    // No runs at all: no charts, but a report.
    let mut s = summary(&[]);
    let out = report::write_outputs(&s, dir.path()).unwrap();
    assert!(out.charts.is_empty());
    assert!(out.report.exists());
    // One failed run with nothing measured: every applicable chart still draws.
    let mut r = run("websocket", Some(1_000.0), 0);
    r.latency.latency_spectrum.clear();
    r.timeseries.clear();
    r.latency.latency_ns = Default::default();
    r.latency.throughput = Default::default();
    r.delivery.lost = 5_000;
    r.status = transport_bench::results::summary::RunStatus::Failed;
    s.runs.push(r);
    let out = report::write_outputs(&s, dir.path()).unwrap();
    assert!(!out.charts.is_empty());
    let text = std::fs::read_to_string(&out.report).unwrap();
    assert!(text.contains("5000 lost"), "{text}");
}

#[test]
fn low_rate_runs_report_their_cost_of_staying_connected() {
    let mut s = summary(&[Some(0.2), Some(1_000.0)]);
    for r in &mut s.runs {
        r.cost.idle_cost.bytes_per_subscriber_per_min = 224.0;
        r.cost.idle_cost.requests_per_subscriber_per_min = 4.0;
        r.cost.idle_cost.requests = std::collections::BTreeMap::from([("pings".to_owned(), 800)]);
    }
    let text = report::render(&s, &[]);
    let section = text
        .split("## Cost of staying connected")
        .nth(1)
        .expect("an idle section for runs offered at most 1 msg/s");
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| run"))
        .collect();
    assert_eq!(
        rows.len(),
        TRANSPORTS.len(),
        "only the 0.2 msg/s runs: {rows:#?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.contains("224 B") && r.contains("800 pings")),
        "{rows:#?}"
    );
    assert!(!text.contains("## Faults"), "no faults, no section");
    assert!(text.contains("Loopback is not a network"));
}

/// A subscriber sweep with server figures gets the server-cost chart and the report's scale
/// section, which ranks the transports and holds the pull log against the push servers.
#[test]
fn a_subscriber_sweep_reports_server_cost_per_subscriber_and_message() {
    let base = summary(&[Some(1_000.0)]);
    let mut s = base.clone();
    s.runs.clear();
    for (n, grow) in [(100u32, 1.0), (1_000, 1.1)] {
        for (i, r) in base.runs.iter().enumerate() {
            let mut r = r.clone();
            r.subscribers = n;
            r.tags.insert("subscribers".to_owned(), n.to_string());
            let server = &mut r.cost.resources.server;
            server.available = true;
            // raw-tcp 10 KB, long-poll 20 KB, websocket 30 KB, pull-log 40 KB per subscriber.
            server.rss_bytes_per_subscriber = Some(10_000.0 * (i as f64 + 1.0) * grow);
            server.cpu_ns_per_delivered = Some(5_000.0 * (i as f64 + 1.0));
            s.runs.push(r);
        }
    }
    let figs = figures(&s);
    let chart = figs
        .iter()
        .find(|f| f.file == "server-cost.png")
        .expect("a server-cost chart for a subscriber sweep");
    assert_eq!(chart.panels.len(), 2);
    let text = report::render(&s, &[]);
    let section = text
        .split("## Server cost at scale")
        .nth(1)
        .expect("a scale section");
    let rows = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| transport"));
    assert_eq!(rows.count(), 2 * TRANSPORTS.len());
    assert!(
        section.contains("**raw-tcp** lowest, **pull-log** highest, 4× apart"),
        "{section}"
    );
    assert!(
        section.contains("The claim is not supported here"),
        "{section}"
    );
    assert!(section.contains("roughly constant"), "{section}");
    // Without a sweep (one subscriber count) neither appears.
    assert!(!report::render(&base, &[]).contains("## Server cost at scale"));
    assert!(
        figures(&base)
            .iter()
            .all(|f| !f.file.starts_with("server-cost"))
    );
}

/// A run without a single latency sample prints "–", not "0 ns", in the report and the table.
#[test]
fn a_run_without_latency_samples_prints_a_dash_not_zero() {
    let mut s = summary(&[Some(1_000.0)]);
    let r = s
        .runs
        .iter_mut()
        .find(|r| r.transport == TransportKind::LongPoll)
        .unwrap();
    r.latency.latency_ns = Default::default();
    let text = report::render(&s, &[]);
    let row = text
        .lines()
        .find(|l| l.starts_with("| long-poll |"))
        .expect("a long-poll row");
    assert!(row.contains("| – | – | – | – |"), "{row}");
    assert!(!row.contains("0 ns"), "{row}");
    let table = transport_bench::cli::table::render(&s);
    let line = table
        .lines()
        .find(|l| l.starts_with("long-poll"))
        .expect("a long-poll line");
    assert!(line.contains('–') && !line.contains("0 ns"), "{line}");
}
