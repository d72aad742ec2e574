//! The core conformance kit against a real nginx with Nchan, once per subscriber pattern:
//! delivery in order to one and several subscribers, shutdown with a parked subscriber,
//! garbage on a connection, subscribers from spread loopback sources, and resume after every
//! connection is cut.

use transport_core::conformance;
use transport_nchan::{NchanConfig, NchanLongPoll, NchanSse, NchanWebSocket};
use transport_test_support::peers::{NCHAN, present};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_long_poll() {
    if !present(&NCHAN) {
        return;
    }
    conformance::run_all::<NchanLongPoll>(NchanConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sse() {
    if !present(&NCHAN) {
        return;
    }
    conformance::run_all::<NchanSse>(NchanConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_websocket() {
    if !present(&NCHAN) {
        return;
    }
    conformance::run_all::<NchanWebSocket>(NchanConfig::default()).await;
}
