//! A real multi-host run: Linux network namespaces joined by veth pairs stand in for three
//! machines. `serve --metrics` runs in one, two load shards (`run --shard I/2 --server ...
//! --server-metrics ... --start-at ...`) in two others, each with its own address; their link
//! delay comes from the built-in link emulator (the kernel here has no netem). `merge` must give
//! 0 lost and the shards' deliveries summed, the server's figures must have been scraped over the
//! namespace network, and two shards must hold twice the server connections one shard holds.
//!
//! Needs root and the `ip` binary (iproute2); without them the test prints one skip line (a
//! failure under `TRANSPORT_BENCH_REQUIRE_PEERS=1`). Only namespaces and addresses the test
//! creates are used (names carry the test's pid, addresses are private to the namespaces), a
//! guard deletes them on every path, and every wait is bounded.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use transport_test_support::peers;

const BIN: &str = env!("CARGO_BIN_EXE_transport-bench");
/// The server's address, on its namespace's loopback, routed to from both load namespaces.
const SERVER_IP: &str = "10.213.0.1";
/// Bound on every wait in this test.
const BOUND: Duration = Duration::from_secs(60);

const SCENARIO: &str = r#"name = "netns"
description = "websocket across network namespaces: 2 topics, 2 publishers, 20 subscribers"
transports = ["websocket"]
baseline = false
warmup = "500ms"
duration = "2s"
drain_timeout = "5s"
payload = "100B"
rate_per_sec = 400
publishers = 2
topics = 2
subscribers = [20]

[link]
rtt = "2ms"
"#;

/// Connections one shard holds: 10 subscribers and 1 publisher.
const PER_SHARD: usize = 11;

/// Runs `ip ARGS`, failing the test with its stderr.
fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Three namespaces and the processes started in them; dropping it kills the processes and
/// deletes the namespaces (and with them their veth pairs), whatever path the test took.
struct Hosts {
    server: String,
    loads: [String; 2],
    children: Vec<Child>,
}

impl Hosts {
    /// Server namespace with `SERVER_IP` on its loopback; load namespace `i` joined to it by a
    /// veth pair on 10.213.(i+1).0/24, routing to the server through it.
    fn create() -> Hosts {
        let pid = std::process::id();
        let hosts = Hosts {
            server: format!("tb-{pid}-srv"),
            loads: [format!("tb-{pid}-ld1"), format!("tb-{pid}-ld2")],
            children: Vec::new(),
        };
        // From here on, the guard cleans up even if a step below fails.
        ip(&["netns", "add", &hosts.server]);
        let srv = hosts.server.as_str();
        let in_srv = |args: &[&str]| ip(&[&["-n", srv], args].concat());
        in_srv(&["link", "set", "lo", "up"]);
        in_srv(&["addr", "add", &format!("{SERVER_IP}/32"), "dev", "lo"]);
        for (i, ns) in hosts.loads.iter().enumerate() {
            let net = i + 1;
            ip(&["netns", "add", ns]);
            // Interface names are per namespace, so short fixed names cannot clash with the host.
            let (s_if, l_if) = (format!("to-ld{net}"), "eth0".to_owned());
            ip(&[
                "link", "add", &s_if, "netns", srv, "type", "veth", "peer", "name", &l_if, "netns",
                ns,
            ]);
            in_srv(&["addr", "add", &format!("10.213.{net}.1/24"), "dev", &s_if]);
            in_srv(&["link", "set", &s_if, "up"]);
            let in_ld = |args: &[&str]| ip(&[&["-n", ns.as_str()], args].concat());
            in_ld(&["link", "set", "lo", "up"]);
            in_ld(&["addr", "add", &format!("10.213.{net}.2/24"), "dev", &l_if]);
            in_ld(&["link", "set", &l_if, "up"]);
            in_ld(&[
                "route",
                "add",
                &format!("{SERVER_IP}/32"),
                "via",
                &format!("10.213.{net}.1"),
            ]);
        }
        hosts
    }

