//! End-to-end tests of the client against the embedded broker on loopback.

mod conformance;
mod faults;
mod fetch_parking;
mod groups;
mod incarnation;
mod kcat;
mod util;
