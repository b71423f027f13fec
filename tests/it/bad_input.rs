//! One test per class of bad input: the message, the position (file:line:col), exit code 1,
//! and that nothing was written or changed.

use crate::common::{BASE, Run, TestContext};

/// Apply `edits` (old → new, each must match once) to the base manifest, then run `validate`,
/// `generate` and `generate --check` on it: each exits 1 with the same output, without touching
/// the disk. Gives `validate`'s run back for its exact output to be snapshotted.
pub(crate) fn refused(edits: &[(&str, &str)]) -> Run {
    let mut text = BASE.to_string();
    for (old, new) in edits {
        assert_eq!(
            text.matches(old).count(),
            1,
            "edit `{old}` must match exactly once"
        );
        text = text.replacen(old, new, 1);
    }
    let p = TestContext::new();
    p.write("stacks/shop.yaml", &text);
    let before = p.snapshot_tree();
    let validate = p.run(&["validate"]);
    assert_eq!(validate.code, 1, "validate must exit 1\n{}", validate.all());
    assert_eq!(p.snapshot_tree(), before, "validate wrote or changed files");
    for cmd in [&["generate"][..], &["generate", "--check"][..]] {
        let run = p.run(cmd);
        assert_eq!(
            (run.code, &run.stdout, &run.stderr),
            (validate.code, &validate.stdout, &validate.stderr),
            "{cmd:?} must refuse exactly as validate does"
        );
        assert_eq!(p.snapshot_tree(), before, "{cmd:?} wrote or changed files");
    }
    validate
}

