//! Runs the broker on 127.0.0.1 (port from the first argument, default 0) until Ctrl-C, for
//! poking at it with `kcat`.

use transport_core::ServerContext;
use transport_pull_log_broker::{Broker, BrokerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args().nth(1).map_or(Ok(0), |p| p.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let broker = Broker::start(BrokerConfig::default(), listener, ServerContext::fresh()).await?;
    println!("{}", broker.local_addr());
    tokio::signal::ctrl_c().await?;
    broker.shutdown().await?;
    Ok(())
}
