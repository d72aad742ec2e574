//! What limited the figures a report ranks or judges (`limited_by`), in words: a finding when a
//! closed-loop ranking rests on figures our load generator held down, and the note every
//! capacity verdict of the claims table quotes, so no verdict blames a pattern for what our
//! publisher, the window or the link did.

use crate::charts::select::{Cell, RateKey, Variant, sustained};
use crate::registry::TransportKind;
use crate::results::RunResult;
use crate::results::limits::Limit;

/// "limited by server (the server's cores: server 97% of 1 core, …)", or `None` for results
/// from before `limited_by`.
pub fn note(run: &RunResult) -> Option<String> {
    let limit = run.limited_by?;
    Some(match run.limits.as_ref().filter(|l| !l.reason.is_empty()) {
        Some(l) => format!("limited by {limit} ({})", l.reason),
        None => format!("limited by {limit}"),
    })
}

/// The run that shows what capped `transport`'s capacity: its closed-loop run, else the lowest
/// offered rate it did not sustain (the run past its capacity).
pub fn ceiling_run<'a>(v: &Variant<'a>, transport: TransportKind) -> Option<&'a RunResult> {
    if let Some(c) = v.cell(transport, RateKey::Max) {
        return Some(c.run);
    }
    v.cells
        .iter()
        .filter(|c| c.transport == transport && !sustained(c.run))
        .filter_map(|c| Some((c.rate.per_sec()?, c.run)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, r)| r)
}

/// What limited each closed-loop figure, and a warning when the ranking rests on figures the
/// load generator held down (they are lower bounds: the ranking then measures our clients).
pub fn findings(v: &Variant<'_>) -> Vec<String> {
    let closed = v.at(RateKey::Max);
    let known: Vec<(&Cell<'_>, Limit)> = closed
        .iter()
        .filter_map(|c| Some((*c, c.run.limited_by?)))
        .collect();
    if known.is_empty() {
        return Vec::new();
    }
    let each: Vec<String> = known
        .iter()
        .map(|(c, l)| format!("**{}** {l}", c.transport))
        .collect();
    let mut out = vec![format!(
        "What limited each closed-loop figure: {} (the reasons, with each process's CPU share, \
         are in `summary.json` under `limits`).",
        each.join(", ")
    )];
    let bound: Vec<&(&Cell<'_>, Limit)> = known
        .iter()
        .filter(|(_, l)| *l == Limit::LoadGenerator)
        .collect();
    if !bound.is_empty() && closed.len() > 1 {
        let names: Vec<String> = bound
            .iter()
            .map(|(c, _)| {
                let busy = c.run.limits.as_ref().and_then(|l| l.load_cpu_busy);
                let share = busy.map_or(String::new(), |b| format!(", {:.0}% busy", b * 100.0));
                format!("**{}** (load generator{share})", c.transport)
            })
            .collect();
        out.push(format!(
            "The closed-loop ranking rests on load-bound figures: {} ran with the load \
             generator's cores saturated, so their throughput is a lower bound for the transport, \
             and a ranking that includes them measures our clients as much as the patterns.",
            names.join(", ")
        ));
    }
    out
}
