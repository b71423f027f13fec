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
mod status;

use super::{Context, ServiceStatus, Target, grafana_api, record};
use crate::desired::{CloudEndpoints, Desired, ResourceKind, ResourceSpec};
use crate::error::{Error, Result};
use crate::plan::{Action, Observed, Plan, Step};

/// What an observe is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A plan (or apply): what another stack owns is refused.
    Plan,
    /// `destroy`: what another stack owns is left alone.
    Destroy,
}

/// The cloud target of one stack.
pub struct CloudTarget {
    ctx: Context,
    /// One Grafana client for every step, so its limit of requests in flight
    /// ([`grafana_api::CONCURRENCY`]) holds across the concurrent steps of an apply.
    grafana: std::cell::OnceCell<crate::grafana::Client>,
    /// The dashboard versions the last observe read (what apply saves against).
    versions: std::cell::RefCell<Option<grafana_api::Versions>>,
    /// One InfluxDB Cloud client for every step (it looks the organisation up once).
    influx: std::cell::OnceCell<influx::InfluxCloud>,
}

impl CloudTarget {
    /// The cloud target of the stack of `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            grafana: std::cell::OnceCell::new(),
            versions: std::cell::RefCell::new(None),
            influx: std::cell::OnceCell::new(),
        }
    }

    fn influx(&self, desired: &Desired) -> Result<&influx::InfluxCloud> {
        if let Some(i) = self.influx.get() {
            return Ok(i);
        }
        let i = influx::InfluxCloud::new(&self.ctx, self.endpoints(desired)?)?;
        Ok(self.influx.get_or_init(|| i))
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
        if let Some(c) = self.grafana.get() {
            return Ok(c.clone());
        }
        let c = grafana_api::client(&self.ctx, desired)?;
        Ok(self.grafana.get_or_init(|| c).clone())
    }

    /// [`Target::observe`]; for [`Purpose::Destroy`], what another stack owns (a bucket, a
    /// declared dashboard uid in its folder) is no refusal: `destroy` leaves it where it is
    /// and says so, and the organisation's home dashboard is not read.
    async fn observe_for(&self, desired: &Desired, purpose: Purpose) -> Result<Observed> {
        let grafana = self.grafana(desired)?;
        let influx = self.influx(desired)?;
        let rec = record::read(&self.ctx, record::CLOUD);
        let mut from_influx = Observed::default();
        let others = desired.resources.values().map(|r| async {
            match &r.spec {
                ResourceSpec::Datasource(d) => {
                    grafana::observe_datasource(&grafana, r, d, &rec).await
                }
                ResourceSpec::Alerting(a) => grafana::observe_alerting(&grafana, r, a, &rec).await,
                _ => Ok(None),
            }
        });
        let grafana_side = async {
            // All at once: the client bounds what is in flight.
            let ((mut found, versions), others) = futures_util::try_join!(
                grafana_api::read_versions(&grafana, desired),
                futures_util::future::try_join_all(others),
            )?;
            let home = match purpose {
                Purpose::Plan => {
                    refuse_other_stacks(&grafana, desired, &found).await?;
                    home_taken(&grafana, desired).await
                }
                Purpose::Destroy => {
                    // As `destroy` does: a dashboard out of the stack's folder stays.
                    found.retain(|o| {
                        o.id.kind != ResourceKind::Dashboard || in_stack_folder(desired, o)
                    });
                    None
                }
            };
            self.versions.replace(Some(versions));
            found.extend(others.into_iter().flatten());
            Ok::<_, Error>((found, home))
        };
        let influx_side = influx::observe(influx, &self.ctx, desired, purpose, &mut from_influx);
        let ((found, home), ()) = futures_util::try_join!(grafana_side, influx_side)?;
        let mut observed = from_influx;
        observed.extend(found);
        observed.warnings.extend(home);
        Ok(observed)
    }
}

