//! Codec benchmarks for the long-poll transport, no network: the HTTP bodies this crate
//! defines, in both encodings — the publish request (`encode_publish` / `decode_publish`) and the
//! poll response (`encode_batch` / `decode_batch`), for one message and for a batch of 64.
//!
//! `cargo bench -p transport-long-poll --bench codec`. Criterion's plots are off: they need a
//! font, and this crate does not carry one (the harness's benches register DejaVu instead).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use transport_long_poll::Encoding;
use transport_long_poll::codec::{decode_batch, decode_publish, encode_batch, encode_publish};

fn messages(n: usize, size: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| Bytes::from(vec![(i % 251) as u8; size]))
        .collect()
}

fn bodies(c: &mut Criterion) {
    for (encoding, label) in [(Encoding::Binary, "binary"), (Encoding::Json, "json")] {
        let mut g = c.benchmark_group(format!("long_poll_{label}"));
        for n in [1usize, 64] {
            let msgs = messages(n, 100);
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(format!("request_encode_{n}x100B"), |b| {
                b.iter(|| encode_publish(encoding, black_box(&msgs)))
            });
            let request = encode_publish(encoding, &msgs);
            g.bench_function(format!("request_decode_{n}x100B"), |b| {
                b.iter(|| decode_publish(encoding, black_box(&request)))
            });
            g.bench_function(format!("response_encode_{n}x100B"), |b| {
                b.iter(|| encode_batch(encoding, black_box(7), black_box(&msgs)))
            });
            let response = encode_batch(encoding, 7, &msgs);
            g.bench_function(format!("response_decode_{n}x100B"), |b| {
                b.iter(|| decode_batch(encoding, black_box(&response)))
            });
        }
        g.finish();
    }
}

fn main() {
    let mut c = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bodies(&mut c);
    c.final_summary();
}
