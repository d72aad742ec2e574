//! Kafka record-batch codec benchmarks, no network: encoding a batch the way the producer does
//! and decoding it the way the consumer does, for one record and for a batch of 64.
//!
//! `cargo bench -p transport-pull-log --bench records`. Criterion's plots are off: they need a
//! font, and this crate does not carry one.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use transport_pull_log::records::{ProducerSeq, decode_records, encode_batch};

fn batches(c: &mut Criterion) {
    let mut g = c.benchmark_group("kafka_record_batch");
    for n in [1usize, 64] {
        let values: Vec<Bytes> = (0..n)
            .map(|i| Bytes::from(vec![(i % 251) as u8; 100]))
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("encode_{n}x100B"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::with_capacity(128 * n + 128);
                encode_batch(
                    &mut buf,
                    black_box(&values),
                    1_700_000_000_000,
                    ProducerSeq::NONE,
                );
                buf
            })
        });
        let mut buf = BytesMut::new();
        encode_batch(&mut buf, &values, 1_700_000_000_000, ProducerSeq::NONE);
        let data = buf.freeze();
        g.bench_function(format!("decode_{n}x100B"), |b| {
            b.iter(|| {
                let mut out: Vec<(i64, Bytes)> = Vec::with_capacity(n);
                decode_records(black_box(&data), 0, &mut out).expect("own batch decodes");
                out
            })
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .without_plots()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    batches(&mut c);
    c.final_summary();
}
