//! One test per class of bad input: the message, the position (file:line:col), exit code 1,
//! and that nothing was written or changed.

use crate::common::{BASE, TempProject};

/// Apply `edits` (old → new, each must match once) to the base manifest, then run `validate`
/// and `generate` on it and check both refuse it the same way without touching the disk.
pub(crate) fn refused(edits: &[(&str, &str)], message: &str, position: &str) {
    let mut text = BASE.to_string();
    for (old, new) in edits {
        assert_eq!(
            text.matches(old).count(),
            1,
            "edit `{old}` must match exactly once"
        );
        text = text.replacen(old, new, 1);
    }
    let p = TempProject::new();
    p.write("stacks/shop.yaml", &text);
    let before = p.snapshot_tree();
    for cmd in [
        &["validate"][..],
        &["generate"][..],
        &["generate", "--check"][..],
    ] {
        let run = p.run(cmd);
        assert_eq!(run.code, 1, "{cmd:?} must exit 1\n{}", run.all());
        assert!(
            run.stderr.contains(message),
            "{cmd:?}: expected message `{message}` in:\n{}",
            run.stderr
        );
        let at = format!("stacks/shop.yaml:{position}");
        assert!(
            run.stderr.contains(&at),
            "{cmd:?}: expected position `{at}` in:\n{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert_eq!(p.snapshot_tree(), before, "{cmd:?} wrote or changed files");
    }
}

#[test]
fn base_manifest_is_valid() {
    let p = TempProject::new();
    p.write("stacks/shop.yaml", BASE);
    let run = p.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("stacks/shop.yaml is valid"),
        "{}",
        run.stdout
    );
}

#[test]
fn malformed_yaml() {
    refused(
        &[("  port: 3000\n", "  port: [3000\n")],
        "malformed YAML",
        "13:13",
    );
}

#[test]
fn wrong_type() {
    refused(
        &[("  port: 8086", "  port: eighty")],
        "wrong type: expected a whole number",
        "6:9",
    );
}

#[test]
fn unknown_key_suggests_the_right_one() {
    refused(
        &[("  port: 3000", "  prot: 3000")],
        "unknown key `prot`",
        "12:3",
    );
    let p = TempProject::new();
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen("  port: 3000", "  prot: 3000", 1),
    );
    assert!(p.run(&["validate"]).stderr.contains("did you mean `port`?"));
}

#[test]
fn missing_required_key() {
    refused(
        &[("  image: influxdb:2.7\n", "")],
        "missing required key `image`",
        "8:3",
    );
}

#[test]
fn invalid_stack_name() {
    refused(
        &[("stack: shop", "stack: Shop_1")],
        "stack: `Shop_1` is not a valid stack name",
        "1:8",
    );
}

#[test]
fn invalid_environment() {
    refused(
        &[("environment: preprod", "environment: production")],
        "unknown value `production`",
        "2:14",
    );
}

#[test]
fn unsupported_influx_version() {
    refused(
        &[("  version: 2", "  version: 3")],
        "influxdb.version: 3 is not supported",
        "4:12",
    );
}

#[test]
fn bad_duration() {
    refused(
        &[("retention: 30d", "retention: 30days")],
        "influxdb.retention: `30days` is not a duration",
        "9:14",
    );
}

#[test]
fn retention_below_influx_minimum() {
    refused(
        &[("retention: 30d", "retention: 30m")],
        "shorter than InfluxDB's minimum",
        "9:14",
    );
}

#[test]
fn bad_cron() {
    refused(
        &[("\"0 3 * * *\"", "\"0 25 * * *\"")],
        "backup.schedule: `0 25 * * *` is not a valid cron schedule: hour: 25 is outside 0-23",
        "32:13",
    );
    refused(
        &[("\"0 3 * * *\"", "\"0 3 * *\"")],
        "a cron schedule has 5 fields",
        "32:13",
    );
}

#[test]
fn port_out_of_range() {
    refused(
        &[("  port: 3000", "  port: 70000")],
        "grafana.port: 70000 is not a port",
        "12:9",
    );
    refused(
        &[("  port: 3000", "  port: 0")],
        "grafana.port: 0 is not a port",
        "12:9",
    );
}

#[test]
fn port_clash() {
    refused(
        &[("  port: 5000", "  port: 3000")],
        "control_api.port: port 3000 is already used by grafana.port",
        "17:9",
    );
}

#[test]
fn bad_bind_address() {
    refused(
        &[("  port: 3000\n", "  port: 3000\n  bind: localhost\n")],
        "grafana.bind: `localhost` is not an IP address",
        "13:9",
    );
}

#[test]
fn thresholds_out_of_order() {
    refused(
        &[("p95_warn_ms: 2000", "p95_warn_ms: 900")],
        "dashboards[0].thresholds: p95_warn_ms (900) must be greater than p95_ok_ms (1000)",
        "21:49",
    );
}

