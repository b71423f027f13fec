//! The JSON Schema editors check against and `validate` agree: every bad-input case (those of
//! `bad_input.rs` and the ones issue 13 found) is refused by both or accepted by both, except
//! the relations between keys JSON Schema cannot express, which are listed with the reason and
//! checked to be refused by `validate`.

use promo_infra::compile::Templates;
use promo_infra::manifest;

use crate::common::BASE;

/// (edits to BASE, the schema can say it).
const CASES: &[(&[(&str, &str)], bool)] = &[
    // Found by issue 13: the schema accepted what validate refused, or the reverse.
    (&[("  port: 3000", "  port: 420860")], true),
    (&[("stack: shop", "stack: UX_1")], true),
    (&[("retention: 30d", "retention: 4 weeks")], true),
    (&[("template: marketing", "template: marketting")], true),
    (&[("  port: 3000", "  port: \"3000\"")], true),
    (&[("p95_ok_ms: 1000", "p95_ok_ms: \"1000\"")], true),
    // The cases of bad_input.rs.
    (&[("  port: 3000\n", "  port: [3000\n")], true),
    (&[("  port: 8086", "  port: eighty")], true),
    (&[("  port: 3000", "  prot: 3000")], true),
    (&[("  image: influxdb:2.7\n", "")], true),
    (&[("stack: shop", "stack: Shop_1")], true),
    (&[("environment: preprod", "environment: production")], true),
    (&[("  version: 2", "  version: 3")], true),
    (&[("retention: 30d", "retention: 30days")], true),
    (&[("\"0 3 * * *\"", "\"0 3 * *\"")], true),
    (&[("  port: 3000", "  port: 70000")], true),
    (&[("  port: 3000", "  port: 0")], true),
    (
        &[("  port: 3000\n", "  port: 3000\n  bind: localhost\n")],
        true,
    ),
    (&[("template: k6-technical", "template: k6-technicl")], true),
    (
        &[(
            "environment: preprod\n",
            "environment: preprod\nlocale: de\n",
        )],
        true,
    ),
    (&[("environment: preprod", "environment: prod")], true),
    (
        &[(
            "webhook_url_env: SLACK_WEBHOOK_URL",
            "webhook_url_env: slack-webhook",
        )],
        true,
    ),
    (
        &[(
            "webhook_url_env: SLACK_WEBHOOK_URL",
            "webhook_url_env: gf_admin",
        )],
        true,
    ),
    (&[("image: influxdb:2.7", "image: influxdb:latest")], true),
    (
        &[("keep: { last: 3, daily: 7 }", "keep: { last: 0 }")],
        true,
    ),
    (
        &[("keep: { last: 3, daily: 7 }", "keep: { last: 10001 }")],
        true,
    ),
    (&[("error_ok_pct: 0.1", "error_ok_pct: 0")], true),
    (
        &[("error_rate_critical_pct: 5", "error_rate_critical_pct: 101")],
        true,
    ),
    (&[("version: v0.47.0", "version: 0.47")], true),
    (
        &[(
            "template: marketing",
            "template: marketing\n    capacity_vus: 0",
        )],
        true,
    ),
    (
        &[(
            "template: marketing",
            "template: marketing\n    capacity_vus: -5",
        )],
        true,
    ),
    (
        &[(
            "template: marketing",
            "template: marketing\n    capacity_vus: many",
        )],
        true,
    ),
    (&[("\"#alerts\"", "\"#a\\nb\"")], true),
    (&[("bucket: k6", "bucket: ..")], true),
    (
        &[(
            "  port: 3000\n",
            "  port: 3000\n  url: \"HTTP://Grafana.Example.COM:80/\"\n",
        )],
        true,
    ),
    (
        &[("\"#alerts\"", "\"#{{ .CommonLabels.promo_name }}\"")],
        true,
    ),
    // Relations between keys or values JSON Schema cannot express: validate alone.
    (&[("\"0 3 * * *\"", "\"0 25 * * *\"")], false), // a cron field's range
    (&[("retention: 30d", "retention: 30m")], false), // a duration's value
    (&[("  port: 5000", "  port: 3000")], false),    // two ports that clash
    (&[("p95_warn_ms: 2000", "p95_warn_ms: 900")], false), // ok < warn
    (
        &[(
            "home_dashboard: shop-marketing",
            "home_dashboard: shop-marketting",
        )],
        false,
    ), // a declared uid
    (&[("uid: shop-tech", "uid: shop-marketing")], false), // uids unique
    (&[("bucket: k6", "bucket: _monitoring")], false), // reserved on InfluxDB 2 only
    (&[("bucket: k6", "bucket: a.timeRangeStart")], false), // a Flux macro: InfluxDB 2 only
];

fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = BASE.to_string();
    for (old, new) in edits {
        assert_eq!(text.matches(old).count(), 1, "edit `{old}` must match once");
        text = text.replacen(old, new, 1);
    }
    text
}

#[test]
fn the_schema_and_validate_agree_on_every_bad_input() {
    let names = Templates::builtin().names();
    let schema = manifest::json_schema(&names);
    let validator = jsonschema::validator_for(&schema).expect("compile schema");
    let check = |text: &str| {
        let refused_by_validate =
            manifest::from_bytes("stacks/shop.yaml", text.as_bytes().to_vec(), &names).is_err();
        let refused_by_schema = match serde_saphyr::from_str::<serde_json::Value>(text) {
            Ok(doc) => !validator.is_valid(&doc),
            Err(_) => true, // not YAML: nothing accepts it
        };
        (refused_by_validate, refused_by_schema)
    };
    assert_eq!(check(BASE), (false, false), "the base manifest is valid");
    let mut disagreements = Vec::new();
    for (edits, expressible) in CASES {
        let text = edited(edits);
        let (by_validate, by_schema) = check(&text);
        assert!(by_validate, "validate accepts {edits:?}");
        if by_schema != *expressible {
            disagreements.push(format!(
                "{edits:?}: validate refuses, the schema {}",
                if by_schema {
                    "refuses too (mark it expressible)"
                } else {
                    "accepts"
                }
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

/// The committed schema is this one (built-in templates).
#[test]
fn the_committed_schema_lists_the_templates() {
    let schema = manifest::json_schema(&Templates::builtin().names());
    let template = &schema["$defs"]["Dashboard"]["properties"]["template"]["enum"];
    assert_eq!(template, &serde_json::json!(["k6-technical", "marketing"]));
}
