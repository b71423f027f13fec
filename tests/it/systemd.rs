//! Every generated systemd unit (services of the native target, backup service and timer) passes
//! `systemd-analyze verify`. Binaries that production hosts have but this machine does not
//! (Grafana) are pointed at stand-ins that exist here; nothing else is changed.

use std::path::PathBuf;
use std::process::Command;

use crate::common::repo;

#[test]
fn generated_units_pass_systemd_analyze_verify() {
    let grafana_standin = crate::native::grafana_double();
    let promo_infra = PathBuf::from(env!("CARGO_BIN_EXE_promo-infra"));
    let mut checked = 0;
    for stack in ["promo", "promo-v1"] {
        let dir = repo().join("generated").join(stack).join("systemd");
        let work = tempfile::tempdir().expect("dir");
        let mut units = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("systemd dir") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path)
                .expect("unit")
                .replace(
                    "/usr/local/bin/promo-infra",
                    &promo_infra.display().to_string(),
                )
                .replace(
                    "/usr/share/grafana/bin/grafana",
                    &grafana_standin.display().to_string(),
                );
            let out = work.path().join(path.file_name().expect("name"));
            std::fs::write(&out, text).expect("write");
            units.push(out);
        }
        units.sort();
        assert!(
            units.len() >= 5,
            "{stack}: services + backup service + timer"
        );
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(&units)
            .current_dir(work.path())
            .output()
            .expect("systemd-analyze must be installed (apt-get install systemd; scripts/setup.sh does it)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stack}: {stderr}");
        assert!(
            stderr.trim().is_empty(),
            "{stack}: systemd-analyze verify complained:\n{stderr}"
        );
        for unit in &units {
            let text = std::fs::read_to_string(unit).expect("unit");
            if unit.extension().is_some_and(|e| e == "timer") {
                assert!(text.contains("Persistent=true"), "{}", unit.display());
            }
            assert!(
                !text.contains("PASSWORD="),
                "no secret value in {}",
                unit.display()
            );
        }
        checked += units.len();
    }
    assert!(checked >= 10);
}
