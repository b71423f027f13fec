//! The database (1.x) or bucket (2.x) exists, and its users or tokens have the privileges the
//! stack gives them: 1.x `SHOW USERS` / `SHOW GRANTS` (through [`crate::influx::v1::observe`]) for
//! the admin, the `k6` writer and the `grafana` reader; 2.x the bucket, and the k6 write token
//! (`INFLUXDB_K6_TOKEN`) listed among the authorizations with write access to it.
//!
//! Owns: this check's wording. May not: change anything (reads only), print, read the
//! environment.

use serde_json::Value;

use super::live::block_on;
use super::{Ctx, Finding, Level};
use crate::desired::DatabaseSpec;
use crate::error::Result;
use crate::influx::{Auth, Client, Endpoint, v1, v2};
use crate::secrets::{self, SecretValues};

/// Name of the line.
pub(super) const CHECK: &str = "grants";

const FIX: &str = "`promo-infra apply` creates the database, its users and their grants";

/// The grants line.
pub(super) fn grants(ctx: &Ctx) -> Finding {
    let Some(values) = &ctx.values else {
        return Finding::skipped(CHECK, ".env");
    };
    if let Some(skip) = ctx.needs(CHECK, &["influxdb"]) {
        return skip;
    }
    match block_on(check(ctx, values)).and_then(|r| r) {
        Ok(f) => f,
        Err(e) => Finding::from_influx_error(CHECK, &e),
    }
}

async fn check(ctx: &Ctx, values: &SecretValues) -> Result<Finding> {
    // The database as `apply` compiles it.
    let want = crate::compile::database(&ctx.loaded.manifest);
    let c = Client::new(
        &Endpoint {
            url: crate::compile::native::influx_url(&ctx.loaded.manifest),
        },
        Auth::None,
    )?;
    if want.version == 1 {
        let seen = v1::observe(&c, &want, values).await?;
        Ok(v1_finding(&want, seen.as_ref()))
    } else {
        if v2::observe(&c, &want, values).await?.is_none() {
            return Ok(missing_database(&want));
        }
        let admin = values.get(secrets::INFLUX_ADMIN_TOKEN).unwrap_or_default();
        let c = c.with_auth(Auth::Token(admin.to_string()));
        let help = "check INFLUXDB_ADMIN_TOKEN in .env";
        let path = v2::with_query(
            "/api/v2/buckets",
            &[
                ("name", &want.name),
                ("org", want.org.as_deref().unwrap_or("")),
            ],
        );
        let buckets = c.get_json(&path, help).await?;
        let auths = c.get_json("/api/v2/authorizations", help).await?;
        let k6 = values.get(secrets::INFLUX_K6_TOKEN);
        Ok(v2_finding(&want, &buckets, &auths, k6))
    }
}

fn missing_database(want: &DatabaseSpec) -> Finding {
    let what = if want.version == 1 {
        "database"
    } else {
        "bucket"
    };
    Finding::new(
        CHECK,
        Level::Fail,
        format!("{what} `{}` does not exist", want.name),
        FIX,
    )
}

/// 1.x: every declared user exists with its privilege on the database.
fn v1_finding(want: &DatabaseSpec, seen: Option<&DatabaseSpec>) -> Finding {
    let Some(seen) = seen else {
        return missing_database(want);
    };
    let problems: Vec<String> = want
        .users
        .iter()
        .filter_map(|u| match seen.users.iter().find(|s| s.name == u.name) {
            None => Some(format!("user `{}` does not exist", u.name)),
            Some(s) if s.privilege != u.privilege => Some(format!(
                "user `{}` has {} on `{}`, needs {}",
                u.name, s.privilege, want.name, u.privilege
            )),
            Some(_) => None,
        })
        .collect();
    if problems.is_empty() {
        let users: Vec<String> = want
            .users
            .iter()
            .map(|u| format!("{} {}", u.name, u.privilege))
            .collect();
        return Finding::ok(
            CHECK,
            format!("database `{}`: {}", want.name, users.join(", ")),
        );
    }
    Finding::new(CHECK, Level::Fail, problems.join("; "), FIX)
}

