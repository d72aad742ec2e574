//! The broker's topics: name → partitions and topic id, creation (explicit and automatic),
//! restore from segment files, and the "data appended" signal that wakes parked fetches.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use tokio::sync::watch;
use transport_core::occupancy::RetainedGauges;

use crate::BrokerError;
use crate::config::{BrokerConfig, Storage};
use crate::log::PartitionLog;
use crate::segment::{self, SegmentWriter};
use crate::topic_id::{self, TopicId};

/// One topic's partitions. Each log has its own lock, held only for an append or a read.
#[derive(Debug)]
pub(crate) struct Topic {
    /// This incarnation's id: new on every creation, kept across restarts by file storage.
    id: TopicId,
    partitions: Vec<Mutex<PartitionLog>>,
    /// Bumped after appends to this topic: wakes fetches parked on it alone.
    appended: watch::Sender<u64>,
}

impl Topic {
    /// The topic id.
    pub(crate) fn id(&self) -> TopicId {
        self.id
    }

    /// Tells fetches parked on this topic that it grew.
    pub(crate) fn notify_appended(&self) {
        self.appended.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that changes whenever data is appended to this topic.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Number of partitions.
    pub(crate) fn len(&self) -> usize {
        self.partitions.len()
    }

    /// Partition `p`, locked, or `None` if it does not exist.
    pub(crate) fn partition(&self, p: i32) -> Option<MutexGuard<'_, PartitionLog>> {
        let idx = usize::try_from(p).ok()?;
        let m = self.partitions.get(idx)?;
        Some(m.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Why a topic could not be created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CreateError {
    /// It already exists.
    #[error("topic already exists")]
    Exists,
    /// The name is not `[A-Za-z0-9._-]{1,249}`.
    #[error("invalid topic name")]
    InvalidName,
    /// Partition count out of range.
    #[error("invalid partition count")]
    InvalidPartitions,
    /// Its segment directory could not be created.
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

/// Kafka's topic name rule; also keeps names safe as directory names.
pub(crate) fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// All topics.
#[derive(Debug)]
pub(crate) struct Topics {
    config: BrokerConfig,
    map: RwLock<HashMap<String, Arc<Topic>>>,
    /// Held from "does it exist?" to "inserted", so two connections creating the same topic
    /// never both build it: with file storage both would write an id file, and the id served
    /// could differ from the one a restart reads back.
    creating: Mutex<()>,
    appended: watch::Sender<u64>,
    /// What every partition retains, as the server's gauges.
    retained: RetainedGauges,
}

impl Topics {
    /// The topic set, restored from `data_dir` for file storage, every partition's log
    /// counted in `retained`.
    pub(crate) fn open(
        config: &BrokerConfig,
        retained: RetainedGauges,
    ) -> Result<Self, BrokerError> {
        let topics = Topics {
            retained,
            config: config.clone(),
            map: RwLock::new(HashMap::new()),
            creating: Mutex::new(()),
            appended: watch::channel(0).0,
        };
        if let (Storage::File, Some(dir)) = (config.storage, &config.data_dir) {
            std::fs::create_dir_all(dir).map_err(BrokerError::io("create data_dir"))?;
            // A directory whose name is not a valid topic is not ours: skip it.
            let found = segment::discover(dir)?.into_iter();
            for (name, partitions) in found.filter(|(name, _)| valid_topic_name(name)) {
                let topic = topics
                    .build(&name, partitions)
                    .map_err(|e| BrokerError::Storage(format!("{name}: {e}")))?;
                for (p, log) in topic.partitions.iter().enumerate() {
                    let stored = segment::load(&segment::partition_dir(dir, &name, p as i32))?;
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .restore(stored);
                }
                topics.write().insert(name, Arc::new(topic));
            }
        }
        Ok(topics)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Topic>>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The topic's logs (and, for file storage, its directories) and its id: the one stored
    /// beside its segments if there is one, else a new one.
    fn build(&self, name: &str, partitions: u32) -> Result<Topic, CreateError> {
        let mut logs = Vec::with_capacity(partitions as usize);
        let mut dirs = Vec::new();
        for p in 0..partitions {
            let writer = match (self.config.storage, &self.config.data_dir) {
                (Storage::File, Some(dir)) => {
                    let pdir = segment::partition_dir(dir, name, p as i32);
                    dirs.push(pdir.clone());
                    Some(SegmentWriter::open(pdir, self.config.segment_bytes)?)
                }
                _ => None,
            };
            let log = PartitionLog::new(self.config.retention_bytes, writer);
            logs.push(Mutex::new(log.reporting(self.retained.clone())));
        }
        // Memory storage has no directories: every creation is a new incarnation.
        let id = if dirs.is_empty() {
            TopicId::random()
        } else {
            topic_id::load_or_assign(&dirs)?
        };
        Ok(Topic {
            id,
            partitions: logs,
            appended: watch::channel(0).0,
        })
    }

    /// The topic called `name`, if it exists.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Topic>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(name).cloned()
    }

    /// The topic whose id is `id`, with its name.
    pub(crate) fn by_id(&self, id: TopicId) -> Option<(String, Arc<Topic>)> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .find(|(_, t)| t.id == id)
            .map(|(name, t)| (name.clone(), t.clone()))
    }

    /// Creates `name` with `partitions` partitions (`None`: the configured default).
    pub(crate) fn create(
        &self,
        name: &str,
        partitions: Option<u32>,
    ) -> Result<Arc<Topic>, CreateError> {
        if !valid_topic_name(name) {
            return Err(CreateError::InvalidName);
        }
        let n = partitions.unwrap_or(self.config.partitions_per_topic);
        if n == 0 || n > 10_000 {
            return Err(CreateError::InvalidPartitions);
        }
        // Readers (`get`) are not held up by a creation's file work; other creators are.
        let _creating = self.creating.lock().unwrap_or_else(PoisonError::into_inner);
        if self.get(name).is_some() {
            return Err(CreateError::Exists);
        }
        let topic = Arc::new(self.build(name, n)?);
        self.write().insert(name.to_owned(), topic.clone());
        Ok(topic)
    }

    /// The topic, created with default partitions if missing and auto-creation is on.
    pub(crate) fn get_or_auto_create(&self, name: &str) -> Option<Arc<Topic>> {
        if let Some(t) = self.get(name) {
            return Some(t);
        }
        if !self.config.auto_create_topics {
            return None;
        }
        match self.create(name, None) {
            Ok(t) => Some(t),
            Err(_) => self.get(name),
        }
    }

    /// Every topic name with its partition count, sorted by name.
    pub(crate) fn list(&self) -> Vec<(String, usize)> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<_> = map.iter().map(|(k, t)| (k.clone(), t.len())).collect();
        v.sort();
        v
    }

    /// Tells fetches parked on several topics that some partition grew.
    pub(crate) fn notify_appended(&self) {
        self.appended.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that changes whenever data is appended anywhere.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }
}
