use super::*;
use transport_core::TransportError;

/// Keeps what it is handed, batch by batch, and refuses everything after `accept`
/// messages.
struct Keep {
    batches: Vec<Vec<Bytes>>,
    accept: usize,
}

impl Publisher for Keep {
    async fn publish(&mut self, msg: Bytes) -> Result<(), TransportError> {
        let mut accepted = 0;
        self.publish_batch(&[msg], &mut accepted).await
    }
    async fn publish_batch(
        &mut self,
        msgs: &[Bytes],
        accepted: &mut usize,
    ) -> Result<(), TransportError> {
        let kept: usize = self.batches.iter().map(Vec::len).sum();
        let take = msgs.len().min(self.accept - kept);
        self.batches.push(msgs[..take].to_vec());
        *accepted += take;
        if take < msgs.len() {
            return Err(TransportError::Closed { stage: "keep" });
        }
        Ok(())
    }
    async fn flush(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
    async fn close(self) -> Result<(), TransportError> {
        Ok(())
    }
}

/// A schedule all of whose messages are already due: 1,000 at 1M msg/s, released by its
/// generator before the publisher starts.
fn all_due() -> Arc<Schedule> {
    let schedule = Schedule::new(clock::now_ns(), 1e6, 1, Duration::from_millis(1));
    let generator = schedule.spawn_generator(0..u64::MAX).unwrap();
    generator.join().unwrap();
    schedule
}

fn publishing() -> Publishing {
    Publishing {
        payload_len: 64,
        measure_start_ns: 0,
        measure_end_ns: u64::MAX,
        stop_at: Instant::now() + Duration::from_secs(60),
        progress: Arc::new(AtomicU64::new(0)),
    }
}

/// Behind its schedule, an open-loop publisher hands over what is due in batches, and
/// every message still carries its own intended time.
#[tokio::test]
async fn open_loop_behind_schedule_batches_with_each_intended_time() {
    let schedule = all_due();
    let keep = Keep {
        batches: Vec::new(),
        accept: usize::MAX,
    };
    let out = open_loop(keep, 0, schedule.clone(), publishing()).await;
    assert_eq!((out.sent, out.unsent, out.error), (1000, 0, None));
    assert_eq!(out.lag.len(), 1000);
    let sizes: Vec<usize> = out.publisher.batches.iter().map(Vec::len).collect();
    assert_eq!(sizes[..15], [64; 15]);
    assert_eq!(sizes[15..], [40]);
    let all = out.publisher.batches.concat();
    for (seq, m) in all.iter().enumerate() {
        let env = Envelope::decode(m).unwrap();
        assert_eq!((env.seq, m.len()), (seq as u64, 64));
        assert_eq!(env.intended_ns, schedule.intended_ns(0, seq as u64));
    }
}

/// A batch refused part way counts exactly the messages accepted before the error.
#[tokio::test]
async fn open_loop_counts_a_partly_accepted_batch() {
    let keep = Keep {
        batches: Vec::new(),
        accept: 100,
    };
    let out = open_loop(keep, 0, all_due(), publishing()).await;
    assert_eq!((out.sent, out.lag.len()), (100, 100));
    assert!(out.error.is_some());
    assert_eq!(
        out.unsent, 0,
        "a failed publisher's rest is not counted unsent"
    );
}
