//! Where the stack's processes really run: a process started from an older manifest (its
//! service moved to another port) answers at its own address until it is restarted, so
//! observe reads what it holds there.
//!
//! Owns: that correction of the desired state for reads. May not: do IO, print.

use crate::desired::{Desired, ResourceId, ResourceSpec};
use crate::plan::Observed;

/// `desired` with each running process's health URL as it was started (its recorded canonical
/// form), when one differs from the manifest's; `None` when none does.
pub(super) fn as_observed(desired: &Desired, observed: &Observed) -> Option<Desired> {
    let moved: Vec<(ResourceId, String)> = observed
        .resources
        .iter()
        .filter_map(|(id, o)| {
            let Some(ResourceSpec::Process(want)) = desired.resources.get(id).map(|r| &r.spec)
            else {
                return None;
            };
            let url = o.canonical.get("health_url")?.as_str()?;
            (url != want.health_url).then(|| (id.clone(), url.to_string()))
        })
        .collect();
    if moved.is_empty() {
        return None;
    }
    let mut running = desired.clone();
    for (id, url) in moved {
        if let Some(ResourceSpec::Process(p)) = running.resources.get_mut(&id).map(|r| &mut r.spec)
        {
            p.health_url = url;
        }
    }
    Some(running)
}
