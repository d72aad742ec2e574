//! MQTT 3.1.1 on mosquitto, a production push broker that keeps state per consumer: at QoS 1
//! each subscriber's unacknowledged and queued messages live on the broker, and a persistent
//! session (`clean_session = false`) keeps them across a broken connection. That is the
//! "broker tracks each consumer's state" side of push vs pull.
//!
//! [`Mqtt`] (`mqtt`): the managed broker ([`broker`], started through `transport_program`),
//! and clients ([`publisher`], [`subscriber`]) on our own connection ([`session`]) framed by
//! rumqttc's MQTT codec, over `CountingIo`: every byte is counted at the client's socket,
//! CONNECT/CONNACK and SUBSCRIBE/SUBACK apart as handshake. The broker's sockets are not ours
//! to count; on loopback they carry the mirror of the clients' bytes.

pub mod broker;
pub mod config;
pub mod publisher;
pub mod session;
pub mod subscriber;

use tokio::net::TcpListener;
use transport_core::{
    Capabilities, ClientContext, OptionDoc, ServerContext, ServerKind, Transport, TransportError,
};

pub use broker::MqttBroker;
pub use config::MqttConfig;
pub use publisher::MqttPublisher;
pub use subscriber::MqttSubscriber;

/// Where the broker can be: a managed mosquitto, or someone else's.
const KINDS: &[ServerKind] = &[ServerKind::Program, ServerKind::Remote];

/// MQTT: push, per-subscriber state on the broker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mqtt;

impl Transport for Mqtt {
    const NAME: &'static str = "mqtt";
    type Config = MqttConfig;
    type Server = MqttBroker;
    type Publisher = MqttPublisher;
    type Subscriber = MqttSubscriber;

    fn options() -> &'static [OptionDoc] {
        config::OPTIONS
    }

    fn capabilities() -> Capabilities {
        // With the default options (QoS 1, clean_session = false): see `guarantee`.
        Capabilities {
            resumes: MqttConfig::default().resumes(),
        }
    }

    fn guarantee() -> &'static str {
        "with qos = 1 and clean_session = false (the default) the broker keeps each subscriber's \
         queue and it resumes (loss past max_queued_messages is counted); qos = 0 or \
         clean_session = true: at-most-once across a reconnect, loss counted"
    }

    fn server_kinds() -> &'static [ServerKind] {
        KINDS
    }

    fn validate(config: &MqttConfig) -> Result<(), String> {
        config.validate()
    }

    fn preflight(config: &MqttConfig) -> Result<(), TransportError> {
        broker::check(config)
    }

    async fn serve(
        config: &MqttConfig,
        listener: TcpListener,
        ctx: ServerContext,
    ) -> Result<MqttBroker, TransportError> {
        broker::start(config, listener, ctx.socket.nodelay).await
    }

    async fn publisher(
        config: &MqttConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<MqttPublisher, TransportError> {
        publisher::connect(config, addr, topic, ctx).await
    }

    async fn subscriber(
        config: &MqttConfig,
        addr: &str,
        topic: &str,
        ctx: ClientContext,
    ) -> Result<MqttSubscriber, TransportError> {
        subscriber::connect(config, addr, topic, ctx).await
    }
}