    /// `transport-bench ARGS` inside namespace `ns`; stdout piped, stderr to `stderr` (a file,
    /// so a chatty child can never block on a full pipe).
    fn spawn(&mut self, ns: &str, args: &[&str], stderr: &Path) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BIN])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap();
        self.children.push(child);
        self.children.len() - 1
    }

    /// Waits up to [`BOUND`] for child `i` to exit (killing it if it does not); its status and
    /// the stderr file it wrote.
    fn wait(&mut self, i: usize, stderr: &Path) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + BOUND;
        while self.children[i].try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.children[i].kill();
                panic!("child {i} did not finish within {BOUND:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.children[i].wait().unwrap();
        (status, std::fs::read_to_string(stderr).unwrap_or_default())
    }

    /// Established TCP connections on the server's `port`, counted in its namespace.
    fn server_connections(&self, port: u16) -> usize {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.server,
                "ss",
                "-Htn",
                "state",
                "established",
            ])
            .arg(format!("( sport = :{port} )"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().count()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.loads.iter().chain([&self.server]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Reads the server's two announced addresses (`... listening on ADDR`, `metrics on URL`)
/// from its stdout within [`BOUND`].
fn announced(child: &mut Child) -> (String, String) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = || {
        rx.recv_timeout(BOUND)
            .expect("serve announces its addresses")
    };
    let listening = next();
    let addr = listening.rsplit(' ').next().unwrap().to_owned();
    let metrics = next();
    let url = metrics.strip_prefix("metrics on ").unwrap().to_owned();
    (addr, url)
}

/// Polls the server's established connections until the children `shards` have all exited,
/// and returns the most seen at once. Polling, not sleeping, decides: the loop ends on the
/// children's exit and is bounded by [`BOUND`].
fn most_connections(hosts: &mut Hosts, port: u16, shards: &[usize]) -> usize {
    let deadline = Instant::now() + BOUND;
    let mut most = 0;
    while shards
        .iter()
        .any(|&i| hosts.children[i].try_wait().unwrap().is_none())
    {
        assert!(
            Instant::now() < deadline,
            "shards still running after {BOUND:?}"
        );
        most = most.max(hosts.server_connections(port));
        std::thread::sleep(Duration::from_millis(10));
    }
    most
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn shard_args<'a>(
    scenario: &'a str,
    out: &'a str,
    shard: &'a str,
    server: &'a str,
    metrics: &'a str,
) -> Vec<&'a str> {
    vec![
        "run",
        scenario,
        "-q",
        "--out",
        out,
        "--shard",
        shard,
        "--server",
        server,
        "--server-metrics",
        metrics,
    ]
}

#[test]
fn two_shards_in_their_own_namespaces_against_one_server() {
    if !peers::present(&peers::NETNS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("netns.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let scenario = scenario.to_str().unwrap();
    let mut hosts = Hosts::create();
    let srv_ns = hosts.server.clone();
    let serve_log = dir.path().join("serve.err");
    let serve = hosts.spawn(
        &srv_ns,
        &[
            "serve",
            "--transport",
            "websocket",
            "--bind",
            &format!("{SERVER_IP}:0"),
            "--metrics",
            &format!("{SERVER_IP}:0"),
        ],
        &serve_log,
    );
    let (addr, url) = announced(&mut hosts.children[serve]);
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let server = format!("websocket={addr}");
    let metrics = format!("websocket={url}");
    let loads = hosts.loads.clone();

    // One shard alone: the connections it holds at the server.
    let alone = dir.path().join("alone");
    let args = shard_args(scenario, alone.to_str().unwrap(), "0/2", &server, &metrics);
    let log = dir.path().join("alone.err");
    let one = hosts.spawn(&loads[0], &args, &log);
    let held_alone = most_connections(&mut hosts, port, &[one]);
    let (status, err) = hosts.wait(one, &log);
    assert_eq!(status.code(), Some(0), "{err}");

    // Both shards at once, from their own namespaces, starting warm-up at one instant.
    let at =
        humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(4)).to_string();
    let dirs = [dir.path().join("shard-0"), dir.path().join("shard-1")];
    let shards: Vec<usize> = (0..2)
        .map(|i| {
            let shard = format!("{i}/2");
            let mut args = shard_args(
                scenario,
                dirs[i].to_str().unwrap(),
                &shard,
                &server,
                &metrics,
            );
            args.extend(["--start-at", &at]);
            hosts.spawn(&loads[i], &args, &dir.path().join(format!("shard-{i}.err")))
        })
        .collect();
    let held_both = most_connections(&mut hosts, port, &shards);
    for (i, &child) in shards.iter().enumerate() {
        let (status, err) = hosts.wait(child, &dir.path().join(format!("shard-{i}.err")));
        assert_eq!(status.code(), Some(0), "shard {i}: {err}");
    }
    println!("server connections held: one shard {held_alone}, two shards {held_both}");
    assert_eq!(
        held_alone, PER_SHARD,
        "one shard: 10 subscribers and 1 publisher"
    );
    assert_eq!(
        held_both,
        2 * held_alone,
        "two shards hold twice one shard's"
    );

    let parts: Vec<serde_json::Value> = dirs.iter().map(|d| summary(d)).collect();
    for (i, s) in parts.iter().enumerate() {
        let r = &s["runs"][0];
        println!(
            "shard {i}: published {} delivered {} lost {} server connections {} server bytes read {}",
            r["published"],
            r["delivered"],
            r["lost"],
            r["wire"]["server"]["connections"],
            r["wire"]["server"]["read"]
        );
        assert_eq!(s["shard"]["applied"], true);
        assert!(s["shard"]["clock_offset_ns"].is_i64());
        assert_eq!(r["lost"], 0, "{}", r["failures"]);
        assert_eq!(r["subscribers"], 10);
        // Scraped over the namespace network from the server's endpoint.
        assert_eq!(
            s["environment"]["placement"]["remote_servers"]["websocket"]["metrics"],
            url.as_str()
        );
        let conns = r["wire"]["server"]["connections"].as_u64().unwrap();
        assert!(
            (PER_SHARD as u64..=2 * PER_SHARD as u64).contains(&conns),
            "{conns}"
        );
        assert!(r["wire"]["server"]["read"].as_u64().unwrap() > 0);
        let srv = &r["resources"]["server"];
        assert_eq!(srv["available"], true);
        // The whole server's cost over one shard's count would overstate: null.
        assert!(srv["cpu_ns_per_delivered"].is_null() && srv["rss_bytes_per_subscriber"].is_null());
    }

    let merged = dir.path().join("merged");
    let o = Command::new(BIN)
        .args(["merge"])
        .args(&dirs)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = summary(&merged);
    let r = &m["runs"][0];
    let sum = |k: &str| {
        parts
            .iter()
            .map(|s| s["runs"][0][k].as_u64().unwrap())
            .sum::<u64>()
    };
    println!(
        "merged: published {} delivered {} lost {} subscribers {} latency p50 {} ns",
        r["published"], r["delivered"], r["lost"], r["subscribers"], r["latency_ns"]["p50"]
    );
    // The link emulator's 2 ms round trip: 1 ms publisher to server, 1 ms server to subscriber.
    assert!(r["latency_ns"]["p50"].as_u64().unwrap() >= 2_000_000);
    assert_eq!(r["lost"], 0);
    assert_eq!(r["delivered"].as_u64().unwrap(), sum("delivered"));
    assert_eq!(r["published"].as_u64().unwrap(), sum("published"));
    assert_eq!(r["subscribers"], 20);
    // One server read by both shards: its figures are not added twice.
    assert!(r["wire"]["server"].is_null());
    drop(hosts);
}
