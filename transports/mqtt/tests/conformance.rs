//! The core conformance kit against a real mosquitto: with the defaults (QoS 1, persistent
//! session) every check including resume after a cut; at QoS 0 and with a clean session,
//! delivery and the at-most-once reconnect case, whose loss is counted.

use transport_core::conformance;
use transport_mqtt::{Mqtt, MqttConfig};
use transport_test_support::peers::{MOSQUITTO, present};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_qos1_persistent_session() {
    if !present(&MOSQUITTO) {
        return;
    }
    conformance::run_all::<Mqtt>(MqttConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos0_delivers_and_counts_its_loss_across_a_cut() {
    if !present(&MOSQUITTO) {
        return;
    }
    let config = MqttConfig {
        qos: 0,
        ..MqttConfig::default()
    };
    conformance::delivers_in_order::<Mqtt>(config.clone(), 2, 200, 100).await;
    let report = conformance::counts_loss_after_cut::<Mqtt>(config, 50, 5).await;
    assert!(report.received >= 55, "{report:?}");
    eprintln!(
        "mqtt qos 0 across a cut: {report:?}, lost {}",
        report.lost()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_session_counts_its_loss_across_a_cut() {
    if !present(&MOSQUITTO) {
        return;
    }
    let config = MqttConfig {
        clean_session: true,
        ..MqttConfig::default()
    };
    let report = conformance::counts_loss_after_cut::<Mqtt>(config, 50, 5).await;
    assert!(report.received >= 55, "{report:?}");
    eprintln!(
        "mqtt clean session across a cut: {report:?}, lost {}",
        report.lost()
    );
}
