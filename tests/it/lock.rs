//! The stack lock across processes: `generate` runs hammered from several loops at once, with
//! `/proc/locks` sampled meanwhile, never show two holders of a stack's lock.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{BASE, TestContext};

/// `flock` write locks held (not waited for) by each of `pids`, from `/proc/locks`.
fn holders(pids: &HashSet<u32>) -> usize {
    let text = std::fs::read_to_string("/proc/locks").expect("/proc/locks");
    text.lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF"
            (f.get(1) == Some(&"FLOCK") && f.get(3) == Some(&"WRITE"))
                .then(|| f.get(4)?.parse::<u32>().ok())
                .flatten()
        })
        .filter(|pid| pids.contains(pid))
        .count()
}

#[test]
fn parallel_generates_never_hold_the_stack_lock_twice() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let running: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let (ok, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let deadline = Instant::now() + Duration::from_secs(6);
    let loops: Vec<_> = (0..3)
        .map(|_| {
            let (dir, running) = (p.path().to_path_buf(), running.clone());
            let (ok, refused) = (ok.clone(), refused.clone());
            std::thread::spawn(move || {
                while Instant::now() < deadline {
                    let child = crate::common::promo()
                        .current_dir(&dir)
                        .arg("generate")
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .expect("spawn generate");
                    let pid = child.id();
                    running.lock().expect("pids").insert(pid);
                    let out = child.wait_with_output().expect("wait");
                    running.lock().expect("pids").remove(&pid);
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    match out.status.code() {
                        Some(0) => ok.fetch_add(1, Ordering::SeqCst),
                        // The holder is named, or "another promo-infra process" in the instant
                        // its note is being written or cleared: a race classifier (the exact
                        // refusal is snapshotted in crash.rs and docker.rs).
                        Some(1) if stderr.contains("stack `shop` is locked by") => {
                            refused.fetch_add(1, Ordering::SeqCst)
                        }
                        other => panic!("generate exited {other:?}: {stderr:?}"),
                    };
                }
            })
        })
        .collect();
    let sampler = {
        let (running, done) = (running.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut held, mut twice) = (0usize, 0usize);
            while !done.load(Ordering::SeqCst) {
                let pids = running.lock().expect("pids").clone();
                match holders(&pids) {
                    0 => {}
                    1 => held += 1,
                    _ => twice += 1,
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            (held, twice)
        })
    };
    for l in loops {
        l.join().expect("generate loop");
    }
    done.store(true, Ordering::SeqCst);
    let (held, twice) = sampler.join().expect("sampler");
    let (ok, refused) = (ok.load(Ordering::SeqCst), refused.load(Ordering::SeqCst));
    assert_eq!(
        twice, 0,
        "/proc/locks showed two holders {twice} times ({held} samples with one; {ok} generates ran, {refused} refused)"
    );
    assert!(
        held > 0 && ok > 3,
        "the lock was never seen held ({ok} generates ran): the test proved nothing"
    );
    assert!(
        p.path().join("generated/shop/.promo-infra.lock").exists(),
        "the lock file is never removed"
    );
    // The stack ends up exactly as one generate leaves it.
    assert_eq!(p.run(&["generate", "--check"]).code, 0);
}