/// 2.x: the bucket, and the k6 token with write access to it.
fn v2_finding(want: &DatabaseSpec, buckets: &Value, auths: &Value, k6: Option<&str>) -> Finding {
    let Some(bucket) = buckets["buckets"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"] == want.name.as_str()))
    else {
        return missing_database(want);
    };
    let Some(k6) = k6 else {
        return Finding::new(
            CHECK,
            Level::Fail,
            format!("{} is not set", secrets::INFLUX_K6_TOKEN),
            "run `promo-infra generate`, then `promo-infra apply`",
        );
    };
    let auth = auths["authorizations"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["token"].as_str() == Some(k6)));
    let Some(auth) = auth else {
        return Finding::new(
            CHECK,
            Level::Fail,
            format!(
                "the token in {} is not among InfluxDB's authorizations",
                secrets::INFLUX_K6_TOKEN
            ),
            "`promo-infra apply` creates it (k6 cannot write without it)",
        );
    };
    let writes = auth["permissions"].as_array().is_some_and(|ps| {
        ps.iter().any(|p| {
            let r = &p["resource"];
            p["action"] == "write"
                && r["type"] == "buckets"
                && (r["id"].is_null() || r["id"] == bucket["id"] || r["name"] == want.name.as_str())
        })
    });
    if auth["status"] == "inactive" || !writes {
        return Finding::new(
            CHECK,
            Level::Fail,
            format!(
                "the {} token cannot write into bucket `{}`",
                secrets::INFLUX_K6_TOKEN,
                want.name
            ),
            "`promo-infra apply` gives it write access",
        );
    }
    Finding::ok(
        CHECK,
        format!(
            "bucket `{}`: {} writes into it",
            want.name,
            secrets::INFLUX_K6_TOKEN
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bucket() -> DatabaseSpec {
        DatabaseSpec {
            version: 2,
            name: "k6".into(),
            org: Some("o".into()),
            retention: "INF".into(),
            shard_duration: String::new(),
            users: Vec::new(),
            dbrp: None,
        }
    }

    #[test]
    fn the_k6_token_must_write_into_the_bucket() {
        let buckets = json!({"buckets": [{"id": "b1", "name": "k6"}]});
        let write = |id: &str| {
            json!({"authorizations": [{"token": "t", "status": "active", "permissions": [
                {"action": "write", "resource": {"type": "buckets", "id": id}}]}]})
        };
        let ok = v2_finding(&bucket(), &buckets, &write("b1"), Some("t"));
        assert_eq!(ok.level, Level::Ok);
        let other = v2_finding(&bucket(), &buckets, &write("b2"), Some("t"));
        assert_eq!(
            other.finding,
            "the INFLUXDB_K6_TOKEN token cannot write into bucket `k6`"
        );
        let unknown = v2_finding(&bucket(), &buckets, &write("b1"), Some("u"));
        assert_eq!(unknown.level, Level::Fail);
        let none = v2_finding(&bucket(), &json!({"buckets": []}), &write("b1"), Some("t"));
        assert_eq!(none.finding, "bucket `k6` does not exist");
    }

    /// InfluxDB answering 5xx, 429 or nothing to the grants' read: the line's fix says what
    /// fits (it was empty: a 5xx carries no help of its own); an error with its own help (a
    /// refused password) keeps it.
    #[test]
    fn an_influxdb_failure_gets_the_fix_its_outcome_calls_for() {
        use crate::error::{Error, Outcome};
        let fix = |e: Error| Finding::from_influx_error(CHECK, &e).fix;
        let status = |code| {
            Error::transient(format!(
                "InfluxDB at http://127.0.0.1:8086/query answered HTTP {code}"
            ))
            .with_outcome(Outcome::Status(code))
        };
        assert_eq!(
            fix(status(503)),
            "InfluxDB runs but fails: see why in its logs (`promo-infra logs influxdb`), then run the command again"
        );
        assert_eq!(
            fix(status(429)),
            "InfluxDB runs but is too busy to answer (a load test?): run the command again once the load has passed; its logs: `promo-infra logs influxdb`"
        );
        assert_eq!(
            fix(Error::transient("no answer").with_outcome(Outcome::NoAnswer)),
            crate::influx::UNREACHABLE_HELP
        );
        assert_eq!(
            fix(Error::influx("authorization failed").with_help("check the password in .env")),
            "check the password in .env"
        );
    }
}
