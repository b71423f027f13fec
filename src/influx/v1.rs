//! InfluxDB 1.x: InfluxQL over `/query`, the database, its default retention policy and the
//! least-privilege users (admin, a READ user for Grafana, a WRITE user for k6).
//!
//! Owns: the InfluxQL statements (quoting, password redaction) and what their answers mean.
//! May not: send a request except through [`Client`], print, or read the environment.
//! Passwords travel in request bodies and headers, never in URLs, argv or messages.

use reqwest::Method;
use serde_json::Value;

use super::client::{self, Auth, Client};
use crate::desired::{DatabaseSpec, DbUser};
use crate::error::{Error, Outcome, Result};
use crate::manifest::duration::Retention;
use crate::secrets::SecretValues;

/// What to do when InfluxDB refuses `c`'s request: what the client's caller said
/// ([`Client::with_refused_help`]), else check the credentials it sent.
fn refused_help(c: &Client) -> String {
    if let Some(help) = c.refused_help() {
        return help.to_string();
    }
    let whose = c.user().map_or_else(
        || "the credentials".to_string(),
        |u| format!("the password of InfluxDB user `{u}`"),
    );
    format!(
        "check {whose} in .env (`promo-infra apply` restores the stack's users and grants with the admin's) and that InfluxDB is the version the manifest says; if .env was made again after InfluxDB's data (lost, then generated), the data keeps the old admin password: restore the previous .env"
    )
}

/// Run InfluxQL `q` and return the JSON answer, statement errors included (in
/// `results[i].error`): only a request the server refused as a whole (authentication, parse
/// error, HTTP 5xx) or could not answer is an error.
pub async fn query_results(c: &Client, q: &str) -> Result<Value> {
    query_results_in(c, q, &[]).await
}

/// [`query_results`] with more parameters of `/query` (`db`, `epoch`).
pub async fn query_results_in(c: &Client, q: &str, params: &[(&str, &str)]) -> Result<Value> {
    let mut form = vec![("q", q)];
    form.extend_from_slice(params);
    let req = c.request(Method::POST, "/query").form(&form);
    let resp = c.send("/query", req).await?;
    let status = resp.status();
    let url = c.url("/query");
    let body = match client::json(&url, resp).await {
        // An error status without InfluxDB's JSON (a proxy's page, an empty 503): the status
        // says what happened, not the body.
        Err(Error::Influx { .. }) if !status.is_success() => {
            return Err(client::status_error(&url, status, "", &refused_help(c)));
        }
        answer => answer?,
    };
    if let Some(err) = body["error"].as_str() {
        let failing = status.is_server_error().then_some(status.as_u16());
        return Err(refused(c, failing, q, err));
    }
    if !status.is_success() && status != reqwest::StatusCode::BAD_REQUEST {
        // InfluxDB 2 and Cloud say why in `message` (`insufficient permissions for read`).
        let said = body["message"].as_str().unwrap_or_default();
        return Err(client::status_error(&url, status, said, &refused_help(c)));
    }
    Ok(body)
}

/// Run InfluxQL `q`; any statement error is an error too.
pub async fn query(c: &Client, q: &str) -> Result<Value> {
    let body = query_results(c, q).await?;
    match statement_error(&body) {
        Some(err) => Err(refused(c, None, q, err)),
        None => Ok(body),
    }
}

/// The first statement error of an answer.
pub fn statement_error(body: &Value) -> Option<&str> {
    body["results"]
        .as_array()?
        .iter()
        .find_map(|x| x["error"].as_str())
}

/// The error of a statement InfluxDB refused: transient, with the status as its [`Outcome`],
/// when it answered `failing` (a 5xx status); refused with [`refused_help`] otherwise.
fn refused(c: &Client, failing: Option<u16>, q: &str, err: &str) -> Error {
    let url = c.url("/query");
    let message = format!("InfluxDB at {url} refused `{}`: {err}", redact_passwords(q));
    if let Some(status) = failing {
        Error::transient(message).with_outcome(Outcome::Status(status))
    } else {
        Error::influx(message).with_help(refused_help(c))
    }
}

/// Whether `e` is a 1.x server with auth on and no user yet: it answers only `CREATE USER`.
fn needs_first_admin(e: &Error) -> bool {
    matches!(e, Error::Influx { message, .. } if message.contains("create admin user first"))
}

