//! Tests of the parent module.
use super::*;

/// Fails on the old code: `destroy --target native` announced "target docker" (the preview
/// carried no target name and the CLI wrote docker).
#[test]
fn destroy_previews_name_the_target_they_run_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stacks = dir.path().join("stacks");
    fs_err::create_dir_all(&stacks).expect("stacks dir");
    fs_err::write(
        stacks.join("promo.yaml"),
        include_str!("../../../stacks/promo.yaml"),
    )
    .expect("manifest");
    let project = Project::new(dir.path());
    let mut seen = Vec::new();
    let report = destroy(
        &project,
        &Selection::Default,
        TargetKind::Native,
        false,
        &mut |p: &DestroyPreview| {
            seen.push((p.stack.clone(), p.target, p.existing.len()));
            Ok(true)
        },
    )
    .expect("destroy of a stack that never ran");
    assert_eq!(seen, vec![("promo".to_string(), "native", 0)]);
    assert!(report.removed.is_empty());
}

/// Every file below `root` with its sha256, but the stack lock (taken before the question
/// by design, see `crate::lock`) and the directories it needs.
fn tree(root: &std::path::Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            // The dashboard render cache is a cache (terraform's `.terraform/`), not the project.
            if p.is_dir() && !p.ends_with(".promo-infra/cache") {
                stack.push(p);
            } else if p.is_file() && !p.ends_with(crate::lock::LOCK_FILE) {
                let bytes = fs_err::read(&p).expect("read");
                out.push((p.clone(), crate::desired::sha256_hex(&bytes)));
            }
        }
    }
    out.sort();
    out
}

/// Fails on the old code, which wrote `generated/` and created `.env` before asking: an
/// apply whose plan is not approved changes nothing in the project, and an approved one
/// writes what the plan was made from.
#[test]
fn apply_writes_nothing_before_the_plan_is_approved() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs_err::create_dir_all(dir.path().join("stacks")).expect("stacks dir");
    // A stack name of this test's own: `generate` asks this machine's Docker engine, if it has
    // one, for the stack's kept volumes, and a developer may run a `promo` stack there.
    let stack = format!("lib-decline-{}", std::process::id());
    let manifest = include_str!("../../../stacks/promo.yaml").replacen(
        "stack: promo ",
        &format!("stack: {stack} "),
        1,
    );
    assert!(manifest.contains(&format!("stack: {stack} ")));
    fs_err::write(dir.path().join("stacks/promo.yaml"), manifest).expect("manifest");
    let project = Project::new(dir.path());
    let opts = ApplyOptions {
        target: TargetKind::Native,
        prune: false,
        health_timeout: Duration::from_secs(1),
        progress: Progress::hidden(),
        saved: None,
        interrupt: crate::targets::Interrupt::new(),
    };
    let before = tree(dir.path());
    let mut shown = 0;
    let err = apply(&project, &Selection::Default, &opts, &mut |p, _| {
        shown = p.steps.len();
        Ok(false)
    })
    .expect_err("not approved");
    assert_eq!(err.to_string(), "apply cancelled; nothing was changed");
    assert!(shown > 0, "a cold stack has a plan to show");
    assert_eq!(
        tree(dir.path()),
        before,
        "a declined apply wrote or removed something"
    );

    // A second decline after `generate` (files and .env exist) leaves them byte for byte.
    crate::ops::generate(&project, &Selection::Default, false).expect("generate");
    let generated = tree(dir.path());
    let env = dir.path().join(format!("generated/{stack}/.env"));
    let env_before = fs_err::read(&env).expect(".env");
    fs_err::write(&env, b"").expect("empty .env: every generated secret missing");
    let generated = {
        let mut g = generated;
        for (p, hash) in &mut g {
            if p == &env {
                *hash = crate::desired::sha256_hex(b"");
            }
        }
        g
    };
    assert!(!env_before.is_empty());
    apply(&project, &Selection::Default, &opts, &mut |_, _| Ok(false)).expect_err("declined");
    assert_eq!(
        tree(dir.path()),
        generated,
        "the declined apply completed .env"
    );
}
