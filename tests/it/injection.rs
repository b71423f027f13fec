//! Nothing the manifest says can change the shape of a generated file (issue 10, item 2).
//!
//! One test per injection class: the value is refused at its file:line:col, `validate`,
//! `generate` and `generate --check` exit 1 and nothing is written (via
//! [`crate::bad_input::refused`]). Then the escaping tests: values validation lets through but
//! that are special in an output's syntax end up escaped there.

use crate::bad_input::refused;
use crate::common::{BASE, Run, TestContext};

const KEEP: &str = "  keep: { last: 3, daily: 7 }\n";
const K6_EXT: &str = "  extensions: [github.com/grafana/xk6-output-influxdb@v0.4.1]\n";

/// BASE with `lines` appended to the `backup:` section (they land on line 34 onwards).
fn backup_extra(lines: &str) -> (String, String) {
    (KEEP.to_string(), format!("{KEEP}{lines}"))
}

/// BASE with a `targets.native` section appended (its first key on line 39).
fn native_extra(lines: &str) -> (String, String) {
    (
        K6_EXT.to_string(),
        format!("{K6_EXT}targets:\n  native:\n{lines}"),
    )
}

fn refused_with(edit: (String, String)) -> Run {
    refused(&[(edit.0.as_str(), edit.1.as_str())])
}

