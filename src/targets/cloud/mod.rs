//! The cloud target: the stack on Grafana Cloud and InfluxDB Cloud, through their HTTP APIs,
//! with the same plan semantics as every target (create / update in place / replace, field
//! diffs, an empty re-plan after apply).
//!
//! - InfluxDB Cloud ([`influx`]): bucket with retention and DBRP mapping, k6's write-only and
//!   Grafana's read-only tokens.
//! - Grafana Cloud: folder and dashboards through [`super::grafana_api`] (as on docker and
//!   native), datasource and alerting through [`grafana`].
//!
//! Nothing runs here, so there are no services to start, log or restart; `status` reports
//! whether each API answers and what the stack has there. `destroy` removes only what this tool
//! made; the bucket (the data) only with `--volumes`.
//!
//! May not: print, read the environment (credentials come from `.env` or the values the
//! command was given), decide (plan decides).

mod grafana;
mod influx;
pub mod record;

use reqwest::Method;

use super::{Context, ServiceStatus, Target, grafana_api};
use crate::desired::{CloudEndpoints, Desired, ResourceKind, ResourceSpec};
use crate::error::{Error, Result};
use crate::plan::{Action, Observed, Plan, Step};

/// The cloud target of one stack.
pub struct CloudTarget {
    ctx: Context,
}

impl CloudTarget {
    /// The cloud target of the stack of `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    fn endpoints<'a>(&self, desired: &'a Desired) -> Result<&'a CloudEndpoints> {
        desired.cloud.as_ref().ok_or_else(|| {
            Error::internal(format!(
                "stack `{}` was not compiled for the cloud target",
                self.ctx.stack
            ))
        })
    }

    fn grafana(&self, desired: &Desired) -> Result<crate::grafana::Client> {
        grafana_api::client(&self.ctx, desired)
    }
}

