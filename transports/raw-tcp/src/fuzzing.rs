//! What the fuzz targets in `fuzz/` need of the wire format, behind the `fuzzing` feature so
//! the public API stays as it is: the frame codec, hello, ack and sync messages, and the
//! publisher's frame scanner, all from `proto`.

pub use crate::proto::*;