#[test]
fn cron_line_cannot_gain_a_command_from_backup_binary() {
    let binary = |bad: &str| refused_with(backup_extra(&format!("  binary: \"{bad}\"\n")));
    promo_snapshot!(binary("/usr/local/bin/promo-infra;id"), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.binary: `/usr/local/bin/promo-infra;id` contains `;`
        ,-[stacks/shop.yaml:34:11]
     33 |   keep: { last: 3, daily: 7 }
     34 |   binary: "/usr/local/bin/promo-infra;id"
        :           ^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^^
        :                          `-- not a plain path
     35 | k6:
        `----
      help: write a plain absolute path (letters, digits, spaces, `%`, `._+@,=~-`), e.g. `/opt/promo-infra`
    "#);
    promo_snapshot!(binary("/usr/local/bin/$(id)"), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.binary: `/usr/local/bin/$(id)` contains `$`
        ,-[stacks/shop.yaml:34:11]
     33 |   keep: { last: 3, daily: 7 }
     34 |   binary: "/usr/local/bin/$(id)"
        :           ^^^^^^^^^^^|^^^^^^^^^^
        :                      `-- not a plain path
     35 | k6:
        `----
      help: write a plain absolute path (letters, digits, spaces, `%`, `._+@,=~-`), e.g. `/opt/promo-infra`
    "#);
    promo_snapshot!(binary("/usr/local/bin/`id`"), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.binary: `/usr/local/bin/`id`` contains a backtick
        ,-[stacks/shop.yaml:34:11]
     33 |   keep: { last: 3, daily: 7 }
     34 |   binary: "/usr/local/bin/`id`"
        :           ^^^^^^^^^^|^^^^^^^^^^
        :                     `-- not a plain path
     35 | k6:
        `----
      help: write a plain absolute path (letters, digits, spaces, `%`, `._+@,=~-`), e.g. `/opt/promo-infra`
    "#);
}

#[test]
fn cron_line_cannot_gain_a_command_from_backup_project_dir() {
    promo_snapshot!(refused_with(backup_extra("  project_dir: \"/opt/x&&id\"\n")), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.project_dir: `/opt/x&&id` contains `&`
        ,-[stacks/shop.yaml:34:16]
     33 |   keep: { last: 3, daily: 7 }
     34 |   project_dir: "/opt/x&&id"
        :                ^^^^^^|^^^^^
        :                      `-- not a plain path
     35 | k6:
        `----
      help: write a plain absolute path (letters, digits, spaces, `%`, `._+@,=~-`), e.g. `/opt/promo-infra`
    "#);
}

#[test]
fn cron_file_cannot_gain_a_line_from_the_schedule() {
    // Five fields across two lines: the old code accepted it and wrote the line break into the
    // timer unit.
    promo_snapshot!(refused(&[("\"0 3 * * *\"", "\"0 3 * *\\n*\"")]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.schedule: a line break is not allowed in a cron schedule
        ,-[stacks/shop.yaml:32:13]
     31 | backup:
     32 |   schedule: "0 3 * *\n*"
        :             ^^^^^^|^^^^^
        :                   `-- not a cron character
     33 |   keep: { last: 3, daily: 7 }
        `----
      help: one line of five fields separated by spaces, using digits, names (mon, jan), `*`, `,`, `/` and `-`: `0 3 * * *`
    "#);
}

#[test]
fn systemd_unit_cannot_gain_a_line_from_native_project_dir() {
    promo_snapshot!(refused_with(native_extra("    project_dir: \"/opt/x\\nExecStartPre=/bin/id\"\n")), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x targets.native.project_dir: `/opt/x\nExecStartPre=/bin/id` contains a line break
        ,-[stacks/shop.yaml:39:18]
     38 |   native:
     39 |     project_dir: "/opt/x\nExecStartPre=/bin/id"
        :                  ^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^
        :                                 `-- not a plain path
        `----
      help: write a plain absolute path (letters, digits, spaces, `%`, `._+@,=~-`), e.g. `/opt/promo-infra`
    "#);
}

#[test]
fn systemd_unit_cannot_gain_a_line_from_grafana_homepath() {
    promo_snapshot!(refused_with(native_extra("    grafana_homepath: \"/usr/share/grafana\\nExecStartPre=/bin/id\"\n")), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x targets.native.grafana_homepath: `/usr/share/grafana\nExecStartPre=/bin/id` contains a line break
        ,-[stacks/shop.yaml:39:23]
     38 |   native:
     39 |     grafana_homepath: "/usr/share/grafana\nExecStartPre=/bin/id"
        :                       ^^^^^^^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^^^^^^^
        :                                            `-- not a plain path
        `----
      help: write a plain absolute path (letters, digits, spaces, `%`, `._+@,=~-`), e.g. `/opt/promo-infra`
    "#);
}

#[test]
fn influxdb_conf_and_grafana_ini_cannot_gain_a_section_from_data_dir() {
    promo_snapshot!(refused_with(native_extra("    data_dir: \"data\\\"\\n[evil]\"\n")), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x targets.native.data_dir: `data\"\n[evil]` contains `"`
        ,-[stacks/shop.yaml:39:15]
     38 |   native:
     39 |     data_dir: "data\"\n[evil]"
        :               ^^^^^^^^|^^^^^^^
        :                       `-- not a plain path
        `----
      help: write a path inside the project (not under `generated/`, `stacks/` or `dashboards-src/`) with letters, digits and `._+@,=~-`, e.g. `data`
    "#);
    promo_snapshot!(refused_with(native_extra("    data_dir: \"data ; x\"\n")), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x targets.native.data_dir: `data ; x` contains a space
        ,-[stacks/shop.yaml:39:15]
     38 |   native:
     39 |     data_dir: "data ; x"
        :               ^^^^^|^^^^
        :                    `-- not a plain path
        `----
      help: write a path inside the project (not under `generated/`, `stacks/` or `dashboards-src/`) with letters, digits and `._+@,=~-`, e.g. `data`
    "#);
}

#[test]
fn backup_dir_may_be_absolute_but_not_escape_with_dotdot() {
    promo_snapshot!(refused_with(backup_extra("  dir: \"backups/../../etc\"\n")), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.dir: `backups/../../etc` contains `..`
        ,-[stacks/shop.yaml:34:8]
     33 |   keep: { last: 3, daily: 7 }
     34 |   dir: "backups/../../etc"
        :        ^^^^^^^^^|^^^^^^^^^
        :                 `-- not a plain path
     35 | k6:
        `----
      help: write a plain path (letters, digits, spaces, `%`, `._+@,=~-`), absolute like `/mnt/backups` or relative to the project like `backups`, without `..`
    "#);
    promo_snapshot!(refused_with(backup_extra("  dir: \"/mnt/b\\nx\"\n")), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.dir: `/mnt/b\nx` contains a line break
        ,-[stacks/shop.yaml:34:8]
     33 |   keep: { last: 3, daily: 7 }
     34 |   dir: "/mnt/b\nx"
        :        ^^^^^|^^^^^
        :             `-- not a plain path
     35 | k6:
        `----
      help: write a plain path (letters, digits, spaces, `%`, `._+@,=~-`), absolute like `/mnt/backups` or relative to the project like `backups`, without `..`
    "#);
    let p = TestContext::new();
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen(KEEP, &format!("{KEEP}  dir: /mnt/promo backups\n"), 1),
    );
    // An absolute backup.dir is allowed.
    promo_snapshot!(p.cmd(&["validate"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ stacks/shop.yaml is valid (stack `shop`)

    ----- stderr -----
    ");
}

#[test]
fn compose_image_cannot_interpolate_a_variable() {
    promo_snapshot!(refused(&[(
            "image: influxdb:2.7",
            "image: influxdb:2.7$GRAFANA_ADMIN_PASSWORD",
        )]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.image: `influxdb:2.7$GRAFANA_ADMIN_PASSWORD` is not an image reference
       ,-[stacks/shop.yaml:5:10]
     4 |   version: 2
     5 |   image: influxdb:2.7$GRAFANA_ADMIN_PASSWORD
       :          ^^^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^^^^
       :                           `-- invalid image
     6 |   port: 8086
       `----
      help: write `[registry[:port]/]name[:tag][@sha256:<digest>]` with lowercase names, e.g. `influxdb:2.7`
    ");
}

#[test]
fn webhook_url_env_cannot_name_a_reserved_variable() {
    let webhook = |name: &str| {
        refused(&[(
            "webhook_url_env: SLACK_WEBHOOK_URL",
            &format!("webhook_url_env: {name}"),
        )])
    };
    promo_snapshot!(webhook("GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION"), @r##"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x alerting.slack.webhook_url_env: `GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION` is a variable the stack itself uses or reserves
        ,-[stacks/shop.yaml:26:22]
     25 |   slack:
     26 |     webhook_url_env: GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION
        :                      ^^^^^^^^^^^^^^^^^^^^^|^^^^^^^^^^^^^^^^^^^^
        :                                           `-- reserved variable
     27 |     channel: "#alerts"
        `----
      help: choose a name of your own such as `SLACK_WEBHOOK_URL`; names starting with GF_, INFLUXDB_, INFLUXD_, DOCKER_, K6_, PROMO_INFRA_, LD_ and GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, CONTROL_API_TOKEN, CONTROL_API_STOP_PASSWORD, PATH, HOME, USER, LOGNAME, SHELL, PWD, TMPDIR, TZ, LANG, IFS, HOSTNAME, NO_COLOR are reserved
    "##);
    promo_snapshot!(webhook("GRAFANA_ADMIN_PASSWORD"), @r##"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x alerting.slack.webhook_url_env: `GRAFANA_ADMIN_PASSWORD` is a variable the stack itself uses or reserves
        ,-[stacks/shop.yaml:26:22]
     25 |   slack:
     26 |     webhook_url_env: GRAFANA_ADMIN_PASSWORD
        :                      ^^^^^^^^^^^|^^^^^^^^^^
        :                                 `-- reserved variable
     27 |     channel: "#alerts"
        `----
      help: choose a name of your own such as `SLACK_WEBHOOK_URL`; names starting with GF_, INFLUXDB_, INFLUXD_, DOCKER_, K6_, PROMO_INFRA_, LD_ and GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, CONTROL_API_TOKEN, CONTROL_API_STOP_PASSWORD, PATH, HOME, USER, LOGNAME, SHELL, PWD, TMPDIR, TZ, LANG, IFS, HOSTNAME, NO_COLOR are reserved
    "##);
    promo_snapshot!(webhook("INFLUXDB_ADMIN_TOKEN"), @r##"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x alerting.slack.webhook_url_env: `INFLUXDB_ADMIN_TOKEN` is a variable the stack itself uses or reserves
        ,-[stacks/shop.yaml:26:22]
     25 |   slack:
     26 |     webhook_url_env: INFLUXDB_ADMIN_TOKEN
        :                      ^^^^^^^^^^|^^^^^^^^^
        :                                `-- reserved variable
     27 |     channel: "#alerts"
        `----
      help: choose a name of your own such as `SLACK_WEBHOOK_URL`; names starting with GF_, INFLUXDB_, INFLUXD_, DOCKER_, K6_, PROMO_INFRA_, LD_ and GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, CONTROL_API_TOKEN, CONTROL_API_STOP_PASSWORD, PATH, HOME, USER, LOGNAME, SHELL, PWD, TMPDIR, TZ, LANG, IFS, HOSTNAME, NO_COLOR are reserved
    "##);
    promo_snapshot!(webhook("PATH"), @r##"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x alerting.slack.webhook_url_env: `PATH` is a variable the stack itself uses or reserves
        ,-[stacks/shop.yaml:26:22]
     25 |   slack:
     26 |     webhook_url_env: PATH
        :                      ^^|^
        :                        `-- reserved variable
     27 |     channel: "#alerts"
        `----
      help: choose a name of your own such as `SLACK_WEBHOOK_URL`; names starting with GF_, INFLUXDB_, INFLUXD_, DOCKER_, K6_, PROMO_INFRA_, LD_ and GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, CONTROL_API_TOKEN, CONTROL_API_STOP_PASSWORD, PATH, HOME, USER, LOGNAME, SHELL, PWD, TMPDIR, TZ, LANG, IFS, HOSTNAME, NO_COLOR are reserved
    "##);
}

#[test]
fn channel_and_titles_cannot_carry_a_line_break() {
    promo_snapshot!(refused(&[("channel: \"#alerts\"", "channel: \"#alerts\\n  url: x\"")]), @r##"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x alerting.slack.channel: a line break is not allowed here
        ,-[stacks/shop.yaml:27:14]
     26 |     webhook_url_env: SLACK_WEBHOOK_URL
     27 |     channel: "#alerts\n  url: x"
        :              ^^^^^^^^^|^^^^^^^^^
        :                       `-- control character
     28 |   rules:
        `----
      help: write it on one line, without control or invisible formatting characters (direction overrides, zero-width)
    "##);
}

#[test]
fn retention_beyond_influxdb_maximum_is_refused_with_a_hint() {
    promo_snapshot!(refused(&[("retention: 30d", "retention: 2562048h")]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.retention: `2562048h` is longer than InfluxDB's maximum of 2562047h (about 292 years)
        ,-[stacks/shop.yaml:9:14]
      8 |   bucket: k6
      9 |   retention: 2562048h
        :              ^^^^|^^^
        :                  `-- too long
     10 | grafana:
        `----
      help: InfluxDB stores durations as 64-bit nanoseconds; write at most `2562047h`, or `infinite` to keep data forever
    ");
    let p = TestContext::new();
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen("retention: 30d", "retention: 99999w", 1),
    );
    promo_snapshot!(p.cmd(&["validate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x influxdb.retention: `99999w` is longer than InfluxDB's maximum of 2562047h (about 292 years)
        ,-[stacks/shop.yaml:9:14]
      8 |   bucket: k6
      9 |   retention: 99999w
        :              ^^^|^^
        :                 `-- too long
     10 | grafana:
        `----
      help: InfluxDB stores durations as 64-bit nanoseconds; write at most `2562047h`, or `infinite` to keep data forever
    ");
}

#[test]
fn keep_counts_are_bounded_and_their_sum_cannot_overflow() {
    promo_snapshot!(refused(&[(
            "keep: { last: 3, daily: 7 }",
            "keep: { last: 4294967295, daily: 1 }",
        )]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.keep.last: 4294967295 is more than 10000
        ,-[stacks/shop.yaml:33:17]
     32 |   schedule: "0 3 * * *"
     33 |   keep: { last: 4294967295, daily: 1 }
        :                 ^^^^^|^^^^
        :                      `-- too many
     34 | k6:
        `----
      help: keep at most 10000 backups per rule (that is over 27 years of daily backups)
    "#);
}

#[test]
fn k6_extension_cannot_be_an_option() {
    promo_snapshot!(refused(&[(
            "[github.com/grafana/xk6-output-influxdb@v0.4.1]",
            "[\"--output=/etc/passwd@v1\"]",
        )]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x k6.extensions: `--output=/etc/passwd@v1` is not `module@version`
        ,-[stacks/shop.yaml:36:16]
     35 |   version: v0.47.0
     36 |   extensions: ["--output=/etc/passwd@v1"]
        :                ^^^^^^^^^^^^|^^^^^^^^^^^^
        :                            `-- not module@version
        `----
      help: e.g. `github.com/grafana/xk6-output-influxdb@v0.4.1`
    "#);
}

#[test]
fn manifest_file_name_cannot_add_a_cron_line() {
    // `generate` and `validate` refuse it the same way, writing nothing.
    let named = |name: &str| {
        let p = TestContext::new();
        p.write(&format!("stacks/{name}"), BASE);
        let before = p.snapshot_tree();
        let validate = p.run(&["validate"]);
        let generate = p.run(&["generate"]);
        assert_eq!(
            (generate.code, &generate.stdout, &generate.stderr),
            (validate.code, &validate.stdout, &validate.stderr),
            "{name:?}"
        );
        assert_eq!(p.snapshot_tree(), before, "{name:?}: nothing written");
        validate
    };
    promo_snapshot!(named("shop\n* * * * * root id\n.yaml"), @r"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x manifest path `stacks/shop\n* * * * * root id\n.yaml`: `shop\n* * * * * root id\n.yaml` is not a plain name; nothing was read or written
      help: rename it (and the directories it is in) with letters, digits, `.`, `_` and `-` only, ending in `.yaml` (e.g. `stacks/promo.yaml`): the path is written into the backup cron line and systemd units
    ");
    promo_snapshot!(named("shop;id.yaml"), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x manifest path `stacks/shop;id.yaml`: `shop;id.yaml` is not a plain name; nothing was read or written
      help: rename it (and the directories it is in) with letters, digits, `.`, `_` and `-` only, ending in `.yaml` (e.g. `stacks/promo.yaml`): the path is written into the backup cron line and systemd units
    ");
    promo_snapshot!(named("shop $(id).yaml"), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x manifest path `stacks/shop $(id).yaml`: `shop $(id).yaml` is not a plain name; nothing was read or written
      help: rename it (and the directories it is in) with letters, digits, `.`, `_` and `-` only, ending in `.yaml` (e.g. `stacks/promo.yaml`): the path is written into the backup cron line and systemd units
    ");
}

#[test]
fn non_utf8_manifest_is_an_error_at_its_line_and_column() {
    let p = TestContext::new();
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("shop-org").expect("org");
    bytes[at + 2] = 0xff;
    std::fs::write(p.path().join("stacks/shop.yaml"), &bytes).expect("write");
    let before = p.snapshot_tree();
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/shop.yaml is invalid: 1 problem(s)
      help: fix the manifest; nothing was written or changed

      x the manifest is not valid UTF-8 (byte 0xff)
       ,-[stacks/shop.yaml:7:10]
     6 |   port: 8086
     7 |   org: sh�p-org
       :          |
       :          `-- not UTF-8
     8 |   bucket: k6
       `----
      help: save the file as UTF-8
    ");
    assert_eq!(p.snapshot_tree(), before);
}

// ---- escaping of values validation lets through ----

fn generate(text: &str) -> TestContext {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", text);
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    p
}

/// Grafana's provisioning interpolation (pkg/services/provisioning/values): split on `$$`,
/// expand `$VAR` / `${VAR}` in each part, join the parts with `$`.
fn grafana_expand(value: &str, env: &[(&str, &str)]) -> String {
    value
        .split("$$")
        .map(|part| {
            let mut out = String::new();
            let mut rest = part;
            while let Some(i) = rest.find('$') {
                out.push_str(&rest[..i]);
                let after = &rest[i + 1..];
                let (name, tail) = if let Some(b) = after.strip_prefix('{') {
                    let end = b.find('}').unwrap_or(b.len());
                    (&b[..end], &b[(end + 1).min(b.len())..])
                } else {
                    let end = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                };
                out.push_str(env.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v));
                rest = tail;
            }
            out.push_str(rest);
            out
        })
        .collect::<Vec<_>>()
        .join("$")
}

#[test]
fn dollar_in_slack_channel_is_doubled_in_grafana_provisioning() {
    // (`${NAME}` is refused: Grafana renders the channel as a template, no `{` or `}` in it.)
    let channel = "#alerts-$GF_SECURITY_ADMIN_PASSWORD-$GRAFANA_ADMIN_PASSWORD";
    let p = generate(&BASE.replacen(
        "channel: \"#alerts\"",
        &format!("channel: \"{channel}\""),
        1,
    ));
    for file in [
        "generated/shop/grafana/provisioning/alerting/promo-infra.yaml",
        "generated/shop/native/grafana/provisioning/alerting/promo-infra.yaml",
    ] {
        let doc: serde_json::Value = serde_saphyr::from_str(&p.read(file)).expect("yaml");
        let recipient = doc["contactPoints"][0]["receivers"][0]["settings"]["recipient"]
            .as_str()
            .expect("recipient");
        assert_eq!(
            recipient,
            "#alerts-$$GF_SECURITY_ADMIN_PASSWORD-$$GRAFANA_ADMIN_PASSWORD"
        );
        let env = [
            ("GF_SECURITY_ADMIN_PASSWORD", "s3cret"),
            ("GRAFANA_ADMIN_PASSWORD", "s3cret"),
        ];
        assert_eq!(grafana_expand(recipient, &env), channel, "{file}");
    }
}

#[test]
fn ipv6_binds_are_bracketed_where_a_host_port_is_formed() {
    let text = BASE
        .replacen("  port: 8086\n", "  port: 8086\n  bind: \"::1\"\n", 1)
        .replacen("  port: 3000\n", "  port: 3000\n  bind: \"::1\"\n", 1)
        .replacen("  port: 5000\n", "  port: 5000\n  bind: \"::1\"\n", 1)
        .replacen("version: 2\n", "version: 1\n", 1)
        .replacen("image: influxdb:2.7", "image: influxdb:1.8", 1);
    let p = generate(&text);
    let compose: serde_json::Value =
        serde_saphyr::from_str(&p.read("generated/shop/docker-compose.yml")).expect("yaml");
    assert_eq!(
        compose["services"]["influxdb"]["ports"][0],
        "[::1]:8086:8086"
    );
    assert_eq!(
        compose["services"]["grafana"]["ports"][0],
        "[::1]:3000:3000"
    );
    assert_eq!(
        compose["services"]["grafana"]["environment"]["GF_SERVER_ROOT_URL"],
        "http://[::1]:3000"
    );
    // Generated FILES (snapshotted whole in generate.rs for the default stack): the IPv6
    // address reaches each listener's line.
    let conf = p.read("generated/shop/native/influxdb.conf");
    assert!(conf.contains("bind-address = \"[::1]:8086\""), "{conf}");
    let ini = p.read("generated/shop/native/grafana.ini");
    assert!(ini.contains("http_addr = ::1\n"), "{ini}");
    assert!(ini.contains("root_url = http://[::1]:3000\n"), "{ini}");
    let ds = p.read("generated/shop/native/grafana/provisioning/datasources/promo-infra.yaml");
    assert!(ds.contains("url: http://[::1]:8086"), "{ds}");
    let unit = p.read("generated/shop/systemd/promo-infra-shop-control-api.service");
    assert!(unit.contains("--listen [::1]:5000"), "{unit}");
}

/// A label refused on the command line is quoted, not replayed: an escape sequence stays text
/// in the terminal, and a pasted blob is named by its length.
#[test]
fn a_refused_k6_label_is_quoted_not_replayed() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    let blob = "a".repeat(5000);
    let mut runs = crate::common::Runs::default();
    runs.push(
        "escape sequence",
        p.run(&["k6", "env", "--promo", "bad\u{1b}[2Jred"]),
    );
    runs.push(
        "pasted blob",
        p.run(&["k6", "env", "--promo", "x", "--promo-type", &blob]),
    );
    promo_snapshot!(runs, @r"
    === escape sequence ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --promo `bad\u{1b}[2Jred` is not usable as a k6 tag
      help: use 1-64 characters among letters, digits, `_`, `-` and `.`, not starting with `.`

    === pasted blob ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --promo-type `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…` (5000 characters) is not usable as a k6 tag
      help: use 1-64 characters among letters, digits, `_`, `-` and `.`, not starting with `.`
    ");
}