/// Statements may carry passwords: never let one reach an error message.
fn redact_passwords(q: &str) -> String {
    let mut out = String::new();
    let mut rest = q;
    while let Some(i) = rest.find("PASSWORD '") {
        out.push_str(&rest[..i + 10]);
        rest = &rest[i + 10..];
        match rest.find('\'') {
            Some(j) => {
                out.push_str("(sensitive)'");
                rest = &rest[j + 1..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// `"name"`, escaped for InfluxQL.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `'text'`, an InfluxQL string literal.
pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Rows of the first series of the first result.
pub fn rows(body: &Value) -> Vec<Vec<Value>> {
    rows_in(&body["results"][0])
}

/// Rows of the first series of one result (`results[i]`).
fn rows_in(result: &Value) -> Vec<Vec<Value>> {
    result["series"][0]["values"]
        .as_array()
        .map(|v| v.iter().filter_map(|r| r.as_array().cloned()).collect())
        .unwrap_or_default()
}

/// The first column of every row, as strings (`SHOW DATABASES`, `SHOW MEASUREMENTS`).
pub fn names(body: &Value) -> Vec<String> {
    names_in(&body["results"][0])
}

fn names_in(result: &Value) -> Vec<String> {
    rows_in(result)
        .iter()
        .filter_map(|r| r.first().and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The admin `user`'s credentials on `c`: `password`, or `kept` when a rotation of it is
/// pending (`secrets rotate` interrupted after `SET PASSWORD`: `.env` keeps the new value
/// beside the old one) and InfluxDB accepts only the kept one — so plans, applies, the
/// rotation's resume and the nightly backup still get in (as Grafana's admin login does).
/// Without a kept value, no request is made.
pub async fn admin_auth(c: &Client, user: &str, password: &str, kept: Option<&str>) -> Auth {
    let with = |password: &str| Auth::Basic {
        user: user.to_string(),
        password: password.to_string(),
    };
    if let Some(kept) = kept
        && !accepts(&c.with_auth(with(password))).await
        && accepts(&c.with_auth(with(kept))).await
    {
        return with(kept);
    }
    with(password)
}

/// A client of `ep` as the declared admin user (without auth when none is declared), with
/// [`admin_auth`]'s credentials.
async fn as_admin(c: &Client, want: &DatabaseSpec, secrets: &SecretValues) -> Result<Client> {
    let Some(a) = super::admin_of(want) else {
        return Ok(c.clone());
    };
    let password = super::secret(secrets, &a.password_secret)?;
    let kept = secrets.get(&crate::secrets::pending_name(&a.password_secret));
    Ok(c.with_auth(admin_auth(c, &a.name, password, kept).await))
}

/// What exists, or `None` when the database does not.
///
/// One request in the usual case: InfluxQL runs `;`-separated statements in order and answers
/// each in its own `results[i]` (the databases, the users, the retention policies, then one
/// `SHOW GRANTS` per declared user). The server stops at the first failing statement (a missing
/// database or user) and marks the rest "not executed"; then only the grants of the users that
/// exist are asked again, one by one (InfluxDB 1.6 leaves those out of its answer).
pub async fn observe(
    c: &Client,
    want: &DatabaseSpec,
    secrets: &SecretValues,
) -> Result<Option<DatabaseSpec>> {
    let admin = as_admin(c, want, secrets).await?;
    let db = quote_ident(&want.name);
    let mut statements = vec![
        "SHOW DATABASES".to_string(),
        "SHOW USERS".to_string(),
        format!("SHOW RETENTION POLICIES ON {db}"),
    ];
    statements.extend(
        want.users
            .iter()
            .map(|u| format!("SHOW GRANTS FOR {}", quote_ident(&u.name))),
    );
    let all = statements.join("; ");
    let body = match query_results(&admin, &all).await {
        Ok(b) => b,
        Err(e) if needs_first_admin(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    // The answer to statement `i`; a statement the server did not run has none.
    let result = |i: usize| -> Result<&Value> {
        let answer = body["results"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["statement_id"] == i));
        match answer.map(|r| (r, r["error"].as_str())) {
            Some((r, None)) => Ok(r),
            Some((_, Some(err))) => Err(refused(c, None, &statements[i], err)),
            None => Err(refused(c, None, &statements[i], "not executed")),
        }
    };
    if !names_in(result(0)?).contains(&want.name) {
        return Ok(None);
    }
    let users_rows = rows_in(result(1)?);
    let (mut retention, mut shard) = (String::new(), String::new());
    for r in rows_in(result(2)?) {
        if r.get(4).and_then(Value::as_bool) == Some(true) {
            retention = go_duration_to_influxql(r.get(1).and_then(Value::as_str).unwrap_or(""));
            shard = go_duration_to_influxql(r.get(2).and_then(Value::as_str).unwrap_or(""));
        }
    }
    let mut users = Vec::new();
    for r in users_rows {
        let Some(name) = r.first().and_then(Value::as_str) else {
            continue;
        };
        let Some(i) = want.users.iter().position(|u| u.name == name) else {
            continue;
        };
        let privilege = if r.get(1).and_then(Value::as_bool) == Some(true) {
            "ALL".to_string()
        } else {
            let grants = match result(3 + i) {
                Ok(g) => g.clone(),
                // Not executed after another user's missing: ask for this one alone.
                Err(_) => query(&admin, &statements[3 + i]).await?["results"][0].take(),
            };
            rows_in(&grants)
                .iter()
                .find(|g| g.first().and_then(Value::as_str) == Some(want.name.as_str()))
                .and_then(|g| g.get(1).and_then(Value::as_str))
                .map_or_else(
                    || "NO PRIVILEGES".to_string(),
                    |p| p.replace(" PRIVILEGES", ""),
                )
        };
        users.push(DbUser {
            name: name.to_string(),
            privilege,
            password_secret: want.users[i].password_secret.clone(),
        });
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(DatabaseSpec {
        version: 1,
        name: want.name.clone(),
        org: None,
        retention,
        shard_duration: shard,
        users,
        dbrp: None,
    }))
}

/// `672h0m0s` → `672h`; `30m0s` → `30m`; `0s` → `INF` (Go's duration spelling, parsed by jiff).
fn go_duration_to_influxql(d: &str) -> String {
    let secs = d
        .parse::<jiff::SignedDuration>()
        .map_or(0, |d| d.as_secs().max(0).unsigned_abs());
    Retention {
        seconds: (secs > 0).then_some(secs),
    }
    .influxql()
}

/// Create or converge the database, retention and users. Idempotent; never drops data.
pub async fn apply(c: &Client, want: &DatabaseSpec, secrets: &SecretValues) -> Result<()> {
    let admin = super::admin_of(want)
        .ok_or_else(|| Error::internal("no admin user declared for InfluxDB 1.x"))?;
    let admin_pw = super::secret(secrets, &admin.password_secret)?;
    let auth = as_admin(c, want, secrets).await?;
    // With auth enabled and no user yet, InfluxDB accepts exactly this statement unauthenticated.
    let existing = match query(&auth, "SHOW USERS").await {
        Ok(b) => names(&b),
        Err(e) if needs_first_admin(&e) => {
            let create = format!(
                "CREATE USER {} WITH PASSWORD {} WITH ALL PRIVILEGES",
                quote_ident(&admin.name),
                quote_str(admin_pw)
            );
            query(&c.with_auth(Auth::None), &create).await?;
            vec![admin.name.clone()]
        }
        Err(e) => return Err(e),
    };
    let db = quote_ident(&want.name);
    query(&auth, &format!("CREATE DATABASE {db}")).await?;
    query(
        &auth,
        &format!(
            "ALTER RETENTION POLICY \"autogen\" ON {db} DURATION {} SHARD DURATION {} DEFAULT",
            want.retention, want.shard_duration
        ),
    )
    .await?;
    for user in want.users.iter().filter(|u| u.privilege != "ALL") {
        let pw = super::secret(secrets, &user.password_secret)?;
        let name = quote_ident(&user.name);
        if !existing.contains(&user.name) {
            let create = format!("CREATE USER {name} WITH PASSWORD {}", quote_str(pw));
            query(&auth, &create).await?;
        }
        query(
            &auth,
            &format!("GRANT {} ON {db} TO {name}", user.privilege),
        )
        .await?;
    }
    Ok(())
}

/// Set a user's password, `admin` being a client as the admin user (used by `secrets rotate`).
pub async fn set_password(admin: &Client, user: &str, password: &str) -> Result<()> {
    let q = format!(
        "SET PASSWORD FOR {} = {}",
        quote_ident(user),
        quote_str(password)
    );
    query(admin, &q).await.map(|_| ())
}

/// Whether the client's credentials are accepted (`SHOW DATABASES` as that user).
pub async fn accepts(as_user: &Client) -> bool {
    query(as_user, "SHOW DATABASES").await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_user_whose_password_to_check() {
        let ep = super::super::Endpoint {
            url: "http://127.0.0.1:1".into(),
        };
        let read = Client::new(
            &ep,
            Auth::Basic {
                user: "grafana".into(),
                password: "x".into(),
            },
        )
        .expect("client");
        let e = refused(&read, None, "SELECT 1", "authorization failed");
        assert_eq!(
            miette::Diagnostic::help(&e)
                .map(|h| h.to_string())
                .as_deref(),
            Some(
                "check the password of InfluxDB user `grafana` in .env (`promo-infra apply` restores the stack's users and grants with the admin's) and that InfluxDB is the version the manifest says; if .env was made again after InfluxDB's data (lost, then generated), the data keeps the old admin password: restore the previous .env"
            )
        );
        let anonymous = Client::new(&ep, Auth::None).expect("client");
        assert!(refused_help(&anonymous).starts_with("check the credentials in .env"));
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_passwords("CREATE USER \"k6\" WITH PASSWORD 'abc123' WITH ALL PRIVILEGES"),
            "CREATE USER \"k6\" WITH PASSWORD '(sensitive)' WITH ALL PRIVILEGES"
        );
    }

    #[test]
    fn go_durations_normalise() {
        let cases = [
            ("672h0m0s", "672h"),
            ("0s", "INF"),
            ("1h30m0s", "90m"),
            ("168h0m0s", "168h"),
        ];
        for (go, influxql) in cases {
            assert_eq!(go_duration_to_influxql(go), influxql, "{go}");
        }
    }
}
