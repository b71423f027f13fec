//! `GET /api/datasources/uid/{uid}/health`: Grafana asks the datasource's plugin to check its
//! connection, from where Grafana runs. For `influxdb` datasources the double really connects
//! to the datasource's URL, as the plugin does:
//!
//! - InfluxQL: `SHOW MEASUREMENTS` on the datasource's database (`jsonData.dbName`, else
//!   `database`) as its user and `secureJsonData.password`; "datasource is working. N
//!   measurements found".
//! - Flux: `GET /api/v2/buckets` with `secureJsonData.token` ("N buckets found"). Grafana runs
//!   the Flux query `buckets()` instead; both need a token that can read the org's buckets.
//!
//! Like Grafana 10.2 (`pkg/api/plugins.go` `checkDatasourceHealth`): `{status, message}` with
//! HTTP 200 when the status is `OK`, HTTP 400 otherwise (`ERROR`); an unknown uid gives HTTP 500
//! "Unable to load datasource metadata" (the cache lookup fails); an invalid uid HTTP 400.
//! Other plugin types answer `UNKNOWN`, "Health check not implemented" (HTTP 400), as a
//! frontend-only plugin does.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::App;
use super::model::Datasource;
use crate::common::lock;

/// How long the double waits for the datasource (Grafana's default is 30 s; tests want less).
const TIMEOUT: Duration = Duration::from_secs(5);

pub async fn check_datasource(State(app): State<App>, Path(uid): Path<String>) -> Response {
    if uid.is_empty()
        || uid.len() > 40
        || !uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"message": "UID is invalid"}),
        );
    }
    let ds = lock(&app.store).datasource_by_uid(&uid).cloned();
    let Some(ds) = ds else {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"message": "Unable to load datasource metadata"}),
        );
    };
    if ds.kind != "influxdb" {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"status": "UNKNOWN", "message": "Health check not implemented"}),
        );
    }
    let outcome = if ds.json_data["version"].as_str() == Some("Flux") {
        flux(&ds).await
    } else {
        influxql(&ds).await
    };
    match outcome {
        Ok(message) => answer(StatusCode::OK, json!({"status": "OK", "message": message})),
        Err(message) => answer(
            StatusCode::BAD_REQUEST,
            json!({"status": "ERROR", "message": message}),
        ),
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("error creating HTTP client: {e}"))
}

async fn influxql(ds: &Datasource) -> Result<String, String> {
    let db = ds.json_data["dbName"]
        .as_str()
        .filter(|d| !d.is_empty())
        .unwrap_or(&ds.database);
    let url = format!("{}/query", ds.url.trim_end_matches('/'));
    let mut req = client()?
        .get(&url)
        .query(&[("db", db), ("q", "SHOW MEASUREMENTS")]);
    if !ds.user.is_empty() {
        let password = ds.secure_json_data.get("password").map(String::as_str);
        req = req.basic_auth(&ds.user, password);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("error performing influxQL query: {e}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        return Err(format!(
            "error reading InfluxDB. Status Code: {}",
            status.as_u16()
        ));
    }
    if let Some(e) = body["results"][0]["error"]
        .as_str()
        .or(body["error"].as_str())
    {
        return Err(format!("error performing influxQL query: {e}"));
    }
    let found = body["results"][0]["series"][0]["values"]
        .as_array()
        .map_or(0, Vec::len);
    Ok(format!("datasource is working. {found} measurements found"))
}

async fn flux(ds: &Datasource) -> Result<String, String> {
    let token = ds
        .secure_json_data
        .get("token")
        .map(String::as_str)
        .unwrap_or_default();
    let org = ds.json_data["organization"].as_str().unwrap_or_default();
    let url = format!("{}/api/v2/buckets", ds.url.trim_end_matches('/'));
    let resp = client()?
        .get(&url)
        .query(&[("org", org)])
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .map_err(|e| format!("error performing flux query: {e}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        let why = body["message"].as_str().unwrap_or("");
        return Err(format!(
            "error performing flux query: {} {why}",
            status.as_u16()
        ));
    }
    let found = body["buckets"].as_array().map_or(0, Vec::len);
    Ok(format!("datasource is working. {found} buckets found"))
}
