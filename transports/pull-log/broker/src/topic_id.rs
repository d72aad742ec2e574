//! Topic ids: the 16 random bytes that name one *incarnation* of a topic, as in Kafka
//! (KIP-516). A topic deleted and created again, or held by a memory broker that restarted, has
//! the same name but a new id, so a client can tell that its offsets belong to a log that no
//! longer exists.
//!
//! With file storage the id must outlive the process: every partition directory holds a
//! `topic_id` file (`version: 0` and the id in hex, our own format), written to a temporary
//! file and renamed into place so a crash never leaves half a file. A topic whose directories
//! have no such file (data written before ids existed) gets a new id, written then. Like the
//! segments, the file is not fsynced: a restarted process keeps the id; after a power loss a
//! missing or unreadable file only costs a new id, which makes clients re-read the log from its
//! start (duplicates, never loss).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A topic id; never all zeros (Kafka's "no id"), never Kafka's reserved `0…01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TopicId([u8; 16]);

/// The file that holds a partition directory's topic id.
pub(crate) const FILE_NAME: &str = "topic_id";

impl TopicId {
    /// A fresh random id.
    pub(crate) fn random() -> TopicId {
        loop {
            let bytes: [u8; 16] = rand::random();
            // Kafka reserves the nil id and 0…01 (the metadata topic's); 2^-120 odds, but free.
            if bytes[..15].iter().any(|&b| b != 0) {
                return TopicId(bytes);
            }
        }
    }

    /// An id from wire bytes; `None` for the nil id (the wire's "no id").
    pub(crate) fn from_bytes(bytes: [u8; 16]) -> Option<TopicId> {
        (bytes != [0; 16]).then_some(TopicId(bytes))
    }

    /// The id in the protocol's own type (`kafka-protocol` uses `uuid::Uuid`, which it does not
    /// re-export; converting through `Vec<u8>` lets the call site infer it without a direct
    /// dependency on `uuid`).
    pub(crate) fn to_wire<T: TryFrom<Vec<u8>>>(self) -> Option<T> {
        T::try_from(self.0.to_vec()).ok()
    }

    fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn from_hex(s: &str) -> Option<TopicId> {
        let s = s.as_bytes();
        if s.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let digits = std::str::from_utf8(pair).ok()?;
            *o = u8::from_str_radix(digits, 16).ok()?;
        }
        TopicId::from_bytes(out)
    }
}

/// The file's contents for `id`.
fn render(id: TopicId) -> String {
    format!("version: 0\ntopic_id: {}\n", id.to_hex())
}

/// The id in a file's contents, or `None` if they are not exactly what [`render`] writes.
fn parse(text: &str) -> Option<TopicId> {
    let mut lines = text.lines();
    if lines.next()? != "version: 0" {
        return None;
    }
    let id = TopicId::from_hex(lines.next()?.strip_prefix("topic_id: ")?)?;
    lines.next().is_none().then_some(id)
}

/// Reads `dir`'s id file; `None` if it is missing or unreadable.
fn read(dir: &Path) -> Option<TopicId> {
    parse(&fs::read_to_string(dir.join(FILE_NAME)).ok()?)
}

/// Writes `id` into `dir` atomically (temporary file, then rename).
fn write(dir: &Path, id: TopicId) -> io::Result<()> {
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(render(id).as_bytes())?;
    drop(f);
    fs::rename(&tmp, dir.join(FILE_NAME))
}

/// The id stored in a topic's partition directories (which exist), or a new one; either way it
/// is then stored in every directory that lacked it. Directories that disagree are refused, as
/// Kafka refuses them: which incarnation they hold cannot be known.
pub(crate) fn load_or_assign(dirs: &[PathBuf]) -> io::Result<TopicId> {
    let found: Vec<Option<TopicId>> = dirs.iter().map(|d| read(d)).collect();
    let mut known = found.iter().flatten();
    let id = match known.next() {
        Some(&first) => {
            if let Some(other) = known.find(|&&o| o != first) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "partition directories disagree on the topic id ({} vs {})",
                        first.to_hex(),
                        other.to_hex()
                    ),
                ));
            }
            first
        }
        None => TopicId::random(),
    };
    for (dir, had) in dirs.iter().zip(&found) {
        if had.is_none() {
            write(dir, id)?;
        }
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trips_and_rejects_anything_else() {
        let id = TopicId::random();
        assert_eq!(parse(&render(id)), Some(id));
        assert_eq!(render(TopicId([0xab; 16])).len(), 11 + 10 + 32 + 1);
        for bad in [
            "",
            "version: 1\ntopic_id: abababababababababababababababab\n",
            "version: 0\ntopic_id: abab\n",
            "version: 0\ntopic_id: 00000000000000000000000000000000\n",
            "version: 0\ntopic_id: zzababababababababababababababab\n",
            "version: 0\ntopic_id: abababababababababababababababab\nmore\n",
            "version: 0\ntopic_id: éababababababababababababababab\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(TopicId::from_bytes([0; 16]), None);
    }

    #[test]
    fn load_or_assign_keeps_fills_in_and_refuses_disagreement() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..3).map(|p| tmp.path().join(format!("t-{p}"))).collect();
        for d in &dirs {
            fs::create_dir_all(d).unwrap();
        }
        // No files: a new id, written everywhere.
        let id = load_or_assign(&dirs).unwrap();
        assert!(dirs.iter().all(|d| read(d) == Some(id)));
        assert_eq!(load_or_assign(&dirs).unwrap(), id, "stable");
        // One file lost or damaged: the others' id is kept and rewritten.
        fs::write(dirs[1].join(FILE_NAME), "garbage").unwrap();
        fs::remove_file(dirs[2].join(FILE_NAME)).unwrap();
        assert_eq!(load_or_assign(&dirs).unwrap(), id);
        assert!(dirs.iter().all(|d| read(d) == Some(id)));
        // Two different ids: refused.
        write(&dirs[0], TopicId::random()).unwrap();
        let e = load_or_assign(&dirs).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
