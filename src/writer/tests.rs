//! The writer's own tests: atomic writes, hand edits kept, interrupted commits converging, and
//! a file changed between prepare and commit refused.

use super::*;

fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, GeneratedFile> {
    pairs
        .iter()
        .map(|(p, t)| ((*p).to_string(), GeneratedFile::text(*t)))
        .collect()
}

/// Every file under `dir` with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("prefix").display().to_string();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What a clean directory holds after writing `files`.
fn fresh(files: &BTreeMap<String, GeneratedFile>) -> BTreeMap<String, Vec<u8>> {
    let d = tempfile::tempdir().expect("dir");
    write(d.path(), files, false).expect("fresh write");
    tree(d.path())
}

/// Interrupt a write from `v1` to `v2` after each of its filesystem steps in turn (as a
/// SIGKILL would), then interrupt the way back after half as many steps, then generate
/// `v1` (the manifest reverted) and `v2` again: every state converges, nothing is reported
/// as edited by hand, and no temp file remains.
#[test]
fn a_write_interrupted_after_any_step_converges_without_false_hand_edits() {
    let v1 = files(&[
        ("a.yml", "a: 1\n"),
        ("sub/b.json", "{\"b\": 1}\n"),
        ("old.txt", "gone in v2\n"),
    ]);
    let v2 = files(&[
        ("a.yml", "a: 2\n"),
        ("sub/b.json", "{\"b\": 2}\n"),
        ("sub/deeper/new.ini", "[n]\n"),
    ]);
    let mut completed = false;
    for k in 0..100 {
        let dir = tempfile::tempdir().expect("dir");
        let d = dir.path();
        write(d, &v1, false).expect("v1");
        let r = prepare(d, &v2, false)
            .expect("prepare v2")
            .commit_steps(&mut Steps(Some(k)));
        if r.is_ok() {
            assert_eq!(tree(d), fresh(&v2));
            completed = true;
            break;
        }
        let _ = prepare(d, &v1, false)
            .expect("prepare v1 after a crash")
            .commit_steps(&mut Steps(Some(k / 2)));
        let back = write(d, &v1, false).expect("v1 after two crashes");
        assert_eq!(back.kept, Vec::<String>::new(), "crash after step {k}");
        assert_eq!(tree(d), fresh(&v1), "crash after step {k}");
        let forth = write(d, &v2, false).expect("v2 again");
        assert_eq!(forth.kept, Vec::<String>::new(), "crash after step {k}");
        assert_eq!(tree(d), fresh(&v2), "crash after step {k}");
    }
    assert!(completed, "the write never completed within 100 steps");
}

#[test]
fn prepare_writes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let p = prepare(dir.path(), &files(&[("a", "1\n")]), false).expect("prepare");
    assert_eq!(p.report().created, vec!["a".to_string()]);
    assert!(tree(dir.path()).is_empty());
}

#[test]
fn temp_files_of_a_killed_run_are_removed_and_a_real_hand_edit_is_still_kept() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let v1 = files(&[("a", "1\n"), ("b", "1\n")]);
    write(d, &v1, false).expect("v1");
    std::fs::write(d.join(".promo-infra-tmp-AbC123"), "half a .env").expect("tmp");
    std::fs::create_dir_all(d.join(TMP_PREFIX)).expect("tmp dir");
    std::fs::write(d.join(TMP_PREFIX).join("0"), "staged").expect("staged");
    std::fs::write(d.join("b"), "mine\n").expect("hand edit");
    let r = write(d, &files(&[("a", "2\n"), ("b", "2\n")]), false).expect("v2");
    assert_eq!(r.kept, vec!["b".to_string()]);
    assert_eq!(r.written, vec!["a".to_string()]);
    assert_eq!(
        tree(d).keys().cloned().collect::<Vec<_>>(),
        vec![".promo-infra-ledger.json", "a", "b"]
    );
}

/// `apply` prepares before its question and commits after the answer: a file changed in
/// between (an editor saving it, a file removed or created) is refused, and nothing at all is
/// written; the next prepare reads it as it is.
#[test]
fn a_file_changed_between_prepare_and_commit_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    write(
        d,
        &files(&[("a", "1\n"), ("b", "1\n"), ("gone", "1\n")]),
        false,
    )
    .expect("v1");
    let v2 = files(&[("a", "2\n"), ("b", "2\n"), ("new", "2\n")]);
    for (what, change) in [
        (
            "edited",
            &(|d: &Path| std::fs::write(d.join("a"), "mine\n").expect("edit")) as &dyn Fn(&Path),
        ),
        ("created", &|d: &Path| {
            std::fs::write(d.join("new"), "mine\n").expect("create")
        }),
        ("removed", &|d: &Path| {
            std::fs::remove_file(d.join("gone")).expect("rm")
        }),
    ] {
        let prepared = prepare(d, &v2, false).expect("prepare");
        change(d);
        let before = tree(d);
        let err = prepared.commit().expect_err(what);
        let shown = err.to_string();
        assert!(
            shown.contains("changed since the plan was made"),
            "{what}: {shown}"
        );
        assert_eq!(tree(d), before, "{what}: nothing written");
        // Put back as v1 left it, for the next case.
        write(
            d,
            &files(&[("a", "1\n"), ("b", "1\n"), ("gone", "1\n")]),
            true,
        )
        .expect("v1");
        let _ = std::fs::remove_file(d.join("new"));
    }
    // Unchanged in between: committed as decided.
    let r = prepare(d, &v2, false)
        .expect("prepare")
        .commit()
        .expect("commit");
    assert_eq!(r.written, vec!["a".to_string(), "b".to_string()]);
}
