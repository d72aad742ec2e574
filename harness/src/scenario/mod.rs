//! Scenario files: the TOML model, loading with located errors, and matrix expansion.

mod load;
mod model;

pub use load::{ScenarioError, load, load_str, resolve_path};
pub use model::{
    BrowserRuns, Client, LoadPlacement, Rate, RunSpec, Scenario, ServerMode, ServerPlacement,
    check_host_port,
};
