//! InfluxDB initialisation as a converging resource: the database (1.x) or bucket (2.x), its
//! retention, and for 1.x the least-privilege users (admin, a READ user for Grafana, a WRITE
//! user for k6). Observed and applied over the HTTP API, shared by every target that owns an
//! InfluxDB, by `secrets rotate` and by `backup`.
//!
//! Owns: the one InfluxDB client ([`Client`], async; [`blocking::Client`] for synchronous
//! callers), the 1.x ([`v1`]) and 2.x ([`v2`]) protocols, and the database resource's observed
//! form ([`observed_resource`]).
//! May not: print, read the environment, decide what to change (the planner does), or put a
//! password or token in a URL, argv, message or log.

pub mod blocking;
mod client;
pub mod cloud;
pub mod formulas;
pub mod v1;
pub mod v2;

pub use client::{Auth, Client, UNREACHABLE_HELP, help_for};

use crate::desired::{DatabaseSpec, DbUser};
use crate::error::{Error, Result};
use crate::secrets::SecretValues;

/// Where an InfluxDB answers.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL (`http://127.0.0.1:8086`).
    pub url: String,
}

impl Endpoint {
    /// A client of this endpoint without credentials (each operation adds its own).
    pub fn client(&self) -> Result<Client> {
        Client::new(self, Auth::None)
    }

    /// A client of this endpoint as a 1.x user.
    fn as_user(&self, user: &str, password: &str) -> Result<Client> {
        let basic = Auth::Basic {
            user: user.to_string(),
            password: password.to_string(),
        };
        Client::new(self, basic)
    }
}

/// What to do when a secret InfluxDB was set up with is not in `.env`: a generated one would not
/// open the data made with the old one.
pub const LOST_SECRET_HELP: &str = "InfluxDB keeps the admin password (and InfluxDB 2 the operator token) it was set up with: restore the line in .env as it was (a copy, another checkout, a password manager); only an InfluxDB without data yet takes a new one (`promo-infra generate` creates it)";

fn secret<'a>(secrets: &'a SecretValues, name: &str) -> Result<&'a str> {
    secrets.get(name).ok_or_else(|| {
        Error::influx(format!("secret {name} is not set")).with_help(LOST_SECRET_HELP)
    })
}

/// The declared admin user (`ALL` privileges).
fn admin_of(spec: &DatabaseSpec) -> Option<&DbUser> {
    spec.users.iter().find(|u| u.privilege == "ALL")
}

/// What exists, as a `DatabaseSpec` (with the desired spec's secret names for users that
/// exist), or `None` when the database does not.
pub async fn observe(
    ep: &Endpoint,
    want: &DatabaseSpec,
    secrets: &SecretValues,
) -> Result<Option<DatabaseSpec>> {
    let c = ep.client()?;
    if want.version == 2 {
        v2::observe(&c, want, secrets).await
    } else {
        v1::observe(&c, want, secrets).await
    }
}

/// Create or converge the database, retention and users. Idempotent; never drops data.
pub async fn apply(ep: &Endpoint, want: &DatabaseSpec, secrets: &SecretValues) -> Result<()> {
    let c = ep.client()?;
    if want.version == 2 {
        v2::apply(&c, want, secrets).await
    } else {
        v1::apply(&c, want, secrets).await
    }
}

/// Set a 1.x user's password as `admin` (used by `secrets rotate`).
pub async fn set_password(
    ep: &Endpoint,
    admin: (&str, &str),
    user: &str,
    password: &str,
) -> Result<()> {
    v1::set_password(&ep.as_user(admin.0, admin.1)?, user, password).await
}

/// Whether 1.x `user` / `password` are accepted. Used by `secrets rotate` to tell an
/// interrupted rotation (the new password already set) from a failure.
pub async fn accepts(ep: &Endpoint, user: &str, password: &str) -> bool {
    match ep.as_user(user, password) {
        Ok(c) => v1::accepts(&c).await,
        Err(_) => false,
    }
}

/// 2.x `secrets rotate INFLUXDB_ADMIN_TOKEN`, step 1: see [`v2::create_token_like`].
pub async fn create_token_like(ep: &Endpoint, old: &str) -> Result<String> {
    v2::create_token_like(&ep.client()?, old).await
}

/// Whether `token` is accepted by a 2.x server (it may list authorizations).
pub async fn token_works(ep: &Endpoint, token: &str) -> bool {
    match ep.client() {
        Ok(c) => v2::token_works(&c, token).await,
        Err(_) => false,
    }
}

/// 2.x rotation, last step: see [`v2::delete_token`].
pub async fn delete_token(ep: &Endpoint, new: &str, old: &str) -> Result<()> {
    v2::delete_token(&ep.client()?, new, old).await
}

/// An observed database in plan terms: its canonical form and hash computed exactly as the
/// desired resource's are, so an unchanged database plans as no change.
pub fn observed_resource(
    id: &crate::desired::ResourceId,
    spec: DatabaseSpec,
) -> crate::plan::ObservedResource {
    crate::plan::ObservedResource::found(id, crate::desired::ResourceSpec::Database(spec))
}
