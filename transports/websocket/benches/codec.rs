//! Codec benchmarks for the WebSocket transport, no network: the data-frame body this crate
//! defines (`proto::encode_frame` / `decode_frame`: a position, then length-prefixed messages)
//! and the WebSocket frame around it as tungstenite writes and parses it (client frames masked).
//!
//! `cargo bench -p transport-websocket --bench codec`. Criterion's plots are off: they need a
//! font, and this crate does not carry one (the harness's benches register DejaVu instead).

use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use transport_websocket::proto::{decode_frame, encode_frame};

fn messages(n: usize, size: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| Bytes::from(vec![(i % 251) as u8; size]))
        .collect()
}

fn body(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_body");
    for n in [1usize, 64] {
        let msgs = messages(n, 100);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("encode_{n}x100B"), |b| {
            b.iter(|| encode_frame(black_box(42), black_box(&msgs)))
        });
        let frame = encode_frame(42, &msgs);
        let mut out = Vec::with_capacity(n);
        g.bench_function(format!("decode_{n}x100B"), |b| {
            b.iter(|| {
                out.clear();
                decode_frame(black_box(&frame), &mut out)
            })
        });
    }
    g.finish();
}

fn ws_frame(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_frame");
    let payload = encode_frame(42, &messages(1, 100));
    g.throughput(Throughput::Elements(1));
    for masked in [false, true] {
        let who = if masked { "client_masked" } else { "server" };
        g.bench_function(format!("format_{who}_{}B", payload.len()), |b| {
            let mut out = Vec::with_capacity(256);
            b.iter_batched(
                || {
                    let mut f = Frame::message(payload.clone(), OpCode::Data(Data::Binary), true);
                    if masked {
                        f.header_mut().mask = Some([1, 2, 3, 4]);
                    }
                    f
                },
                |f| {
                    out.clear();
                    f.format(&mut out)
                },
                BatchSize::SmallInput,
            )
        });
        let mut wire = Vec::new();
        let mut f = Frame::message(payload.clone(), OpCode::Data(Data::Binary), true);
        if masked {
            f.header_mut().mask = Some([1, 2, 3, 4]);
        }
        f.format(&mut wire)
            .expect("formatting into a Vec cannot fail");
        g.bench_function(format!("parse_header_{who}_{}B", payload.len()), |b| {
            b.iter(|| FrameHeader::parse(&mut Cursor::new(black_box(&wire))))
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
    body(&mut c);
    ws_frame(&mut c);
    c.final_summary();
}
