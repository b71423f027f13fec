//! The native target's in-place update: a running Grafana re-reads the generated dashboards
//! and provisioning through its reload API; the pidfile then records the new content.
//!
//! Owns: executing a process's `Update` step. May not: print, read the environment except
//! through [`crate::settings`], start or signal a process.

use std::path::Path;

use super::NativeTarget;
use crate::desired::{ProcessSpec, Resource};
use crate::error::{Error, Result};
use crate::targets::common;

impl NativeTarget {
    /// Update a running process in place: its files are written, so Grafana re-reads them
    /// through its reload API; then its pidfile records the new content.
    pub(super) async fn reload(
        &self,
        r: &Resource,
        p: &ProcessSpec,
        changes: &[crate::plan::FieldChange],
    ) -> Result<()> {
        let kinds = crate::targets::reload::kinds(changes);
        let live = self.live(&p.name);
        let Some(rec) = live
            .filter(|_| !kinds.is_empty() && changes.iter().all(|c| r.changes_in_place(&c.path)))
        else {
            return Err(Error::internal(format!(
                "{}: the process cannot be changed in place",
                r.id
            )));
        };
        // Its own address (the public `url` may be a proxy's).
        let url = p.health_url.trim_end_matches("/api/health");
        let password =
            common::secret(&self.ctx, crate::secrets::GRAFANA_ADMIN_PASSWORD).unwrap_or_default();
        let user = crate::targets::reload::admin_user(&p.env);
        crate::targets::reload::grafana(url, &user, &password, &kinds).await?;
        self.record(
            &p.name,
            Path::new(&rec.program),
            rec.pid,
            rec.start_ticks,
            r,
        )
    }
}
