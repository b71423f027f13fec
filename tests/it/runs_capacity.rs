//! Capacity (issue 16 item 3) on a REAL `influxd` 1.6: a ramping run that breaks at a KNOWN
//! VU level, beside the `runs` fixture's baseline (which never breaks) and promo; `runs show`'s
//! capacity line, `runs capacity` comparing runs, and `--apply` writing the marketing
//! dashboard's `capacity_vus` into the manifest (and refusing, writing nothing, when a run did
//! not break).
//!
//! The ramp: 120 s, 10 requests/s; in each 10 s bucket k (0–11) the VUs are 10 × (k + 1) and
//! every request takes the bucket's duration: 500 ms, but 2500 ms in bucket 3 (a lone spike:
//! one bucket, not sustained) and 2600 + 100 × k ms from bucket 6 on. Against p95_warn_ms 2000
//! the site breaks at 70 VUs, from 09:01:00 (bucket 6), because of p95.

use crate::influxd::RealInfluxd;
use crate::runs::{BASELINE, PROMO, loaded};

const RAMP: &str = "ramp_20241201_090000_0000cccc";
/// 2024-12-01T09:00:00Z.
const RAMP_START: i64 = 1_733_043_600;

fn ramp_lines() -> Vec<String> {
    let tags = format!("testid={RAMP},environment=preprod,promo_type=ramp,promo_name=capacity");
    let mut lines = Vec::new();
    for s in 0..120_i64 {
        let k = s / 10;
        let ts = (RAMP_START + s) * 1_000_000_000;
        lines.push(format!("vus,{tags} value={} {ts}", 10 * (k + 1)));
        let ms = match k {
            3 => 2500,
            6.. => 2600 + 100 * k,
            _ => 500,
        };
        for r in 0..10_i64 {
            let t = ts + r * 1_000_000;
            let req = format!("{tags},expected_response=true,method=GET,name=home,status=200");
            lines.push(format!("http_reqs,{req} value=1 {t}"));
            lines.push(format!("http_req_failed,{req} value=0 {t}"));
            lines.push(format!("http_req_duration,{req} value={ms} {t}"));
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramp_breaks_at_its_known_vu_level_and_apply_draws_it_on_the_dashboard() {
    let server = RealInfluxd::start(false);
    let p = loaded(&server).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/write?db=k6&precision=ns", server.url()))
        .body(ramp_lines().join("\n"))
        .send()
        .await
        .expect("write");
    assert_eq!(resp.status().as_u16(), 204);

    let show = p.run(&["runs", "show", RAMP]);
    assert_eq!(show.code, 0, "{}", show.all());
    let capacity: Vec<&str> = show
        .stdout
        .lines()
        .filter(|l| l.starts_with("capacity"))
        .collect();
    assert_eq!(
        capacity,
        [
            "capacity       breaks at 70 VUs: p95 3200 ms > 2000 ms from 2024-12-01 09:01:00 UTC (2 buckets of 10 s in a row)"
        ]
    );
    promo_snapshot!(p.cmd(&["runs", "capacity", RAMP, BASELINE, PROMO]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TESTID                             BREAKS AT    FROM (UTC)           WHY
    ramp_20241201_090000_0000cccc      70 VUs       2024-12-01 09:01:00  p95 3200 ms > 2000 ms
    baseline_20241128_090000_0000aaaa  not reached  -                    held 20 VUs
    bf2024_20241129_090000_0000bbbb    38 VUs       2024-11-29 09:00:00  errors 6.00 % > 1 %
    method: per 10 s bucket, max VUs against p95 and error rate; the breaking point is the VUs of the first of 2 consecutive buckets above p95 2000 ms or errors 1 % (the marketing dashboard's warn thresholds)

    ----- stderr -----
    ");
    let json = p.run(&["runs", "capacity", RAMP, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["format_version"], "1.0");
    assert_eq!(v["runs"][0]["capacity"]["state"], "reached");
    assert_eq!(v["runs"][0]["capacity"]["vus"], 70.0);
    assert_eq!(v["runs"][0]["capacity"]["at"], RAMP_START + 60);

    // A run that did not break: refused, nothing written.
    let before = p.snapshot_tree();
    promo_snapshot!(p.cmd(&["runs", "capacity", BASELINE, "--apply"]), @"
    success: false
    exit_code: 1
    ----- stdout -----
    TESTID                             BREAKS AT    FROM (UTC)  WHY
    baseline_20241128_090000_0000aaaa  not reached  -           held 20 VUs
    method: per 10 s bucket, max VUs against p95 and error rate; the breaking point is the VUs of the first of 2 consecutive buckets above p95 2000 ms or errors 1 % (the marketing dashboard's warn thresholds)

    ----- stderr -----
      x test baseline_20241128_090000_0000aaaa did not break: there is no capacity to write
      help: ramp further (more VUs) until p95 or the error rate stays above the warn thresholds, then run `runs capacity` on that run; nothing was changed
    ");
    assert!(p.snapshot_tree() == before, "nothing was written");

    // The ramp: the one value is written into the manifest, then generate draws the line.
    let manifest = p.read("stacks/promo.yaml");
    promo_snapshot!(p.cmd(&["runs", "capacity", RAMP, "--apply"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TESTID                         BREAKS AT  FROM (UTC)           WHY
    ramp_20241201_090000_0000cccc  70 VUs     2024-12-01 09:01:00  p95 3200 ms > 2000 ms
    method: per 10 s bucket, max VUs against p95 and error rate; the breaking point is the VUs of the first of 2 consecutive buckets above p95 2000 ms or errors 1 % (the marketing dashboard's warn thresholds)
    stacks/promo.yaml: dashboard shop-marketing capacity_vus: (not set) -> 70
    next: `promo-infra plan` to review, then `promo-infra apply` (the users panel draws it as a dashed orange line)

    ----- stderr -----
    ");
    assert_eq!(
        p.read("stacks/promo.yaml"),
        manifest.replacen(
            "  - uid: shop-marketing\n",
            "  - uid: shop-marketing\n    capacity_vus: 70\n",
            1
        ),
        "only the capacity line is added"
    );
    let generated = p.run(&["generate"]);
    assert_eq!(generated.code, 0, "{}", generated.all());
    let board: serde_json::Value =
        serde_json::from_str(&p.read("generated/shop/grafana/dashboards/shop-marketing.json"))
            .expect("dashboard JSON");
    let users = board["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .find(|p| p["id"] == 4)
        .expect("users panel");
    let defaults = &users["fieldConfig"]["defaults"];
    assert_eq!(defaults["custom"]["thresholdsStyle"]["mode"], "dashed");
    assert_eq!(defaults["thresholds"]["steps"][1]["value"], 70);
}
