//! End-to-end tests of the client against the embedded broker on loopback.

mod check_faults;
mod conformance;
mod fault_proxy;
mod faults;
mod fetch_parking;
mod groups;
mod idempotence;
mod incarnation;
mod kcat;
mod util;
