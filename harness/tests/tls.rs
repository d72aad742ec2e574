//! `[tls]` end to end through the real binary: a sweep of TLS off and on over every transport
//! we serve, with ciphertext counted at the socket and plaintext above TLS, the TLS version and
//! cipher suite recorded, the results valid against the schema; and bad TLS input refused with
//! exit 2, `file:line:col`, the field and what it allows.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use transport_core::tls::Material;

mod bin_support;
use bin_support::BIN;

fn scenario(mode: &str, transports: &str) -> String {
    format!(
        r#"name = "tls"
description = "every transport over plaintext and TLS"
transports = [{transports}]
warmup = "200ms"
duration = "1s"
drain_timeout = "3s"
payload = "100B"
rate_per_sec = 500
subscribers = 2

[server]
mode = "{mode}"

[tls]
enabled = [false, true]
"#
    )
}

fn assert_schema(summary: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../schema/summary.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(summary)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json violates its schema: {errors:#?}"
    );
}

/// Each transport's TLS run carries TLS bytes above its plaintext twin's, with the split.
fn assert_tls_runs(summary: &serde_json::Value, transports: &[&str]) {
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2 * transports.len(), "off and on per transport");
    for t in transports {
        let run = |tls: &str| {
            runs.iter()
                .find(|r| r["transport"] == *t && r["tags"]["tls"] == tls)
                .unwrap_or_else(|| panic!("no {t} run with tls={tls}"))
        };
        let (off, on) = (run("off"), run("on"));
        for r in [off, on] {
            assert_eq!(r["lost"], 0, "{t}: {r}");
            assert_eq!(r["status"], "ok", "{t}: {r}");
        }
        assert!(
            off["wire"].get("plaintext").is_none(),
            "{t}: plaintext only under TLS"
        );
        assert!(off.get("tls").is_none());
        let plain = &on["wire"]["plaintext"];
        let tls_overhead = plain["tls_overhead_bytes_per_msg"].as_f64().unwrap();
        assert!(tls_overhead > 10.0, "{t}: a TLS record adds bytes: {plain}");
        let tls_handshake = plain["tls_handshake_bytes"].as_u64().unwrap();
        assert!(
            tls_handshake > 1000,
            "{t}: TLS handshakes are bytes: {plain}"
        );
        assert_eq!(on["tls"]["version"], "TLSv1_3", "{t}");
        // Ciphertext at the socket is more than the plaintext above TLS, in both directions.
        let (wire, above) = (&on["wire"]["client"], &plain["client"]);
        for key in ["read", "written"] {
            assert!(
                wire[key].as_u64() > above[key].as_u64(),
                "{t} {key}: {wire} vs {above}"
            );
        }
    }
    let env = &summary["environment"]["tls"];
    assert_eq!(env["version"], "TLSv1_3");
    assert!(
        env["cipher_suite"].as_str().unwrap().starts_with("TLS13_"),
        "{env}"
    );
}

#[test]
fn every_transport_runs_over_tls_in_its_own_process_with_both_byte_counts() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["raw-tcp", "long-poll", "websocket", "sse", "pull-log"];
    let list = names.map(|n| format!("\"{n}\"")).join(", ");
    let (out, summary) = bin_support::run_ok(dir.path(), &scenario("process", &list));
    assert_schema(&summary);
    assert_tls_runs(&summary, &names);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("## TLS: what it adds per message"),
        "{report}"
    );
    assert!(
        report.contains("| of which framing | of which TLS |"),
        "{report}"
    );
}

#[test]
fn an_in_process_server_takes_tls_too() {
    let dir = tempfile::tempdir().unwrap();
    let (_, summary) = bin_support::run_ok(
        dir.path(),
        &scenario("in-process", "\"raw-tcp\", \"websocket\""),
    );
    assert_schema(&summary);
    assert_tls_runs(&summary, &["raw-tcp", "websocket"]);
}

/// Runs `run` on a scenario with `[tls]` `table` and expects exit 2 with every part of
/// `expect` in stderr.
fn refused(dir: &Path, table: &str, expect: &[&str]) {
    let path = dir.join("bad.toml");
    let text = format!(
        "name = \"bad\"\ndescription = \"d\"\nduration = \"1s\"\ntransports = [\"raw-tcp\"]\n[tls]\n{table}"
    );
    std::fs::write(&path, text).unwrap();
    let o = Command::new(BIN)
        .args(["run", path.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{table}: {stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{table}: expected `{e}` in: {stderr}");
    }
}

#[test]
fn bad_tls_input_exits_2_naming_the_field_and_what_it_allows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = Material::throwaway().unwrap().write_to(d).unwrap();
    let other = tempfile::tempdir().unwrap();
    let b = Material::throwaway()
        .unwrap()
        .write_to(other.path())
        .unwrap();
    let path = |p: &Path| p.display().to_string();
    let (cert, key, ca) = (path(&a.cert), path(&a.key), path(&a.ca));
    refused(
        d,
        "cert = \"missing.crt\"\nkey = \"missing.key\"\nca = \"ca.crt\"\n",
        &[
            "bad.toml:6:8",
            "cannot read cert",
            "missing.crt",
            "allowed: a path",
        ],
    );
    // A folder cannot be read as a file, even by root (who can read any mode).
    refused(
        d,
        &format!("cert = \"{cert}\"\nkey = \".\"\nca = \"{ca}\"\n"),
        &["bad.toml:7:7", "cannot read key", "allowed: a path"],
    );
    refused(
        d,
        &format!(
            "cert = \"{cert}\"\nkey = \"{}\"\nca = \"{ca}\"\n",
            path(&b.key)
        ),
        &["bad.toml:7:7", "the certificate and key", "allowed: a path"],
    );
    refused(
        d,
        &format!("cert = \"{cert}\"\nkey = \"{cert}\"\nca = \"{ca}\"\n"),
        &["bad.toml:7:7", "no usable private key"],
    );
    refused(
        d,
        &format!("cert = \"{cert}\"\n"),
        &["bad.toml:6:8", "`cert` needs `key`"],
    );
    refused(
        d,
        &format!("cert = \"{cert}\"\nkey = \"{key}\"\n"),
        &["bad.toml:6:8", "need `ca`"],
    );
    refused(
        d,
        &format!("ca = \"{key}\"\n"),
        &["bad.toml:6:6", "ca", "BEGIN CERTIFICATE"],
    );
    refused(
        d,
        "enabled = \"yes\"\n",
        &["bad.toml:6:11", "expected a boolean"],
    );
    refused(
        d,
        "enable = true\n",
        &["unknown key `enable`", "allowed: enabled, cert, key, ca"],
    );
}

#[test]
fn tls_refuses_transports_and_pages_it_does_not_reach() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nchan.toml");
    let text = "name = \"n\"\ndescription = \"d\"\nduration = \"1s\"\ntransports = [\"nchan-sse\"]\nbaseline = false\n[tls]\nenabled = true\n";
    std::fs::write(&path, text).unwrap();
    let o = Command::new(BIN)
        .args(["validate", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for part in [
        "nchan.toml:6:1",
        "nchan-sse",
        "transports with TLS: raw-tcp, long-poll",
    ] {
        assert!(stderr.contains(part), "expected `{part}` in: {stderr}");
    }
}
