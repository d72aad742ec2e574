//! End-to-end tests of the client against the embedded broker on loopback.

mod conformance;
