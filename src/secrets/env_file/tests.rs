//! `.env`'s own tests: rotation's pending line, values a line cannot keep, empty values, and
//! a line added between prepare and commit.

use super::*;

fn private_env(dir: &Path, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(".env");
    std::fs::write(&path, text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

#[test]
fn a_rotation_keeps_both_values_until_it_commits_the_new_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = private_env(dir.path(), "# header\nA=old\nexport B=b\n");
    write_pending(&path, "A", "new").expect("pending");
    let mid = read_env(&path).expect("read").expect("exists");
    assert_eq!(mid.get("A"), Some("old"), "the working value stays");
    assert_eq!(mid.get("PROMO_INFRA_ROTATING_A"), Some("new"));
    commit_pending(&path, "A").expect("commit");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text, "# header\nexport B=b\nA=new\n");
    // Committing again without a pending value is an error, never a blank secret.
    let err = commit_pending(&path, "A").expect_err("no pending value");
    assert!(
        format!("{err:?}").contains("PROMO_INFRA_ROTATING_A"),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn a_minted_value_that_would_add_a_line_or_be_read_otherwise_is_never_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let before = "A=old\n";
    let path = private_env(dir.path(), before);
    for bad in [
        "tok\nLD_PRELOAD=/tmp/x.so",
        "tok\rB=1",
        "a b",
        "a\"b",
        "a'b",
        "a$b",
        "a`b",
        "a\\b",
        "a#b",
        "é",
        "",
    ] {
        let err = store_value(&path, "A", bad).expect_err(bad);
        let shown = format!("{err:?}");
        assert!(shown.contains("a `.env` line cannot keep"), "{shown}");
        assert!(
            bad.is_empty() || !shown.contains(bad),
            "the value is never shown: {shown}"
        );
        assert!(write_pending(&path, "A", bad).is_err(), "{bad:?}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), before);
    }
    // What InfluxDB draws (base64 with `=`, `-`, `_`, `+`, `/`) and our hex are kept.
    let token = "Zm9v-YmFy_+/baz==";
    store_value(&path, "A", token).expect("a token");
    let v = read_env(&path).expect("read").expect("exists");
    assert_eq!(v.get("A"), Some(token));
}

/// `apply` decides `.env` before its question and writes it after the answer; the plan's
/// note may say to add a line meanwhile (a Slack webhook): that line is never lost.
#[test]
fn a_line_added_between_prepare_and_commit_is_never_lost() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = private_env(dir.path(), "A=a\n");
    let specs = [SecretSpec {
        name: "B".into(),
        kind: SecretKind::Password,
        used_by: vec!["influxdb"],
    }];
    let prepared =
        prepare_env(&path, &specs, Environment::Preprod, |n| Ok("b".repeat(n))).expect("prepare");
    let added = "A=a\nSLACK_WEBHOOK_URL=https://hooks.slack.com/services/T/B/X\n";
    std::fs::write(&path, added).expect("the user adds a line");
    let err = prepared.commit().expect_err("refused");
    assert!(
        format!("{err:?}").contains("changed since the plan was made"),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), added);
    // Prepared again, it keeps the line.
    prepare_env(&path, &specs, Environment::Preprod, |n| Ok("b".repeat(n)))
        .expect("prepare")
        .commit()
        .expect("commit");
    let v = read_env(&path).expect("read").expect("exists");
    assert!(v.get("SLACK_WEBHOOK_URL").is_some() && v.get("B").is_some());
}

#[test]
fn empty_values_are_missing_everywhere() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = private_env(dir.path(), "A=\nB=\"\"\nC=x\n");
    let v = read_env(&path).expect("read").expect("exists");
    assert_eq!(v.get("A"), None);
    assert_eq!(v.get("B"), None);
    assert_eq!(v.get("C"), Some("x"));
    let from = SecretValues::from_pairs([("A".to_string(), String::new())]);
    assert_eq!(from.get("A"), None);
    assert_eq!(line_key("export A=1"), Some("A"));
    assert_eq!(line_key("  A = 1"), Some("A"));
    assert_eq!(line_key("# A=1"), None);
}
