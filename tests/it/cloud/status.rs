//! `status --target cloud` when a service answers with errors or not at all: each service's row
//! says which (`failing`: it answered with an error status; `unreachable`: it answered nothing),
//! whichever of its reads failed, with the error on stderr, and the other service is still
//! counted.

use promo_doubles::FaultSpec;

use super::{Cloud, start};
use crate::common::Runs;

/// The double a case's fault is injected into.
enum Double {
    Grafana,
    Influx,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_answering_5xx_to_any_read_of_the_count_is_failing_and_the_others_count_stands() {
    let c = start().await;
    c.applied();
    let mut runs = Runs::default();
    for (label, double, fault) in [
        (
            "InfluxDB: every request 500, the first (the organisation's lookup) included",
            Double::Influx,
            FaultSpec::server_error(500, 100),
        ),
        (
            "InfluxDB: a later read (the bucket's) 503",
            Double::Influx,
            FaultSpec::server_error(503, 100).on_path("/api/v2/buckets"),
        ),
        (
            "Grafana: health answers, the first read (the dashboards' search) 500s past the client's retries",
            Double::Grafana,
            FaultSpec::server_error(500, 100).on_path("/api/search"),
        ),
        (
            "Grafana: the search answers too, a later read (the alerting contact point) 500s",
            Double::Grafana,
            FaultSpec::server_error(500, 100).on_path("/api/v1/provisioning/contact-points"),
        ),
    ] {
        match double {
            Double::Grafana => c.grafana.state().inject_fault(fault),
            Double::Influx => c.influx.state().inject_fault(fault),
        }
        runs.push(label, c.run(&["status", "--target", "cloud"]));
        c.grafana.state().clear_faults();
        c.influx.state().clear_faults();
    }
    promo_snapshot!(runs, @r#"
    === InfluxDB: every request 500, the first (the organisation's lookup) included ===
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `promo-v1` (stacks/promo-v1.yaml) on target cloud:

    SERVICE   STATE    HEALTH     IMAGE        VERSION  URL                     UPTIME  CONFIG
    grafana   running  healthy    8/8 objects  10.2.3   http://127.0.0.1:[PORT]  -       current
    influxdb  failing  unhealthy  ?/3 objects  cloud    http://127.0.0.1:[PORT]  -       -

    Alerts: Slack #load-testing-alerts (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    warning: InfluxDB at http://127.0.0.1:[PORT]/api/v2/orgs?org=promo-analyzer: HTTP 500 Internal Server Error: {"code":"internal error","message":"Internal Server Error"}

    === InfluxDB: a later read (the bucket's) 503 ===
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `promo-v1` (stacks/promo-v1.yaml) on target cloud:

    SERVICE   STATE    HEALTH     IMAGE        VERSION  URL                     UPTIME  CONFIG
    grafana   running  healthy    8/8 objects  10.2.3   http://127.0.0.1:[PORT]  -       current
    influxdb  failing  unhealthy  ?/3 objects  cloud    http://127.0.0.1:[PORT]  -       -

    Alerts: Slack #load-testing-alerts (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    warning: InfluxDB at http://127.0.0.1:[PORT]/api/v2/buckets?name=k6&org=promo-analyzer: HTTP 503 Service Unavailable: {"code":"internal error","message":"Service Unavailable"}

    === Grafana: health answers, the first read (the dashboards' search) 500s past the client's retries ===
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `promo-v1` (stacks/promo-v1.yaml) on target cloud:

    SERVICE   STATE    HEALTH     IMAGE        VERSION  URL                     UPTIME  CONFIG
    grafana   failing  unhealthy  ?/8 objects  10.2.3   http://127.0.0.1:[PORT]  -       -
    influxdb  running  healthy    3/3 objects  cloud    http://127.0.0.1:[PORT]  -       current

    Alerts: Slack #load-testing-alerts (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    warning: GET http://127.0.0.1:[PORT]/api/search?type=dash-db&limit=5000&tag=promo-infra: 500 Internal Server Error: Internal Server Error; retrying in 200 ms
    warning: GET http://127.0.0.1:[PORT]/api/search?type=dash-db&limit=5000&tag=promo-infra: 500 Internal Server Error: Internal Server Error; retrying in 400 ms
    warning: GET http://127.0.0.1:[PORT]/api/search?type=dash-db&limit=5000&tag=promo-infra: 500 Internal Server Error: Internal Server Error; retrying in 800 ms
    warning: GET http://127.0.0.1:[PORT]/api/search?type=dash-db&limit=5000&tag=promo-infra: 500 Internal Server Error: Internal Server Error

    === Grafana: the search answers too, a later read (the alerting contact point) 500s ===
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `promo-v1` (stacks/promo-v1.yaml) on target cloud:

    SERVICE   STATE    HEALTH     IMAGE        VERSION  URL                     UPTIME  CONFIG
    grafana   failing  unhealthy  ?/8 objects  10.2.3   http://127.0.0.1:[PORT]  -       -
    influxdb  running  healthy    3/3 objects  cloud    http://127.0.0.1:[PORT]  -       current

    Alerts: Slack #load-testing-alerts (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    warning: GET http://127.0.0.1:[PORT]/api/v1/provisioning/contact-points?name=promo%2Dv1%2Dslack: 500 Internal Server Error: Internal Server Error; retrying in 200 ms
    warning: GET http://127.0.0.1:[PORT]/api/v1/provisioning/contact-points?name=promo%2Dv1%2Dslack: 500 Internal Server Error: Internal Server Error; retrying in 400 ms
    warning: GET http://127.0.0.1:[PORT]/api/v1/provisioning/contact-points?name=promo%2Dv1%2Dslack: 500 Internal Server Error: Internal Server Error; retrying in 800 ms
    warning: GET http://127.0.0.1:[PORT]/api/v1/provisioning/contact-points?name=promo%2Dv1%2Dslack: 500 Internal Server Error: Internal Server Error
    "#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_influxdb_cloud_not_listening_is_unreachable_and_grafanas_count_stands() {
    let c = start().await;
    c.applied();
    let Cloud { grafana, influx, p } = c;
    influx.shutdown().await;
    let c = Cloud {
        grafana,
        influx: promo_doubles::influx2::spawn(Default::default())
            .await
            .expect("another InfluxDB, unused: the manifest names the one shut down"),
        p,
    };
    promo_snapshot!(c.run(&["status", "--target", "cloud"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `promo-v1` (stacks/promo-v1.yaml) on target cloud:

    SERVICE   STATE        HEALTH     IMAGE        VERSION  URL                     UPTIME  CONFIG
    grafana   running      healthy    8/8 objects  10.2.3   http://127.0.0.1:[PORT]  -       current
    influxdb  unreachable  unhealthy  ?/3 objects  cloud    http://127.0.0.1:[PORT]  -       -

    Alerts: Slack #load-testing-alerts (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    warning: InfluxDB is not reachable at http://127.0.0.1:[PORT]/api/v2/orgs?org=promo-analyzer: Connection refused (os error 111)
    ");
}
