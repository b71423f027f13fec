//! The native target's in-place update: a running Grafana re-reads the generated dashboards
//! and provisioning through its reload API; the pidfile then records the new content.
//!
//! Owns: executing a process's `Update` step. May not: print, read the environment except
//! through [`crate::settings`], signal a process, or start one but one that stopped by itself.

use std::path::Path;

use super::NativeTarget;
use crate::desired::{ProcessSpec, Resource};
use crate::error::{Error, Result};
use crate::targets::common;

impl NativeTarget {
    /// Update a running process in place: its files are written, so Grafana re-reads them
    /// through its reload API; then its pidfile records the new content. One that stopped by
    /// itself is started (it reads the new files).
    pub(super) async fn reload(
        &self,
        r: &Resource,
        p: &ProcessSpec,
        changes: &[crate::plan::FieldChange],
    ) -> Result<()> {
        let kinds = crate::targets::reload::kinds(changes);
        if kinds.is_empty() || !changes.iter().all(|c| r.changes_in_place(&c.path)) {
            return Err(Error::internal(format!(
                "{}: the process cannot be changed in place",
                r.id
            )));
        }
        let Some(rec) = self.live(&p.name) else {
            // It stopped by itself (its pidfile is left): started, it reads the files already
            // written — what a reload would have made it re-read.
            self.stop(&p.name, std::time::Duration::from_secs(10))
                .await?;
            return self.start(&common::as_created(&self.ctx, r), p).await;
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
