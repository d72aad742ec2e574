//! Servers we did not write (nginx with Nchan today; nats-server, redis-server, mosquitto
//! next), started and owned by the harness the way testcontainers owns a container: a small
//! description ([`ProgramSpec`]) and a handle ([`ManagedProgram`]) that stops it.
//!
//! A description says which executable to run and which Debian packages provide it (so a
//! missing program is a clear setup error, not a spawn failure), the arguments, the config
//! files to write into a fresh temporary folder (`{dir}` in arguments and files names that
//! folder), and when the program counts as ready (an address that answers, within a
//! deadline). The handle owns every process of the program: the executable runs in a process
//! group of its own, so workers it forks (nginx: master plus workers) are found by group and
//! sampled from `/proc`, and stopping signals the main process, waits a bounded time and then
//! kills the whole group. No orphan survives the harness: the main process has a parent-death
//! signal, and a tiny guard process in the same group (`sh`, reading a pipe from us) kills the
//! group when the pipe closes, which the kernel does when the harness dies, even by `kill -9`.
//! Workers need the guard because a parent-death signal is not inherited across `fork`.
//!
//! Adding nats-server is a few lines in its transport's `serve`:
//!
//! ```ignore
//! let port = transport_program::free_port()?;
//! let spec = ProgramSpec {
//!     args: vec!["-a".into(), "127.0.0.1".into(), "-p".into(), port.to_string(),
//!                "-js".into(), "-sd".into(), "{dir}/js".into()],
//!     ready: Ready::Tcp(([127, 0, 0, 1], port).into()),
//!     ..ProgramSpec::new("nats-server", &["nats-server"])
//! };
//! let program = ManagedProgram::start(&spec).await?;
//! ```
//!
//! The runner then reads the program's CPU and memory through [`ManagedProgram::pids`].
//!
//! [`tcp_info`] reads the kernel's byte counters of one of our own client connections, for
//! client libraries of those products that open their sockets themselves, and [`SocketTally`]
//! adds them to a run's wire stats as `CountingIo` would; [`OutsideTally`] does the same for
//! every connection another process on this host (a browser) opened to a server.

mod error;
mod handle;
mod os;
mod outside;
mod procfs;
mod ready;
mod server;
mod spec;
mod tally;
pub mod tcp_info;

pub use error::ProgramError;
pub use handle::{ManagedProgram, Stopped};
pub use outside::OutsideTally;
pub use procfs::{group_members, is_running};
pub use server::{ProgramServer, check_installed};
pub use spec::{ProgramSpec, Ready, free_port, which};
pub use tally::SocketTally;
