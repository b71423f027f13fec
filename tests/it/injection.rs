//! Nothing the manifest says can change the shape of a generated file (issue 10, item 2).
//!
//! One test per injection class: the value is refused at its file:line:col, `validate`,
//! `generate` and `generate --check` exit 1 and nothing is written (via
//! [`crate::bad_input::refused`]). Then the escaping tests: values validation lets through but
//! that are special in an output's syntax end up escaped there.

use crate::bad_input::refused;
use crate::common::{BASE, TempProject};

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

fn refused_with(edit: (String, String), message: &str, position: &str) {
    refused(&[(edit.0.as_str(), edit.1.as_str())], message, position);
}

#[test]
fn cron_line_cannot_gain_a_command_from_backup_binary() {
    for (bad, shown) in [
        ("/usr/local/bin/promo-infra;id", "`;`"),
        ("/usr/local/bin/$(id)", "`$`"),
        ("/usr/local/bin/`id`", "a backtick"),
    ] {
        refused_with(
            backup_extra(&format!("  binary: \"{bad}\"\n")),
            &format!("backup.binary: `{bad}` contains {shown}"),
            "34:11",
        );
    }
}

#[test]
fn cron_line_cannot_gain_a_command_from_backup_project_dir() {
    refused_with(
        backup_extra("  project_dir: \"/opt/x&&id\"\n"),
        "backup.project_dir: `/opt/x&&id` contains `&`",
        "34:16",
    );
}

#[test]
fn cron_file_cannot_gain_a_line_from_the_schedule() {
    // Five fields across two lines: the old code accepted it and wrote the line break into the
    // timer unit.
    refused(
        &[("\"0 3 * * *\"", "\"0 3 * *\\n*\"")],
        "backup.schedule: a line break is not allowed in a cron schedule",
        "32:13",
    );
}

#[test]
fn systemd_unit_cannot_gain_a_line_from_native_project_dir() {
    refused_with(
        native_extra("    project_dir: \"/opt/x\\nExecStartPre=/bin/id\"\n"),
        "targets.native.project_dir: `/opt/x\\nExecStartPre=/bin/id` contains a line break",
        "39:18",
    );
}

#[test]
fn systemd_unit_cannot_gain_a_line_from_grafana_homepath() {
    refused_with(
        native_extra("    grafana_homepath: \"/usr/share/grafana\\nExecStartPre=/bin/id\"\n"),
        "targets.native.grafana_homepath: `/usr/share/grafana\\nExecStartPre=/bin/id` contains a line break",
        "39:23",
    );
}

#[test]
fn influxdb_conf_and_grafana_ini_cannot_gain_a_section_from_data_dir() {
    refused_with(
        native_extra("    data_dir: \"data\\\"\\n[evil]\"\n"),
        "targets.native.data_dir: `data\\\"\\n[evil]` contains `\"`",
        "39:15",
    );
    refused_with(
        native_extra("    data_dir: \"data ; x\"\n"),
        "targets.native.data_dir: `data ; x` contains a space",
        "39:15",
    );
}

#[test]
fn backup_dir_may_be_absolute_but_not_escape_with_dotdot() {
    refused_with(
        backup_extra("  dir: \"backups/../../etc\"\n"),
        "backup.dir: `backups/../../etc` contains `..`",
        "34:8",
    );
    refused_with(
        backup_extra("  dir: \"/mnt/b\\nx\"\n"),
        "backup.dir: `/mnt/b\\nx` contains a line break",
        "34:8",
    );
    let p = TempProject::new();
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen(KEEP, &format!("{KEEP}  dir: /mnt/promo backups\n"), 1),
    );
    let run = p.run(&["validate"]);
    assert_eq!(
        run.code,
        0,
        "an absolute backup.dir is allowed:\n{}",
        run.all()
    );
}

#[test]
fn compose_image_cannot_interpolate_a_variable() {
    refused(
        &[(
            "image: influxdb:2.7",
            "image: influxdb:2.7$GRAFANA_ADMIN_PASSWORD",
        )],
        "influxdb.image: `influxdb:2.7$GRAFANA_ADMIN_PASSWORD` is not an image reference",
        "5:10",
    );
}