#[test]
fn base_manifest_is_valid() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    promo_snapshot!(p.cmd(&["validate"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ stacks/shop.yaml is valid (stack `shop`)

    ----- stderr -----
    ");
}

#[test]
fn malformed_yaml() {
    promo_snapshot!(refused(&[("  port: 3000\n", "  port: [3000\n")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x malformed YAML: illegal placement of ':' indicator
        ,-[stacks/shop.yaml:13:13]
     12 |   port: [3000
     13 |   admin_user: admin
        :             |
        :             `-- here
     14 |   home_dashboard: shop-marketing
        `----
      help: check indentation, quoting and brackets around this position
    ");
}

#[test]
fn wrong_type() {
    promo_snapshot!(refused(&[("  port: 8086", "  port: eighty")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.port: wrong type: expected a whole number (0 or more)
       ,-[stacks/shop.yaml:6:9]
     5 |   image: influxdb:2.7
     6 |   port: eighty
       :         ^^^|^^
       :            `-- wrong type
     7 |   org: shop-org
       `----
      help: check the value against the manifest schema (`promo-infra schema`)
    ");
}

#[test]
fn a_fraction_a_negative_port_and_a_repeated_key_say_so_in_words() {
    let first_problem = |edit: (&str, &str)| {
        let run = refused(&[edit]);
        run.stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("x ") && !l.contains("is invalid"))
            .unwrap_or_else(|| panic!("{}", run.all()))
            .to_string()
    };
    assert_eq!(
        first_problem(("  port: 8086", "  port: 8086.5")),
        "x influxdb.port: wrong type: expected a whole number (0 or more), not floating point 8086.5"
    );
    assert_eq!(
        first_problem(("  port: 8086", "  port: -1")),
        "x influxdb.port: wrong type: expected a whole number (0 or more), not integer -1"
    );
    // Fails on the old code, which named no key: a wrong value in a flow mapping names its path.
    assert_eq!(
        first_problem((
            "keep: { last: 3, daily: 7 }",
            "keep: { last: 3, daily: -1 }"
        )),
        "x backup.keep.daily: wrong type: expected a whole number (0 or more), not integer -1"
    );
    assert_eq!(
        first_problem(("  port: 8086", "  port: 8086\n  port: 8087")),
        "x key `port` appears twice in this section"
    );
}

#[test]
fn unknown_key_suggests_the_right_one() {
    promo_snapshot!(refused(&[("  port: 3000", "  prot: 3000")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x unknown key `prot`
        ,-[stacks/shop.yaml:12:3]
     11 |   image: grafana/grafana:10.2.3
     12 |   prot: 3000
        :   ^^|^
        :     `-- unknown key
     13 |   admin_user: admin
        `----
      help: did you mean `port`? Known keys here: image, port, bind, admin_user, plugins, home_dashboard, url
    ");
}

#[test]
fn missing_required_key() {
    promo_snapshot!(refused(&[("  image: influxdb:2.7\n", "")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x missing required key `image`
       ,-[stacks/shop.yaml:8:3]
     7 |   bucket: k6
     8 |   retention: 30d
       :   ^^^^|^^^^
       :       `-- `image` is required in this section
     9 | grafana:
       `----
      help: see stacks/promo.yaml or `promo-infra schema` for the full shape
    ");
}

#[test]
fn invalid_stack_name() {
    promo_snapshot!(refused(&[("stack: shop", "stack: Shop_1")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x stack: `Shop_1` is not a valid stack name
       ,-[stacks/shop.yaml:1:8]
     1 | stack: Shop_1
       :        ^^^|^^
       :           `-- must match [a-z0-9-], 1-24 characters
     2 | environment: preprod
       `----
      help: the stack name prefixes containers and Grafana uids; try `shop-1`
    ");
}

/// Fails on the old code, whose `unknown value` named no key (the semantic problems do).
#[test]
fn invalid_environment() {
    promo_snapshot!(refused(&[("environment: preprod", "environment: production")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x environment: unknown value `production`
       ,-[stacks/shop.yaml:2:14]
     1 | stack: shop
     2 | environment: production
       :              ^^^^^|^^^^
       :                   `-- not an allowed value
     3 | influxdb:
       `----
      help: did you mean `prod`? Allowed: prod, preprod
    ");
}

#[test]
fn unsupported_influx_version() {
    promo_snapshot!(refused(&[("  version: 2", "  version: 3")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.version: 3 is not supported
       ,-[stacks/shop.yaml:4:12]
     3 | influxdb:
     4 |   version: 3
       :            |
       :            `-- must be 1 or 2
     5 |   image: influxdb:2.7
       `----
      help: use 2 (buckets, tokens, Flux) or 1 (databases, InfluxQL)
    ");
}

/// A valid name that cannot be the bucket: Grafana 10.2 rewrites `.timeRangeStart` (any
/// `.<Flux macro>`) inside the Flux queries of an InfluxDB 2 stack, InfluxDB 2 reserves
/// `_`-led names, and a dot-led name is a path segment in the URLs the bucket goes into.
#[test]
fn a_bucket_name_grafana_or_influxdb_would_read_otherwise() {
    promo_snapshot!(refused(&[("bucket: k6", "bucket: metrics.timeRangeStart")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.bucket: `metrics.timeRangeStart` cannot be the bucket: it contains `.timeRangeStart`, which Grafana 10.2 replaces inside every Flux query: the dashboards and alerts would read another bucket
       ,-[stacks/shop.yaml:8:11]
     7 |   org: shop-org
     8 |   bucket: metrics.timeRangeStart
       :           ^^^^^^^^^^^|^^^^^^^^^^
       :                      `-- not usable as the bucket
     9 |   retention: 30d
       `----
      help: choose another name (letters, digits, `-`, `_`), e.g. `k6`
    ");
    promo_snapshot!(refused(&[("bucket: k6", "bucket: _monitoring")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.bucket: `_monitoring` cannot be the bucket: InfluxDB 2 reserves names starting with `_` for its system buckets
       ,-[stacks/shop.yaml:8:11]
     7 |   org: shop-org
     8 |   bucket: _monitoring
       :           ^^^^^|^^^^^
       :                `-- not usable as the bucket
     9 |   retention: 30d
       `----
      help: choose another name (letters, digits, `-`, `_`), e.g. `k6`
    ");
    promo_snapshot!(refused(&[("bucket: k6", "bucket: ..")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.bucket: `..` cannot be the bucket: a name starting with `.` is a path segment in the URLs it goes into
       ,-[stacks/shop.yaml:8:11]
     7 |   org: shop-org
     8 |   bucket: ..
       :           ^|
       :            `-- not usable as the bucket
     9 |   retention: 30d
       `----
      help: choose another name (letters, digits, `-`, `_`), e.g. `k6`
    ");
}

/// Grafana's Slack notifier renders the channel as a Go template (grafana/alerting's
/// `slack.go`: `tmpl(Recipient)`).
#[test]
fn a_slack_channel_that_is_a_template() {
    promo_snapshot!(refused(&[("channel: \"#alerts\"", "channel: \"#{{ .CommonLabels.promo_name }}\"")]), @r##"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x alerting.slack.channel: `#{{ .CommonLabels.promo_name }}` holds `{` or `}`: Grafana renders the channel as a template, so an alert's labels (from the test's data) could choose where it goes, and a template error sends it to the webhook's default channel
        ,-[stacks/shop.yaml:27:14]
     26 |     webhook_url_env: SLACK_WEBHOOK_URL
     27 |     channel: "#{{ .CommonLabels.promo_name }}"
        :              ^^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^^^
        :                              `-- a template
     28 |   rules:
        `----
      help: write the channel's name, e.g. `#load-testing-alerts`
    "##);
}

#[test]
fn bad_duration() {
    promo_snapshot!(refused(&[("retention: 30d", "retention: 30days")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.retention: `30days` is not a duration: unknown unit `a`
        ,-[stacks/shop.yaml:9:14]
      8 |   bucket: k6
      9 |   retention: 30days
        :              ^^^|^^
        :                 `-- not a duration
     10 | grafana:
        `----
      help: write e.g. `30d`, `12h`, `4w`, `1h30m` or `infinite`
    ");
}

#[test]
fn retention_below_influx_minimum() {
    promo_snapshot!(refused(&[("retention: 30d", "retention: 30m")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.retention: `30m` is shorter than InfluxDB's minimum of 1h
        ,-[stacks/shop.yaml:9:14]
      8 |   bucket: k6
      9 |   retention: 30m
        :              ^|^
        :               `-- too short
     10 | grafana:
        `----
      help: use at least `1h`, or `infinite`
    ");
}

#[test]
fn bad_cron() {
    promo_snapshot!(refused(&[("\"0 3 * * *\"", "\"0 25 * * *\"")]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.schedule: `0 25 * * *` is not a valid cron schedule: hour: 25 is outside 0-23
        ,-[stacks/shop.yaml:32:13]
     31 | backup:
     32 |   schedule: "0 25 * * *"
        :             ^^^^^^|^^^^^
        :                   `-- invalid cron
     33 |   keep: { last: 3, daily: 7 }
        `----
      help: five fields, evaluated in UTC: `0 3 * * *` runs daily at 03:00
    "#);
    promo_snapshot!(refused(&[("\"0 3 * * *\"", "\"0 3 * *\"")]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.schedule: `0 3 * *` is not a valid cron schedule: a cron schedule has 5 fields (minute hour day-of-month month day-of-week), found 4
        ,-[stacks/shop.yaml:32:13]
     31 | backup:
     32 |   schedule: "0 3 * *"
        :             ^^^^|^^^^
        :                 `-- invalid cron
     33 |   keep: { last: 3, daily: 7 }
        `----
      help: five fields, evaluated in UTC: `0 3 * * *` runs daily at 03:00
    "#);
}

#[test]
fn port_out_of_range() {
    promo_snapshot!(refused(&[("  port: 3000", "  port: 70000")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x grafana.port: 70000 is not a port
        ,-[stacks/shop.yaml:12:9]
     11 |   image: grafana/grafana:10.2.3
     12 |   port: 70000
        :         ^^|^^
        :           `-- must be 1-65535
     13 |   admin_user: admin
        `----
      help: choose a free host port between 1 and 65535
    ");
    promo_snapshot!(refused(&[("  port: 3000", "  port: 0")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x grafana.port: 0 is not a port
        ,-[stacks/shop.yaml:12:9]
     11 |   image: grafana/grafana:10.2.3
     12 |   port: 0
        :         |
        :         `-- must be 1-65535
     13 |   admin_user: admin
        `----
      help: choose a free host port between 1 and 65535
    ");
}

#[test]
fn port_clash() {
    promo_snapshot!(refused(&[("  port: 5000", "  port: 3000")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x control_api.port: port 3000 is already used by grafana.port
        ,-[stacks/shop.yaml:17:9]
     16 |   enabled: true
     17 |   port: 3000
        :         ^^|^
        :           `-- port clash
     18 | dashboards:
        `----
      help: give control_api.port a port of its own
    ");
}

/// A URL that parses but is not written the way it is read: Grafana's `root_url`, the CORS
/// origin and the dashboard links would each carry a different text.
#[test]
fn a_url_not_in_canonical_form() {
    promo_snapshot!(refused(&[("  port: 3000\n", "  port: 3000\n  url: \"HTTP://Grafana.Example.COM:80/\"\n")]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x grafana.url: `HTTP://Grafana.Example.COM:80/` is not written the way it is read: `http://grafana.example.com/`
        ,-[stacks/shop.yaml:13:8]
     12 |   port: 3000
     13 |   url: "HTTP://Grafana.Example.COM:80/"
        :        ^^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^^
        :                        `-- not canonical
     14 |   admin_user: admin
        `----
      help: write `http://grafana.example.com/`
    "#);
    promo_snapshot!(refused(&[("  port: 3000\n", "  port: 3000\n  url: \"http:grafana.example.com\"\n")]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x grafana.url: `http:grafana.example.com` is not written the way it is read: `http://grafana.example.com`
        ,-[stacks/shop.yaml:13:8]
     12 |   port: 3000
     13 |   url: "http:grafana.example.com"
        :        ^^^^^^^^^^^^^|^^^^^^^^^^^^
        :                     `-- not canonical
     14 |   admin_user: admin
        `----
      help: write `http://grafana.example.com`
    "#);
}

#[test]
fn bad_bind_address() {
    promo_snapshot!(refused(&[("  port: 3000\n", "  port: 3000\n  bind: localhost\n")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x grafana.bind: `localhost` is not an IP address
        ,-[stacks/shop.yaml:13:9]
     12 |   port: 3000
     13 |   bind: localhost
        :         ^^^^|^^^^
        :             `-- not an IP address
     14 |   admin_user: admin
        `----
      help: use `127.0.0.1` (default, this host only) or `0.0.0.0` (every interface)
    ");
}

#[test]
fn thresholds_out_of_order() {
    promo_snapshot!(refused(&[("p95_warn_ms: 2000", "p95_warn_ms: 900")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x dashboards[0].thresholds: p95_warn_ms (900) must be greater than p95_ok_ms (1000)
        ,-[stacks/shop.yaml:21:49]
     20 |     template: marketing
     21 |     thresholds: { p95_ok_ms: 1000, p95_warn_ms: 900, error_ok_pct: 0.1, error_warn_pct: 1 }
        :                                                 ^|^
        :                                                  `-- not above the ok value
     22 |   - uid: shop-tech
        `----
      help: green < ok <= orange < warn <= red: the warn value must be the larger one
    ");
}

#[test]
fn unknown_template() {
    promo_snapshot!(refused(&[("template: k6-technical", "template: k6-technicl")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x dashboards[1].template: no template named `k6-technicl`
        ,-[stacks/shop.yaml:23:15]
     22 |   - uid: shop-tech
     23 |     template: k6-technicl
        :               ^^^^^|^^^^^
        :                    `-- unknown template
     24 | alerting:
        `----
      help: did you mean `k6-technical`? Templates: k6-technical, marketing
    ");
}

#[test]
fn unknown_locale() {
    promo_snapshot!(refused(&[(
            "environment: preprod\n",
            "environment: preprod\nlocale: de\n",
        )]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x locale: `de` is not a supported language
       ,-[stacks/shop.yaml:3:9]
     2 | environment: preprod
     3 | locale: de
       :         ^|
       :          `-- unsupported language
     4 | influxdb:
       `----
      help: use `fr` or `en`
    ");
}

#[test]
fn unknown_home_dashboard() {
    promo_snapshot!(refused(&[(
            "home_dashboard: shop-marketing",
            "home_dashboard: shop-marketting",
        )]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x grafana.home_dashboard: no dashboard has uid `shop-marketting`
        ,-[stacks/shop.yaml:14:19]
     13 |   admin_user: admin
     14 |   home_dashboard: shop-marketting
        :                   ^^^^^^^|^^^^^^^
        :                          `-- unknown dashboard
     15 | control_api:
        `----
      help: did you mean `shop-marketing`? Declared dashboards: shop-marketing, shop-tech
    ");
}

#[test]
fn duplicate_dashboard_uid() {
    promo_snapshot!(refused(&[("uid: shop-tech", "uid: shop-marketing")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x dashboards[1].uid: `shop-marketing` is declared twice (first at line 19)
        ,-[stacks/shop.yaml:22:10]
     21 |     thresholds: { p95_ok_ms: 1000, p95_warn_ms: 2000, error_ok_pct: 0.1, error_warn_pct: 1 }
     22 |   - uid: shop-marketing
        :          ^^^^^^^|^^^^^^
        :                 `-- duplicate uid
     23 |     template: k6-technical
        `----
      help: every dashboard needs its own uid
    ");
}

#[test]
fn prod_refuses_default_admin() {
    promo_snapshot!(refused(&[("environment: preprod", "environment: prod")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x grafana.admin_user: `admin` is a default credential, refused for `environment: prod`
        ,-[stacks/shop.yaml:13:15]
     12 |   port: 3000
     13 |   admin_user: admin
        :               ^^|^^
        :                 `-- default admin login
     14 |   home_dashboard: shop-marketing
        `----
      help: set `grafana.admin_user` to a name of your own; its password is generated into .env
    ");
}

#[test]
fn invalid_env_var_name() {
    promo_snapshot!(refused(&[(
            "webhook_url_env: SLACK_WEBHOOK_URL",
            "webhook_url_env: slack-webhook",
        )]), @r##"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x alerting.slack.webhook_url_env: `slack-webhook` is not a valid environment variable name
        ,-[stacks/shop.yaml:26:22]
     25 |   slack:
     26 |     webhook_url_env: slack-webhook
        :                      ^^^^^^|^^^^^^
        :                            `-- invalid variable name
     27 |     channel: "#alerts"
        `----
      help: letters, digits and `_`, not starting with a digit, e.g. `SLACK_WEBHOOK_URL`
    "##);
}

#[test]
fn unpinned_image() {
    promo_snapshot!(refused(&[("image: influxdb:2.7", "image: influxdb:latest")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.image: `influxdb:latest` is not pinned to a version
       ,-[stacks/shop.yaml:5:10]
     4 |   version: 2
     5 |   image: influxdb:latest
       :          ^^^^^^^|^^^^^^^
       :                 `-- unpinned image
     6 |   port: 8086
       `----
      help: add an explicit tag such as `:2.7` (never `latest`: `influxdb:latest` moved to InfluxDB 3)
    ");
}

#[test]
fn empty_rotation_policy() {
    promo_snapshot!(refused(&[("keep: { last: 3, daily: 7 }", "keep: { last: 0 }")]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.keep: the rotation policy keeps nothing
        ,-[stacks/shop.yaml:33:17]
     32 |   schedule: "0 3 * * *"
     33 |   keep: { last: 0 }
        :                 |
        :                 `-- no keep rule
     34 | k6:
        `----
      help: set at least one of keep.last, keep.daily, keep.weekly, keep.monthly above 0 (restic refuses an empty policy too)
    "#);
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = BASE
        .replacen("stack: shop", "stack: Shop", 1)
        .replacen("  port: 3000", "  port: 0", 1)
        .replacen("retention: 30d", "retention: forever", 1);
    let p = TestContext::new();
    p.write("stacks/shop.yaml", &text);
    promo_snapshot!(p.cmd(&["validate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 3 problem(s)
      help: fix the manifest; nothing was written or changed

      x stack: `Shop` is not a valid stack name
       ,-[stacks/shop.yaml:1:8]
     1 | stack: Shop
       :        ^^|^
       :          `-- must match [a-z0-9-], 1-24 characters
     2 | environment: preprod
       `----
      help: the stack name prefixes containers and Grafana uids; try `shop`

      x influxdb.retention: `forever` is not a duration: unknown unit `f`
        ,-[stacks/shop.yaml:9:14]
      8 |   bucket: k6
      9 |   retention: forever
        :              ^^^|^^^
        :                 `-- not a duration
     10 | grafana:
        `----
      help: write e.g. `30d`, `12h`, `4w`, `1h30m` or `infinite`

      x grafana.port: 0 is not a port
        ,-[stacks/shop.yaml:12:9]
     11 |   image: grafana/grafana:10.2.3
     12 |   port: 0
        :         |
        :         `-- must be 1-65535
     13 |   admin_user: admin
        `----
      help: choose a free host port between 1 and 65535
    ");
}

#[test]
fn bad_template_syntax_is_a_clear_error() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    p.write(
        "dashboards-src/marketing.json.hbs",
        "{ \"title\": {{json t.nope}} }\n",
    );
    let before = p.snapshot_tree();
    promo_snapshot!(p.cmd(&["generate"]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x dashboard template `dashboards-src/marketing.json.hbs`: cannot render dashboard `shop-marketing`: Failed to access variable in strict mode Some("t.nope")
       ,-[dashboards-src/marketing.json.hbs:1:12]
     1 | { "title": {{json t.nope}} }
       :            |
       :            `-- here
       `----
      help: strict mode: every variable must exist in the context (see dashboards-src/README.md)
    "#);
    assert_eq!(p.snapshot_tree(), before);

    p.write(
        "dashboards-src/marketing.json.hbs",
        "{ \"title\": {{#if uid}} }\n",
    );
    promo_snapshot!(p.cmd(&["generate"]), @r"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x dashboard template `dashboards-src/marketing.json.hbs`: template syntax error: invalid handlebars syntax: expected escape, expression, html_expression, decorator_expression, partial_expression, invert_tag, invert_chain_tag, helper_block_start, helper_block_end, decorator_block_start, partial_block_start, raw_block_start, hbs_comment, or hbs_comment_compact
      help: fix the handlebars syntax; a literal `{{` in the output is written `\{{`
    ");
}

#[test]
fn template_producing_invalid_json_is_refused() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    p.write(
        "dashboards-src/marketing.json.hbs",
        "{\n  \"title\": {{json uid}}\n  \"panels\": []\n}\n",
    );
    let before = p.snapshot_tree();
    promo_snapshot!(p.cmd(&["generate"]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x dashboard template `dashboards-src/marketing.json.hbs`: dashboard `shop-marketing` is not valid JSON after rendering: expected `,` or `}` at line 3 column 3
       ,-[dashboards-src/marketing.json.hbs (rendered for shop-marketing):3:3]
     2 |   "title": "shop-marketing"
     3 |   "panels": []
       :   |
       :   `-- here
     4 | }
       `----
      help: look for a missing comma or quote near this point in the template; use {{json value}} for strings
    "#);
    assert_eq!(p.snapshot_tree(), before);
}

#[test]
fn missing_manifest_names_where_it_looked() {
    let p = TestContext::new();
    promo_snapshot!(p.cmd(&["secrets", "list"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x no stack manifests in ./stacks
      help: create stacks/promo.yaml (see README) or pass -f FILE
    ");
}

#[test]
fn two_manifests_with_one_stack_name() {
    let p = TestContext::new();
    p.write("stacks/a.yaml", BASE);
    p.write("stacks/b.yaml", BASE);
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/a.yaml and stacks/b.yaml both declare `stack: shop`
      help: each manifest needs its own stack name: it names the generated/ directory and the containers
    ");
    assert!(!p.path().join("generated").exists());
}

#[test]
fn bad_influx_rpc_address() {
    let rpc = |bad: &str| {
        refused(&[(
            "  keep: { last: 3, daily: 7 }\n",
            &format!("  keep: {{ last: 3, daily: 7 }}\n  influx_rpc: \"{bad}\"\n"),
        )])
    };
    promo_snapshot!(rpc("8088"), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.influx_rpc: `8088` is not a host:port address
        ,-[stacks/shop.yaml:34:15]
     33 |   keep: { last: 3, daily: 7 }
     34 |   influx_rpc: "8088"
        :               ^^^|^^
        :                  `-- not host:port
     35 | k6:
        `----
      help: write the InfluxDB RPC bind-address, e.g. `127.0.0.1:8088`
    "#);
    promo_snapshot!(rpc("localhost:"), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.influx_rpc: `localhost:` is not a host:port address
        ,-[stacks/shop.yaml:34:15]
     33 |   keep: { last: 3, daily: 7 }
     34 |   influx_rpc: "localhost:"
        :               ^^^^^^|^^^^^
        :                     `-- not host:port
     35 | k6:
        `----
      help: write the InfluxDB RPC bind-address, e.g. `127.0.0.1:8088`
    "#);
    promo_snapshot!(rpc("127.0.0.1:99999"), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.influx_rpc: `127.0.0.1:99999` is not a host:port address
        ,-[stacks/shop.yaml:34:15]
     33 |   keep: { last: 3, daily: 7 }
     34 |   influx_rpc: "127.0.0.1:99999"
        :               ^^^^^^^^|^^^^^^^^
        :                       `-- not host:port
     35 | k6:
        `----
      help: write the InfluxDB RPC bind-address, e.g. `127.0.0.1:8088`
    "#);
    promo_snapshot!(rpc("my host:8088"), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.influx_rpc: `my host:8088` is not a host:port address
        ,-[stacks/shop.yaml:34:15]
     33 |   keep: { last: 3, daily: 7 }
     34 |   influx_rpc: "my host:8088"
        :               ^^^^^^^|^^^^^^
        :                      `-- not host:port
     35 | k6:
        `----
      help: write the InfluxDB RPC bind-address, e.g. `127.0.0.1:8088`
    "#);
}

#[test]
fn report_url_must_be_a_plain_url_beside_a_report_dir() {
    let k6 = "  extensions: [github.com/grafana/xk6-output-influxdb@v0.4.1]\n";
    promo_snapshot!(refused(&[(
        k6,
        &format!("{k6}  report_dir: reports\n  report_url: \"https://reports.example/a b?x=<!channel>\"\n"),
    )]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x k6.report_url: `https://reports.example/a b?x=<!channel>` is not a valid URL
        ,-[stacks/shop.yaml:38:15]
     37 |   report_dir: reports
     38 |   report_url: "https://reports.example/a b?x=<!channel>"
        :               ^^^^^^^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^^^^^^^
        :                                    `-- invalid URL
        `----
      help: write `http(s)://host[:port][/path]` with letters, digits, `-._~:/`, no credentials, query or fragment
    "#);
    promo_snapshot!(refused(&[(
        k6,
        &format!("{k6}  report_url: https://reports.example/shop\n"),
    )]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x k6.report_url: no `k6.report_dir` says where the reports it serves are written
        ,-[stacks/shop.yaml:37:15]
     36 |   extensions: [github.com/grafana/xk6-output-influxdb@v0.4.1]
     37 |   report_url: https://reports.example/shop
        :               ^^^^^^^^^^^^^^|^^^^^^^^^^^^^
        :                             `-- report_url without report_dir
        `----
      help: add `report_dir: reports` (the directory your web server publishes at this URL), or remove `report_url`
    ");
}

#[test]
fn a_path_into_promo_infras_own_directories_is_refused() {
    let k6 = "  extensions: [github.com/grafana/xk6-output-influxdb@v0.4.1]\n";
    // The k6 binary built over `.env` would lose every secret.
    promo_snapshot!(refused(&[(k6, &format!("{k6}  output: generated/shop/.env\n"))]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x k6.output: `generated/shop/.env` is inside `generated`, which promo-infra or git owns (its files there would be overwritten or mixed with yours)
        ,-[stacks/shop.yaml:37:11]
     36 |   extensions: [github.com/grafana/xk6-output-influxdb@v0.4.1]
     37 |   output: generated/shop/.env
        :           ^^^^^^^^^|^^^^^^^^^
        :                    `-- not a plain path
        `----
      help: write a path inside the project (not under `generated/`, `stacks/` or `dashboards-src/`) with letters, digits and `._+@,=~-`, e.g. `data`
    ");
    promo_snapshot!(refused(&[(k6, &format!("{k6}  report_dir: reports/.git/x\n"))]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x k6.report_dir: `reports/.git/x` is inside `.git`, which promo-infra or git owns (its files there would be overwritten or mixed with yours)
        ,-[stacks/shop.yaml:37:15]
     36 |   extensions: [github.com/grafana/xk6-output-influxdb@v0.4.1]
     37 |   report_dir: reports/.git/x
        :               ^^^^^^^|^^^^^^
        :                      `-- not a plain path
        `----
      help: write a path inside the project (not under `generated/`, `stacks/` or `dashboards-src/`) with letters, digits and `._+@,=~-`, e.g. `data`
    ");
}

#[test]
fn a_title_with_a_direction_override_is_refused() {
    // U+202E (right-to-left override) makes a title read differently from what it holds.
    let run = refused(&[(
        "    template: marketing\n",
        "    template: marketing\n    title: \"Promo \\u202Ekcalb\"\n",
    )]);
    assert!(
        run.stderr.contains(
            "dashboards[0].title: the invisible formatting character U+202E is not allowed here"
        ),
        "{}",
        run.all()
    );
}

#[test]
fn a_pasted_blob_is_named_by_its_length_not_echoed() {
    // A 2 MB value (a file pasted into the wrong key): the message shows its start and length,
    // the line is named instead of being printed under the message, and the refusal stays small.
    let blob = "y".repeat(2_000_000);
    let run = refused(&[("  org: ", &format!("  org: {blob} #"))]);
    assert!(
        run.stderr.len() < 2_000,
        "{} bytes of stderr",
        run.stderr.len()
    );
    promo_snapshot!(run, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.org: `yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy…` (2000000 characters) is not a valid name (at stacks/shop.yaml:7:8)
      help: use 1-100 letters, digits, `-`, `_`, `.` or `@`, not starting with `-`
    ");
}

#[test]
fn a_list_where_one_value_is_expected() {
    promo_snapshot!(refused(&[("environment: preprod", "environment: [preprod]")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x environment: wrong type: expected one word (one of the allowed values), not a list
       ,-[stacks/shop.yaml:2:14]
     1 | stack: shop
     2 | environment: [preprod]
       :              ^^^^|^^^
       :                  `-- wrong type
     3 | influxdb:
       `----
      help: check the value against the manifest schema (`promo-infra schema`)
    ");
}

/// InfluxDB 1.x's RPC bind is a host port on the native target: one written in the manifest
/// that is a service's port is a clash (before: accepted, and apply failed mid-way).
#[test]
fn influx_rpc_on_a_service_port_is_a_clash() {
    promo_snapshot!(refused(&[
        (
            "  version: 2\n  image: influxdb:2.7",
            "  version: 1\n  image: influxdb:1.8"
        ),
        (
            "  keep: { last: 3, daily: 7 }\n",
            "  keep: { last: 3, daily: 7 }\n  influx_rpc: 127.0.0.1:3000\n"
        ),
    ]));
}
