//! Scenario files: the TOML model, loading with located errors, matrix expansion, and the
//! consumer classes a run's subscribers are split into.

pub mod consumers;
mod load;
mod model;
pub mod options;
pub mod tls;

pub use load::{ScenarioError, load, load_str, resolve_path};
pub use model::{
    BrowserRuns, Client, LoadPlacement, Rate, RunSpec, Scenario, ServerMode, ServerPlacement,
    check_host_port,
};
