//! What the fuzz targets in `fuzz/` need of the broker's internals, behind the `fuzzing`
//! feature so the public API stays as it is: a broker without a socket, whose request handler
//! takes one request frame and says what the connection would do with it, and the version
//! table, so a target can shape requests the dispatcher will actually decode.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::watch;
use transport_core::Counters;
use transport_core::occupancy::RetainedGauges;

use crate::api::{self, Reply};
use crate::group::Coordinator;
use crate::state::{BrokerCounters, ConnInfo, ProducerIds, Shared};
use crate::topics::Topics;
use crate::{BrokerConfig, BrokerError};

/// What the connection does with one request.
#[derive(Debug)]
pub enum Outcome {
    /// Writes this size-prefixed response frame.
    Frame(Bytes),
    /// Writes nothing (acks = 0 produce).
    Nothing,
    /// Closes the connection, for this reason.
    Close(String),
}

/// A broker without a listener: the state every connection shares, and one connection's facts.
pub struct Handler {
    shared: Arc<Shared>,
    conn: ConnInfo,
    /// Held so parked requests do not see the broker as stopped.
    _stop: watch::Sender<bool>,
}

impl Handler {
    /// A fresh broker with `config` (memory storage is what a target should use).
    pub fn new(config: BrokerConfig) -> Result<Self, BrokerError> {
        config.validate()?;
        let (stop, shutdown) = watch::channel(false);
        let counters = Counters::new();
        let shared = Shared {
            groups: Coordinator::new(&config),
            topics: Topics::open(&config, RetainedGauges::register(&counters))?,
            config,
            counters: BrokerCounters::register(&counters),
            producer_ids: ProducerIds::new(),
            shutdown,
            drain: transport_core::Drain::default(),
        };
        Ok(Handler {
            shared: Arc::new(shared),
            conn: ConnInfo {
                local: SocketAddr::from(([127, 0, 0, 1], 9092)),
            },
            _stop: stop,
        })
    }

    /// Handles one request frame (the bytes after its size prefix), as a connection does.
    /// The coordinator's expiry ticks run meanwhile, as the broker's own task runs them beside
    /// every connection: without them a JoinGroup that waits out the initial rebalance delay
    /// would never be answered.
    pub async fn handle(&self, frame: Bytes) -> Outcome {
        let reply = tokio::select! {
            r = api::handle(&self.shared, &self.conn, frame) => r,
            () = crate::group::expiry_task(self.shared.clone()) => {
                Reply::Close("the broker stopped".to_owned())
            }
        };
        match reply {
            Reply::Frame(b) => Outcome::Frame(b),
            Reply::Nothing => Outcome::Nothing,
            Reply::Close(why) => Outcome::Close(why),
        }
    }
}

/// Every API the broker answers: `(api key, lowest version, highest version, first flexible
/// version)`.
pub fn apis() -> Vec<(i16, i16, i16, i16)> {
    api::table::APIS
        .iter()
        .map(|a| (a.key as i16, a.min, a.max, a.flexible_from))
        .collect()
}
