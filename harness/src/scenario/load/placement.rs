//! Meaning of `[server]` and `[load]`: where the server runs (its own process by default, or
//! inside the load generator) and which CPUs each side may use, each error located at its value.

use toml::Spanned;

use super::located::Located;
use super::raw::{RawLoad, RawServer};
use crate::scenario::model::{LoadPlacement, ServerMode, ServerPlacement};

/// `[server]`, with defaults: its own process, no CPU pinning.
pub(super) fn server(raw: Option<RawServer>, online: &[u32]) -> Result<ServerPlacement, Located> {
    let Some(raw) = raw else {
        return Ok(ServerPlacement::default());
    };
    let mode = match &raw.mode {
        None => ServerMode::default(),
        Some(m) => ServerMode::from_name(m.get_ref()).ok_or_else(|| {
            Located::at(
                m.span(),
                format!(
                    "unknown server mode `{}`; allowed: {}",
                    m.get_ref(),
                    ServerMode::NAMES.join(", ")
                ),
            )
        })?,
    };
    let cpus = cpus(raw.cpus, online)?;
    if mode == ServerMode::InProcess && cpus.is_some() {
        return Err(Located::at(
            raw.mode.as_ref().map_or(0..0, Spanned::span),
            "[server] cpus needs mode = \"process\": an in-process server shares the load \
             generator's threads",
        ));
    }
    Ok(ServerPlacement { mode, cpus })
}

/// `[load]`, with defaults: no CPU pinning.
pub(super) fn load(raw: Option<RawLoad>, online: &[u32]) -> Result<LoadPlacement, Located> {
    Ok(LoadPlacement {
        cpus: cpus(raw.and_then(|r| r.cpus), online)?,
    })
}

/// A CPU list: non-empty, no repeats, every entry a CPU this machine has online.
fn cpus(
    raw: Option<Spanned<Vec<Spanned<i64>>>>,
    online: &[u32],
) -> Result<Option<Vec<u32>>, Located> {
    let Some(list) = raw else { return Ok(None) };
    if list.get_ref().is_empty() {
        return Err(Located::at(list.span(), "cpus must name at least one CPU"));
    }
    let allowed = || {
        online
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    for cpu in list.get_ref() {
        let id = u32::try_from(*cpu.get_ref())
            .ok()
            .filter(|c| online.contains(c))
            .ok_or_else(|| {
                Located::at(
                    cpu.span(),
                    format!(
                        "CPU {} is not online on this machine; allowed: {}",
                        cpu.get_ref(),
                        allowed()
                    ),
                )
            })?;
        if out.contains(&id) {
            return Err(Located::at(cpu.span(), format!("CPU {id} is listed twice")));
        }
        out.push(id);
    }
    Ok(Some(out))
}