#[async_trait::async_trait(?Send)]
impl Target for CloudTarget {
    fn name(&self) -> &'static str {
        "cloud"
    }

    async fn preflight(&self, _plan: &Plan, desired: &Desired) -> Result<()> {
        self.grafana(desired)?;
        self.influx(desired).map(|_| ())
    }

    async fn observe(&self, desired: &Desired) -> Result<Observed> {
        self.observe_for(desired, Purpose::Plan).await
    }

    async fn observe_to_destroy(&self, desired: &Desired) -> Result<Observed> {
        self.observe_for(desired, Purpose::Destroy).await
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
                influx::apply_bucket(self.influx(desired)?, &self.ctx, d).await
            }
            ResourceSpec::Token(t) => {
                influx::mint(self.influx(desired)?, &self.ctx, desired, r, t).await?;
                // A new token is put where it is used in the same step (the datasource, when
                // Grafana has it already): the old one no longer exists.
                for ds in desired.resources.values() {
                    if let ResourceSpec::Datasource(d) = &ds.spec
                        && d.secure.values().any(|f| {
                            matches!(&f.value, crate::desired::EnvValue::Secret(n) if *n == t.secret)
                        })
                        && grafana::datasource_exists(&grafana, &d.uid).await?
                    {
                        grafana::apply_datasource(&grafana, &self.ctx, ds, d).await?;
                    }
                }
                Ok(())
            }
            ResourceSpec::Datasource(d) => {
                grafana::apply_datasource(&grafana, &self.ctx, r, d).await
            }
            ResourceSpec::Alerting(a) => {
                grafana::apply_alerting(&grafana, &self.ctx, r, a, cloud.alerting_editable).await
            }
            ResourceSpec::Folder(_) | ResourceSpec::Dashboard(_) => {
                let versions = self.versions.borrow().clone();
                grafana_api::execute_with(&grafana, &self.ctx, desired, step, r, versions.as_ref())
                    .await
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
        self.status_rows(desired).await
    }

    /// Everything the stack made there; its bucket (the data) only with `volumes`, and only
    /// when the stack made it (found so by the last observe).
    fn destroys(&self, id: &crate::desired::ResourceId, volumes: bool) -> bool {
        id.kind != ResourceKind::Database
            || (volumes && self.influx.get().is_some_and(|i| i.bucket_ours.get()))
    }

    async fn destroy(&self, desired: &Desired, volumes: bool) -> Result<crate::targets::Destroyed> {
        let cloud = self.endpoints(desired)?;
        let grafana = self.grafana(desired)?;
        let influx = self.influx(desired)?;
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
        // Dashboards: the declared ones and those tagged as the stack's in its folder; a
        // declared one found in another folder now (another stack took its uid since the plan
        // was confirmed) is left where it is.
        for o in grafana_api::read(&grafana, desired).await? {
            if o.id.kind == ResourceKind::Dashboard {
                if !in_stack_folder(desired, &o) {
                    tracing::warn!(
                        "{}: not deleted: it is in folder {} now, not this stack's",
                        o.id,
                        o.canonical["folder_uid"].as_str().unwrap_or("General")
                    );
                    continue;
                }
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
        removed.extend(influx::delete_tokens(influx, &self.ctx, desired).await?);
        if volumes
            && let Some(b) = influx::bucket(desired)
            && influx::delete_bucket(influx, &self.ctx, b).await?
        {
            removed.push(format!("database.{} (its data)", b.name));
        }
        record::update(&self.ctx, record::CLOUD, |rec| rec.sent.clear())?;
        Ok(removed.into())
    }
}

/// Whether the observed dashboard `o` is in the stack's folder, where `destroy` deletes it (a
/// stack without a folder declares no dashboard: then any is).
fn in_stack_folder(desired: &Desired, o: &crate::plan::ObservedResource) -> bool {
    let folder = desired.folder().map(|(_, f)| f.uid.as_str());
    folder.is_none() || o.canonical["folder_uid"].as_str() == folder
}

/// Refuse to plan a declared dashboard Grafana has in another stack's folder
/// ([`crate::grafana::sync::other_stack`]): the plan would move it here, and that stack's plan
/// would move it back. Only a dashboard found outside the stack's folder is read again.
async fn refuse_other_stacks(
    grafana: &crate::grafana::Client,
    desired: &Desired,
    found: &[crate::plan::ObservedResource],
) -> Result<()> {
    for o in found {
        let Some(ResourceSpec::Dashboard(d)) = desired.resources.get(&o.id).map(|r| &r.spec) else {
            continue;
        };
        if o.canonical["folder_uid"].as_str() == Some(d.folder_uid.as_str()) {
            continue;
        }
        if let Some(answer) = grafana.dashboard_answer(&d.uid).await?
            && let Some(owner) = crate::grafana::sync::other_stack(&answer, &d.folder_uid)
        {
            return Err(crate::grafana::sync::owned_by_other(
                grafana,
                &d.uid,
                &owner,
                &d.folder_uid,
            ));
        }
    }
    Ok(())
}

/// The organisation's home dashboard is one preference for the whole Grafana: when another
/// stack's dashboard holds it and this stack sets `grafana.home_dashboard`, this stack's apply
/// takes it, and that stack's next apply may take it back. Said with the plan, whose `home`
/// change shows what apply does; a home chosen in Grafana's UI (no stack's) is the manifest's
/// to replace. Best effort: a read that fails (the home dashboard in a folder this token may
/// not read) says nothing, and the plan goes on.
async fn home_taken(grafana: &crate::grafana::Client, desired: &Desired) -> Option<String> {
    let ours = desired.resources.values().find_map(|r| match &r.spec {
        ResourceSpec::Dashboard(d) if d.home => Some(d),
        _ => None,
    })?;
    let home = grafana
        .home_dashboard()
        .await
        .ok()
        .flatten()
        .filter(|h| !h.is_empty() && *h != ours.uid)?;
    let answer = grafana.dashboard_answer(&home).await.ok().flatten()?;
    let owner = crate::grafana::sync::other_stack(&answer, &ours.folder_uid)?;
    Some(format!(
        "the organisation's home dashboard is `{home}`, stack `{owner}`'s dashboard: this stack's `grafana.home_dashboard` takes it (dashboard.{}), and if stack `{owner}` sets it too, each one's apply takes it from the other: keep it in one of the two manifests",
        ours.uid
    ))
}