#[test]
fn webhook_url_env_cannot_name_a_reserved_variable() {
    for name in [
        "GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION",
        "GRAFANA_ADMIN_PASSWORD",
        "INFLUXDB_ADMIN_TOKEN",
        "PATH",
    ] {
        refused(
            &[(
                "webhook_url_env: SLACK_WEBHOOK_URL",
                &format!("webhook_url_env: {name}"),
            )],
            &format!(
                "alerting.slack.webhook_url_env: `{name}` is a variable the stack itself uses or reserves"
            ),
            "26:22",
        );
    }
}

#[test]
fn channel_and_titles_cannot_carry_a_line_break() {
    refused(
        &[("channel: \"#alerts\"", "channel: \"#alerts\\n  url: x\"")],
        "alerting.slack.channel: a line break is not allowed here",
        "27:14",
    );
}

#[test]
fn retention_beyond_influxdb_maximum_is_refused_with_a_hint() {
    refused(
        &[("retention: 30d", "retention: 2562048h")],
        "influxdb.retention: `2562048h` is longer than InfluxDB's maximum of 2562047h",
        "9:14",
    );
    let p = TempProject::new();
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen("retention: 30d", "retention: 99999w", 1),
    );
    let run = p.run(&["validate"]);
    assert!(run.stderr.contains("`infinite`"), "{}", run.stderr);
}

#[test]
fn keep_counts_are_bounded_and_their_sum_cannot_overflow() {
    refused(
        &[(
            "keep: { last: 3, daily: 7 }",
            "keep: { last: 4294967295, daily: 1 }",
        )],
        "backup.keep.last: 4294967295 is more than 10000",
        "33:17",
    );
}

#[test]
fn k6_extension_cannot_be_an_option() {
    refused(
        &[(
            "[github.com/grafana/xk6-output-influxdb@v0.4.1]",
            "[\"--output=/etc/passwd@v1\"]",
        )],
        "k6.extensions: `--output=/etc/passwd@v1` is not `module@version`",
        "36:16",
    );
}

#[test]
fn manifest_file_name_cannot_add_a_cron_line() {
    for name in [
        "shop\n* * * * * root id\n.yaml",
        "shop;id.yaml",
        "shop $(id).yaml",
    ] {
        let p = TempProject::new();
        p.write(&format!("stacks/{name}"), BASE);
        let before = p.snapshot_tree();
        for cmd in [&["generate"][..], &["validate"][..]] {
            let run = p.run(cmd);
            assert_eq!(run.code, 1, "{name:?} {cmd:?}:\n{}", run.all());
            assert!(
                run.stderr.contains("manifest path `stacks/")
                    && run.stderr.contains("is not a plain name"),
                "{name:?}: {}",
                run.stderr
            );
            assert!(run.stderr.contains("rename it"), "{}", run.stderr);
            assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
            assert_eq!(p.snapshot_tree(), before, "{name:?}: nothing written");
        }
    }
}

#[test]
fn non_utf8_manifest_is_an_error_at_its_line_and_column() {
    let p = TempProject::new();
    let mut bytes = BASE.as_bytes().to_vec();
    let at = BASE.find("shop-org").expect("org");
    bytes[at + 2] = 0xff;
    std::fs::write(p.path().join("stacks/shop.yaml"), &bytes).expect("write");
    let before = p.snapshot_tree();
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("the manifest is not valid UTF-8 (byte 0xff)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stacks/shop.yaml:7:10"),
        "{}",
        run.stderr
    );
    assert_eq!(p.snapshot_tree(), before);
}

// ---- escaping of values validation lets through ----

fn generate(text: &str) -> TempProject {
    let p = TempProject::new();
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
    let channel = "#alerts-$GF_SECURITY_ADMIN_PASSWORD-${GRAFANA_ADMIN_PASSWORD}";
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
            "#alerts-$$GF_SECURITY_ADMIN_PASSWORD-$${GRAFANA_ADMIN_PASSWORD}"
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