#[test]
fn unknown_template() {
    refused(
        &[("template: k6-technical", "template: k6-technicl")],
        "dashboards[1].template: no template named `k6-technicl`",
        "23:15",
    );
    let p = TempProject::new();
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen("template: k6-technical", "template: k6-technicl", 1),
    );
    assert!(
        p.run(&["validate"])
            .stderr
            .contains("did you mean `k6-technical`?")
    );
}

#[test]
fn unknown_locale() {
    refused(
        &[(
            "environment: preprod\n",
            "environment: preprod\nlocale: de\n",
        )],
        "locale: `de` is not a supported language",
        "3:9",
    );
}

#[test]
fn unknown_home_dashboard() {
    refused(
        &[(
            "home_dashboard: shop-marketing",
            "home_dashboard: shop-marketting",
        )],
        "grafana.home_dashboard: no dashboard has uid `shop-marketting`",
        "14:19",
    );
}

#[test]
fn duplicate_dashboard_uid() {
    refused(
        &[("uid: shop-tech", "uid: shop-marketing")],
        "dashboards[1].uid: `shop-marketing` is declared twice (first at line 19)",
        "22:10",
    );
}

#[test]
fn prod_refuses_default_admin() {
    refused(
        &[("environment: preprod", "environment: prod")],
        "grafana.admin_user: `admin` is a default credential, refused for `environment: prod`",
        "13:15",
    );
}

#[test]
fn invalid_env_var_name() {
    refused(
        &[(
            "webhook_url_env: SLACK_WEBHOOK_URL",
            "webhook_url_env: slack-webhook",
        )],
        "alerting.slack.webhook_url_env: `slack-webhook` is not a valid environment variable name",
        "26:22",
    );
}

#[test]
fn unpinned_image() {
    refused(
        &[("image: influxdb:2.7", "image: influxdb:latest")],
        "influxdb.image: `influxdb:latest` is not pinned to a version",
        "5:10",
    );
}

#[test]
fn empty_rotation_policy() {
    refused(
        &[("keep: { last: 3, daily: 7 }", "keep: { last: 0 }")],
        "backup.keep: the rotation policy keeps nothing",
        "33:17",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = BASE
        .replacen("stack: shop", "stack: Shop", 1)
        .replacen("  port: 3000", "  port: 0", 1)
        .replacen("retention: 30d", "retention: forever", 1);
    let p = TempProject::new();
    p.write("stacks/shop.yaml", &text);
    let run = p.run(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("3 problem(s)"), "{}", run.stderr);
    for at in ["shop.yaml:1:8", "shop.yaml:9:14", "shop.yaml:12:9"] {
        assert!(run.stderr.contains(at), "{at} missing in {}", run.stderr);
    }
}

#[test]
fn bad_template_syntax_is_a_clear_error() {
    let p = TempProject::new();
    p.write("stacks/shop.yaml", BASE);
    p.write(
        "dashboards-src/marketing.json.hbs",
        "{ \"title\": {{json t.nope}} }\n",
    );
    let before = p.snapshot_tree();
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("dashboard template `dashboards-src/marketing.json.hbs`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("cannot render dashboard `shop-marketing`"),
        "{}",
        run.stderr
    );
    assert_eq!(p.snapshot_tree(), before);

    p.write(
        "dashboards-src/marketing.json.hbs",
        "{ \"title\": {{#if uid}} }\n",
    );
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("template syntax error"),
        "{}",
        run.stderr
    );
}

#[test]
fn template_producing_invalid_json_is_refused() {
    let p = TempProject::new();
    p.write("stacks/shop.yaml", BASE);
    p.write(
        "dashboards-src/marketing.json.hbs",
        "{\n  \"title\": {{json uid}}\n  \"panels\": []\n}\n",
    );
    let before = p.snapshot_tree();
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("is not valid JSON after rendering"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("rendered for shop-marketing"),
        "{}",
        run.stderr
    );
    assert_eq!(p.snapshot_tree(), before);
}

#[test]
fn missing_manifest_names_where_it_looked() {
    let p = TempProject::new();
    let run = p.run(&["secrets", "list"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("stacks/promo.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("-f"), "{}", run.stderr);
}

#[test]
fn two_manifests_with_one_stack_name() {
    let p = TempProject::new();
    p.write("stacks/a.yaml", BASE);
    p.write("stacks/b.yaml", BASE);
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("both declare `stack: shop`"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("generated").exists());
}

#[test]
fn bad_influx_rpc_address() {
    for bad in ["8088", "localhost:", "127.0.0.1:99999", "my host:8088"] {
        refused(
            &[(
                "  keep: { last: 3, daily: 7 }\n",
                &format!("  keep: {{ last: 3, daily: 7 }}\n  influx_rpc: \"{bad}\"\n"),
            )],
            &format!("backup.influx_rpc: `{bad}` is not a host:port address"),
            "34:15",
        );
    }
}
