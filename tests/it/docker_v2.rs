//! An InfluxDB 2 stack on the REAL Docker engine: Grafana reads with a read-only token of its
//! own, minted by apply after the bucket and before Grafana's container is created (the plan
//! shows it `(known after apply)`); the re-plan is empty; a token deleted in InfluxDB is minted
//! again and Grafana replaced to take it, in one apply.
//!
//! InfluxDB 2 is the `influxdb2-double` image (tests/doubles, built by `scripts/images.sh`):
//! no InfluxDB 2 can be installed here. Its authorization checks are the double's.

use crate::docker::{EngineStack, docker, engine};

pub(crate) const V1: &str = "  version: 1\n  image: promo-infra-influxdb:1.6.7-local\n";
pub(crate) const V2: &str =
    "  version: 2\n  image: promo-infra-influxdb2-double:0.1.0\n  org: shop\n";

/// The value of `name` in the Grafana container's environment.
fn grafana_env(s: &EngineStack, name: &str) -> Option<String> {
    let env = docker(&[
        "inspect",
        "-f",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &format!("{}-grafana-1", s.name),
    ]);
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .map(str::to_string)
}

/// `method path` on the stack's InfluxDB with `token`: the status and the JSON answer (`null`
/// when there is none).
fn influx(
    s: &EngineStack,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let url = format!("http://127.0.0.1:{}{path}", s.influx_port);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .request(method.parse().expect("method"), &url)
            .header("Authorization", format!("Token {token}"))
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    })
}

/// The HTTP status of `method path` on the stack's InfluxDB with `token`.
fn status(s: &EngineStack, method: &str, path: &str, token: &str, body: &str) -> u16 {
    influx(s, method, path, token, body).0
}

/// The id of the authorization whose token is `token` (listed with the operator token).
fn authorization_id(s: &EngineStack, admin: &str, token: &str) -> String {
    let (_, list) = influx(s, "GET", "/api/v2/authorizations", admin, "");
    list["authorizations"]
        .as_array()
        .expect("authorizations")
        .iter()
        .find(|a| a["token"] == token)
        .and_then(|a| a["id"].as_str())
        .expect("Grafana's authorization is listed")
        .to_string()
}

fn plan_lines(s: &EngineStack) -> Vec<String> {
    let r = s.run(&["plan", "--detailed-exitcode"]);
    r.stdout
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("-/+")
                || l.starts_with('+')
                || l.starts_with('~')
                || l.starts_with("Plan:")
                || l.starts_with("No changes")
        })
        .filter(|l| !l.starts_with("+ description") && !l.starts_with("+ permissions"))
        .map(str::to_string)
        .collect()
}

/// Converged: the re-plan is empty and Grafana runs with the token `.env` holds for it, which
/// reads the bucket. That token.
fn converged_with_grafanas_token(s: &EngineStack) -> String {
    assert_eq!(
        plan_lines(s),
        [format!(
            "No changes. Stack `{}` on target docker matches the configuration.",
            s.name
        )]
    );
    let token = s.secret("INFLUXDB_GRAFANA_TOKEN");
    assert_eq!(
        grafana_env(s, "INFLUXDB_GRAFANA_TOKEN").as_deref(),
        Some(token.as_str())
    );
    assert_eq!(status(s, "GET", "/api/v2/buckets?name=k6", &token, ""), 200);
    token
}

#[test]
fn grafana_reads_influxdb2_with_a_read_only_token_minted_during_apply() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("v2tok");
    s.edit(V1, V2);
    let first = s.apply();
    assert!(
        first
            .stdout
            .lines()
            .any(|l| l.trim() == "+ env.INFLUXDB_GRAFANA_TOKEN: (known after apply)"),
        "the cold plan shows Grafana's token as known after apply:\n{}",
        first.all()
    );
    let again = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "re-plan after apply:\n{}", again.all());

    // Grafana holds the token minted for it, not the operator's.
    let token = s.secret("INFLUXDB_GRAFANA_TOKEN");
    let admin = s.secret("INFLUXDB_ADMIN_TOKEN");
    assert_eq!(
        grafana_env(&s, "INFLUXDB_GRAFANA_TOKEN").as_deref(),
        Some(token.as_str())
    );
    assert_eq!(
        grafana_env(&s, "INFLUXDB_ADMIN_TOKEN"),
        None,
        "no operator token in Grafana"
    );
    // Least privilege, as the double checks it: it reads the bucket and may not write.
    assert_eq!(
        status(&s, "GET", "/api/v2/buckets?name=k6", &token, ""),
        200
    );
    assert_eq!(
        status(
            &s,
            "POST",
            "/api/v2/write?org=shop&bucket=k6",
            &token,
            "m v=1 1700000000000000000"
        ),
        403,
        "Grafana's token may not write"
    );

    // Deleted in InfluxDB by hand: one apply mints it again and gives it to a new Grafana.
    let id = authorization_id(&s, &admin, &token);
    assert_eq!(
        status(
            &s,
            "DELETE",
            &format!("/api/v2/authorizations/{id}"),
            &admin,
            ""
        ),
        204
    );
    assert_eq!(
        plan_lines(&s),
        [
            "-/+ service.grafana",
            "~ env.INFLUXDB_GRAFANA_TOKEN: (sensitive) → (known after apply) # forces replacement",
            "+ token.grafana-read",
            "+ secret: \"INFLUXDB_GRAFANA_TOKEN\"",
            "Plan: 2 to add, 0 to change, 1 to destroy.",
        ]
    );
    s.apply();
    let minted = converged_with_grafanas_token(&s);
    assert_ne!(minted, token, "a new token");
    assert_eq!(
        status(&s, "GET", "/api/v2/buckets?name=k6", &token, ""),
        401,
        "the old one is gone"
    );

    // InfluxDB stopped: its tokens cannot be read, so they are checked once it runs — never
    // planned as minted again (that would revoke the token k6 writes with and Grafana's when
    // InfluxDB kept them: `plan_cases::docker_v2_stopped_influxdb`). The double keeps its data
    // in memory (tests/doubles/README.md), so this restarted one has lost them: the checks find
    // them gone and mint them, and Grafana gets its new one.
    docker(&["stop", "-t", "5", &format!("{}-influxdb-1", s.name)]);
    let lines = plan_lines(&s);
    for token in ["token.grafana-read", "token.k6-write"] {
        assert!(
            lines.contains(&format!("~ {token} (known after apply)")),
            "{lines:#?}"
        );
    }
    assert!(
        !lines.iter().any(|l| l.starts_with("+ token.")),
        "{lines:#?}"
    );
    let applied = s.apply();
    assert!(
        applied
            .all()
            .contains("token.k6-write: created (checked once its service ran)"),
        "{}",
        applied.all()
    );
    converged_with_grafanas_token(&s);
    let k6 = s.secret("INFLUXDB_K6_TOKEN");
    assert_eq!(
        status(
            &s,
            "POST",
            "/api/v2/write?org=shop&bucket=k6",
            &k6,
            "m v=1 1700000000000000000"
        ),
        204,
        "k6 writes with the token .env holds"
    );
}