#[async_trait::async_trait(?Send)]
impl Target for CloudTarget {
    fn name(&self) -> &'static str {
        "cloud"
    }

    async fn preflight(&self, _plan: &Plan, desired: &Desired) -> Result<()> {
        let cloud = self.endpoints(desired)?;
        self.grafana(desired)?;
        influx::client(&self.ctx, cloud).map(|_| ())
    }

    async fn observe(&self, desired: &Desired) -> Result<Observed> {
        let cloud = self.endpoints(desired)?;
        let grafana = self.grafana(desired)?;
        let influx = influx::client(&self.ctx, cloud)?;
        let rec = record::read(&self.ctx);
        let mut from_influx = Observed::default();
        let grafana_side = async {
            let mut found = grafana_api::read(&grafana, desired).await?;
            for r in desired.resources.values() {
                let o = match &r.spec {
                    ResourceSpec::Datasource(d) => {
                        grafana::observe_datasource(&grafana, r, d, &rec).await?
                    }
                    ResourceSpec::Alerting(a) => {
                        grafana::observe_alerting(&grafana, r, a, &rec).await?
                    }
                    _ => None,
                };
                found.extend(o);
            }
            Ok::<_, Error>(found)
        };
        let influx_side = influx::observe(&influx, &self.ctx, cloud, desired, &mut from_influx);
        let (found, ()) = futures_util::try_join!(grafana_side, influx_side)?;
        let mut observed = from_influx;
        for o in found {
            observed.resources.insert(o.id.clone(), o);
        }
        Ok(observed)
    }

    async fn execute(&self, step: &Step, desired: &Desired) -> Result<()> {
        let cloud = self.endpoints(desired)?;
        let grafana = self.grafana(desired)?;
        let Some(r) = desired.resources.get(&step.id) else {
            if step.action == Action::Delete {
                return grafana_api::delete_with(&grafana, &self.ctx, &step.id).await;
            }
            return Err(Error::internal(format!(
                "{}: the plan refers to a resource the stack does not declare",
                step.id
            )));
        };
        match &r.spec {
            ResourceSpec::Database(d) => {
                let c = influx::client(&self.ctx, cloud)?;
                influx::apply_bucket(&c, cloud, d).await
            }
            ResourceSpec::Token(t) => {
                let c = influx::client(&self.ctx, cloud)?;
                influx::mint(&c, &self.ctx, cloud, desired, r, t).await
            }
            ResourceSpec::Datasource(d) => {
                grafana::apply_datasource(&grafana, &self.ctx, r, d).await
            }
            ResourceSpec::Alerting(a) => {
                grafana::apply_alerting(&grafana, &self.ctx, r, a, cloud.alerting_editable).await
            }
            ResourceSpec::Folder(_) | ResourceSpec::Dashboard(_) => {
                grafana_api::execute_with(&grafana, &self.ctx, desired, step, r).await
            }
            ResourceSpec::Network { .. }
            | ResourceSpec::Volume { .. }
            | ResourceSpec::Service(_)
            | ResourceSpec::Process(_) => Err(Error::internal(format!(
                "{}: compiled for another target than cloud",
                r.id
            ))),
        }
    }

    async fn status(&self, desired: &Desired) -> Result<Vec<ServiceStatus>> {
        let cloud = self.endpoints(desired)?;
        let grafana = self.grafana(desired)?;
        let influx = influx::client(&self.ctx, cloud)?;
        let observed = self.observe(desired).await;
        let (health, _) = match grafana.request(Method::GET, "/api/health", None).await {
            Ok((s, v)) if s.is_success() => (Some(v), ()),
            _ => (None, ()),
        };
        let count = |kinds: &[ResourceKind]| {
            let want = desired
                .resources
                .keys()
                .filter(|id| kinds.contains(&id.kind))
                .count();
            let have = observed.as_ref().map_or(0, |o| {
                o.resources
                    .keys()
                    .filter(|id| kinds.contains(&id.kind) && desired.resources.contains_key(id))
                    .count()
            });
            (have, want)
        };
        let grafana_kinds = [
            ResourceKind::Datasource,
            ResourceKind::Folder,
            ResourceKind::Dashboard,
            ResourceKind::Alerting,
        ];
        let influx_kinds = [ResourceKind::Database, ResourceKind::Token];
        let row = |service: &str,
                   url: &str,
                   reachable: bool,
                   version: String,
                   (have, want): (usize, usize)| {
            ServiceStatus {
                service: service.to_string(),
                state: if !reachable {
                    "unreachable".into()
                } else if have == 0 {
                    "missing".into()
                } else {
                    "running".into()
                },
                health: if reachable && have == want {
                    "healthy".into()
                } else {
                    "unhealthy".into()
                },
                image: format!("{have}/{want} objects"),
                version,
                url: url.to_string(),
                uptime: "-".into(),
                // Presence only: `plan --target cloud` compares the contents.
                up_to_date: have == want,
            }
        };
        let influx_up = crate::influx::cloud::org(&influx, &cloud.influx_org)
            .await
            .is_ok();
        Ok(vec![
            row(
                "grafana",
                &cloud.grafana_url,
                health.is_some(),
                health
                    .as_ref()
                    .and_then(|h| h["version"].as_str())
                    .unwrap_or("-")
                    .to_string(),
                count(&grafana_kinds),
            ),
            row(
                "influxdb",
                &cloud.influx_url,
                influx_up,
                "cloud".into(),
                count(&influx_kinds),
            ),
        ])
    }

    /// Everything the stack made there; its bucket (the data) only with `volumes`.
    fn destroys(&self, id: &crate::desired::ResourceId, volumes: bool) -> bool {
        id.kind != ResourceKind::Database || volumes
    }

    async fn destroy(&self, desired: &Desired, volumes: bool) -> Result<Vec<String>> {
        let cloud = self.endpoints(desired)?;
        let grafana = self.grafana(desired)?;
        let influx = influx::client(&self.ctx, cloud)?;
        let mut removed = Vec::new();
        // Alerting first (a policy route names the contact point, which names the template).
        let order = ["rule_group", "policy", "contact_point", "template"];
        for object in order {
            for r in desired.resources.values() {
                if let ResourceSpec::Alerting(a) = &r.spec
                    && a.object == object
                    && grafana::delete_alerting(&grafana, a, cloud.alerting_editable).await?
                {
                    removed.push(r.id.to_string());
                }
            }
        }
        // Dashboards: the declared ones and those tagged as the stack's in its folder.
        for o in grafana_api::read(&grafana, desired).await? {
            if o.id.kind == ResourceKind::Dashboard {
                grafana_api::delete_with(&grafana, &self.ctx, &o.id).await?;
                removed.push(o.id.to_string());
            }
        }
        for r in desired.resources.values() {
            let gone = match &r.spec {
                ResourceSpec::Folder(f) => {
                    grafana_api::delete_folder_if_empty(&grafana, &f.uid).await?
                }
                ResourceSpec::Datasource(d) => grafana::delete_datasource(&grafana, &d.uid).await?,
                _ => false,
            };
            if gone {
                removed.push(r.id.to_string());
            }
        }
        removed.extend(influx::delete_tokens(&influx, &self.ctx, cloud, desired).await?);
        if volumes
            && let Some(b) = influx::bucket(desired)
            && influx::delete_bucket(&influx, cloud, b).await?
        {
            removed.push(format!("database.{} (its data)", b.name));
        }
        record::update(&self.ctx, |rec| rec.sent.clear())?;
        Ok(removed)
    }
}
