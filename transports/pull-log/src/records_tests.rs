//! Golden bytes and interoperability of the record batch codec.

use super::*;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

#[test]
fn golden_one_record_batch() {
    let mut buf = BytesMut::new();
    let n = encode_batch(&mut buf, &[Bytes::from_static(b"hi")], 7, ProducerSeq::NONE);
    assert_eq!(n, buf.len());
    let crc = crc32c::crc32c(&buf[21..]).to_be_bytes();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0, 0, 0, 0, 0, 0, 0, 0][..],    // base offset 0
        &[0, 0, 0, 0x3a],                 // batch length 58
        &[0xff, 0xff, 0xff, 0xff],        // partition leader epoch -1
        &[2],                             // magic
        &crc,                             // CRC-32C of the rest
        &[0, 0],                          // attributes
        &[0, 0, 0, 0],                    // last offset delta 0
        &[0, 0, 0, 0, 0, 0, 0, 7],        // base timestamp
        &[0, 0, 0, 0, 0, 0, 0, 7],        // max timestamp
        &[0xff; 8],                       // producer id -1
        &[0xff, 0xff],                    // producer epoch -1
        &[0xff, 0xff, 0xff, 0xff],        // base sequence -1
        &[0, 0, 0, 1],                    // one record
        &[0x10],                          // record length 8 (zig-zag 16)
        &[0],                             // record attributes
        &[0],                             // timestamp delta 0
        &[0],                             // offset delta 0
        &[0x01],                          // key length -1 (null)
        &[0x04],                          // value length 2
        b"hi",                            // value
        &[0],                             // no headers
    ]
    .concat();
    assert_eq!(&buf[..], &expected[..]);
    assert_eq!(n, BATCH_OVERHEAD + record_size(0, 2));
}

#[test]
fn kafka_protocol_reads_what_we_write() {
    let values: Vec<Bytes> = (0..300u32)
        .map(|i| Bytes::from(vec![i as u8; (i % 200) as usize]))
        .collect();
    let mut buf = BytesMut::new();
    let n = encode_batch(&mut buf, &values, 1_700_000_000_000, ProducerSeq::NONE);
    let sizes: usize = (0..values.len())
        .map(|i| record_size(i, values[i].len()))
        .sum();
    assert_eq!(n, BATCH_OVERHEAD + sizes);
    let mut bytes = buf.freeze();
    let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
    assert_eq!(set.records.len(), values.len());
    for (i, r) in set.records.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.key, None);
        assert_eq!(r.value.as_ref(), Some(&values[i]));
    }
}

fn library_batch(base: i64, values: &[&'static [u8]]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: base + i as i64,
            // Keeps one batch: the encoder splits whenever offset - sequence changes.
            sequence: (base + i as i64 - 1) as i32,
            timestamp: 5,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(v)),
            headers: [(
                kafka_protocol::protocol::StrBytes::from_static_str("h"),
                Some(Bytes::from_static(b"x")),
            )]
            .into_iter()
            .collect(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).unwrap();
    buf.freeze()
}

#[test]
fn we_read_what_kafka_protocol_writes_skipping_keys_and_headers() {
    let mut data = BytesMut::new();
    data.extend_from_slice(&library_batch(10, &[b"a", b"bb", b"ccc"]));
    data.extend_from_slice(&library_batch(13, &[b"dddd"]));
    let data = data.freeze();
    let mut out = Vec::new();
    // Starting inside the first batch skips the records before the requested offset.
    let d = decode_records(&data, 11, &mut out).unwrap();
    assert_eq!(
        d,
        Decoded {
            next_offset: Some(14),
            records: 3
        }
    );
    let got: Vec<(i64, &[u8])> = out.iter().map(|(o, v)| (*o, &v[..])).collect();
    assert_eq!(got, vec![(11, &b"bb"[..]), (12, b"ccc"), (13, b"dddd")]);
}

#[test]
fn trailing_partial_batch_is_left_for_the_next_fetch() {
    let whole = library_batch(0, &[b"a"]);
    let mut data = BytesMut::new();
    data.extend_from_slice(&whole);
    data.extend_from_slice(&whole[..whole.len() - 3]);
    let mut out = Vec::new();
    let d = decode_records(&data.freeze(), 0, &mut out).unwrap();
    assert_eq!(
        d,
        Decoded {
            next_offset: Some(1),
            records: 1
        }
    );
}

#[test]
fn corruption_is_an_error_not_a_panic() {
    let mut data = BytesMut::from(&library_batch(0, &[b"abc", b"def"])[..]);
    let last = data.len() - 2;
    data[last] ^= 0xff;
    let mut out = Vec::new();
    assert!(
        decode_records(&data.clone().freeze(), 0, &mut out)
            .unwrap_err()
            .contains("CRC")
    );
    // A huge record count with a valid CRC fails on the bytes, without reserving memory.
    let mut data = BytesMut::from(&library_batch(0, &[b"abc"])[..]);
    data[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    let crc = crc32c::crc32c(&data[21..]).to_be_bytes();
    data[17..21].copy_from_slice(&crc);
    assert!(decode_records(&data.freeze(), 0, &mut out).is_err());
    // Truncated batch length field below a header.
    let mut bad = vec![0u8; 70];
    bad[11] = 3;
    assert!(decode_records(&Bytes::from(bad), 0, &mut out).is_err());
}

#[test]
fn random_bytes_never_panic() {
    let mut seed = 0x1234_5678_u64;
    for len in 0..400usize {
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            v.push((seed >> 56) as u8);
        }
        let mut out = Vec::new();
        let _ = decode_records(&Bytes::from(v), 0, &mut out);
    }
}

#[test]
fn idempotent_fields_reach_the_header_and_decode_as_kafka_sequences() {
    let mut buf = BytesMut::new();
    let seq = ProducerSeq {
        producer_id: 0x0102_0304_0506_0708,
        epoch: 3,
        base_sequence: 41,
    };
    let values = [Bytes::from_static(b"a"), Bytes::from_static(b"b")];
    encode_batch(&mut buf, &values, 7, seq);
    assert_eq!(&buf[43..51], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&buf[51..53], &[0, 3]);
    assert_eq!(&buf[53..57], &[0, 0, 0, 41]);
    let mut b = buf.freeze();
    let sets = RecordBatchDecoder::decode_all(&mut b).unwrap();
    let got: Vec<(i64, i16, i32)> = sets[0]
        .records
        .iter()
        .map(|r| (r.producer_id, r.producer_epoch, r.sequence))
        .collect();
    assert_eq!(
        got,
        vec![(seq.producer_id, 3, 41), (seq.producer_id, 3, 42)]
    );
}
