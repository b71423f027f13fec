//! promo-infra's own files under `generated/<stack>/` are committed (the ledger) or sit in a
//! working tree anyone can change: edited by hand or by a change under review, they must never
//! make `generate` delete, overwrite or print a file outside the files it generates, nor write
//! through a symbolic link.

use crate::common::{BASE, Run, TestContext};

fn project() -> TestContext {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    let g = p.run(&["generate"]);
    assert_eq!(g.code, 0, "{}", g.all());
    p
}

fn env_values(p: &TestContext) -> Vec<String> {
    p.read("generated/shop/.env")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(_, v)| v.to_string()))
        .filter(|v| !v.is_empty())
        .collect()
}

/// `generate`, `generate --force` and `generate --check` all refuse (exit 1, `message` on
/// stderr), change nothing in the project and print no secret.
fn all_refuse(p: &TestContext, message: &str) -> Vec<Run> {
    let secrets = env_values(p);
    let before = p.snapshot_tree();
    let mut runs = Vec::new();
    for args in [
        &["generate"][..],
        &["generate", "--force"],
        &["generate", "--check"],
    ] {
        let run = p.run(args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(run.stderr.contains(message), "{args:?}: {}", run.all());
        for s in &secrets {
            assert!(!run.all().contains(s.as_str()), "{args:?} printed a secret");
        }
        assert_eq!(p.snapshot_tree(), before, "{args:?} changed the project");
        runs.push(run);
    }
    runs
}

#[test]
fn a_ledger_naming_other_files_cannot_delete_show_or_replace_them() {
    let p = project();
    p.write("precious.txt", "precious\n");
    let outside = tempfile::tempdir().expect("temp dir");
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").expect("victim");
    let ledger_path = "generated/shop/.promo-infra-ledger.json";
    let ledger = p.read(ledger_path);
    let sha = promo_infra::desired::sha256_hex(b"precious\n");
    let env_sha = promo_infra::desired::sha256_hex(p.read("generated/shop/.env").as_bytes());
    for (name, hash) in [
        ("../../precious.txt".to_string(), sha.clone()),
        (victim.display().to_string(), sha.clone()),
        (".env".to_string(), env_sha.clone()),
        ("cron/../.env".to_string(), env_sha),
        ("grafana/./x.json".to_string(), "0".repeat(64)),
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&ledger).expect("ledger");
        v["files"][&name] = serde_json::Value::String(hash);
        p.write(
            ledger_path,
            &serde_json::to_string_pretty(&v).expect("json"),
        );
        let runs = all_refuse(&p, "which is no file promo-infra generates");
        assert!(
            runs[0].stderr.contains(&format!("names `{name}`")),
            "{}",
            runs[0].all()
        );
        assert_eq!(p.read("precious.txt"), "precious\n");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("victim"),
            "precious\n"
        );
    }
    // The ledger as promo-infra wrote it works again.
    p.write(ledger_path, &ledger);
    assert_eq!(p.run(&["generate", "--check"]).code, 0);
}

#[test]
fn generate_never_writes_reads_or_removes_through_a_symbolic_link() {
    let p = project();
    let outside = tempfile::tempdir().expect("temp dir");
    let gen_dir = p.path().join("generated/shop");

    // A generated directory replaced by a link elsewhere (`/etc/cron.d`, say).
    let dashboards = gen_dir.join("grafana/dashboards");
    std::fs::remove_dir_all(&dashboards).expect("rm");
    std::os::unix::fs::symlink(outside.path(), &dashboards).expect("symlink");
    all_refuse(&p, "grafana/dashboards` is a symbolic link");
    assert_eq!(
        std::fs::read_dir(outside.path()).expect("ls").count(),
        0,
        "nothing written through the link"
    );
    std::fs::remove_file(&dashboards).expect("rm link");

    // A generated file replaced by a link to a file `generate --check` would print.
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "TOPSECRET\n").expect("secret");
    let compose = gen_dir.join("docker-compose.yml");
    std::fs::remove_file(&compose).expect("rm");
    std::os::unix::fs::symlink(&secret, &compose).expect("symlink");
    for run in all_refuse(&p, "docker-compose.yml` is a symbolic link") {
        assert!(!run.all().contains("TOPSECRET"), "{}", run.all());
    }
    assert_eq!(
        std::fs::read_to_string(&secret).expect("secret"),
        "TOPSECRET\n"
    );
    std::fs::remove_file(&compose).expect("rm link");

    // The lock file as a link: it is written and emptied, the target must not be.
    let target = outside.path().join("lock-target");
    std::fs::write(&target, "keep\n").expect("target");
    let lock = gen_dir.join(".promo-infra.lock");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&target, &lock).expect("symlink");
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(".promo-infra.lock` is a symbolic link"),
        "{}",
        run.all()
    );
    assert_eq!(std::fs::read_to_string(&target).expect("target"), "keep\n");
    std::fs::remove_file(&lock).expect("rm link");

    // With the links gone, generate restores the files.
    let g = p.run(&["generate"]);
    assert_eq!(g.code, 0, "{}", g.all());
    assert_eq!(p.run(&["generate", "--check"]).code, 0);
}

/// A generated file replaced by a FIFO: reading it would block for ever (no writer), with the
/// stack's lock held. Refused at once, by every form of `generate`, and left in place. Each run
/// is bounded: a regression fails here instead of hanging the suite.
#[test]
fn a_fifo_at_a_generated_file_s_path_is_refused_at_once_never_read() {
    use std::time::{Duration, Instant};

    let p = project();
    let compose = p.path().join("generated/shop/docker-compose.yml");
    std::fs::remove_file(&compose).expect("rm");
    nix::unistd::mkfifo(
        &compose,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .expect("mkfifo");
    for args in [
        &["generate"][..],
        &["generate", "--force"],
        &["generate", "--check"],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_promo-infra"))
            .arg("-C")
            .arg(p.path())
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} still runs after 30 s: it reads the FIFO");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(
                "docker-compose.yml` is not a regular file (a FIFO, a socket or a device)"
            ),
            "{args:?}: {stderr}"
        );
        let kind = std::fs::symlink_metadata(&compose)
            .expect("still there")
            .file_type();
        assert!(
            std::os::unix::fs::FileTypeExt::is_fifo(&kind),
            "{args:?}: left in place"
        );
    }
}
