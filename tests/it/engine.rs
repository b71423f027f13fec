//! Support for the tests on the REAL Docker engine (docker, stop_docker, backup, journey,
//! secrets_live): whether they can run, the shared local images, a test's own control API
//! image, the fixture stack under a test's own name and ports, and cleanup.
//!
//! May not: skip silently under `CI=true`, remove anything a test did not create, use fixed
//! host ports.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::common::{HeldPorts, Run, TestContext, bin, docker_available, repo};

/// The shared local images (`scripts/images.sh`, `just images`).
pub const IMAGES: [&str; 4] = [
    "promo-infra-influxdb:1.6.7-local",
    "promo-infra-grafana-double:0.1.0",
    "promo-infra-influxdb2-double:0.1.0",
    "promo-infra:0.1.0",
];

/// `true` when the engine tests can run: an engine answers where the binary connects
/// ([`docker_available`]: fails under `CI=true`, skips with a printed reason otherwise), and
/// the local images are built (once per test run).
pub fn engine() -> bool {
    if !docker_available() {
        return false;
    }
    ensure_images();
    true
}

/// Build the local images once per test run (scripts/images.sh, as `just images` does): the
/// control API's image must hold the binary under test; unchanged layers come from Docker's
/// build cache.
fn ensure_images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        // The control API's image gets the binary under test: rebuilding it here with
        // `cargo build` could relink target/debug/promo-infra while other tests run it.
        let out = Command::new("bash")
            .arg(repo().join("scripts/images.sh"))
            .env("PROMO_INFRA_BIN", bin())
            .output()
            .expect("run scripts/images.sh");
        assert!(
            out.status.success(),
            "scripts/images.sh failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for image in IMAGES {
            assert!(
                image_exists(image),
                "scripts/images.sh did not build {image}"
            );
        }
    });
}

pub fn image_exists(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `docker ARGS`, which must succeed; its stdout.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// This test's own control API image `tag` (FROM the shared `promo-infra:0.1.0`, with the
/// binary under test copied in), so another test rebuilding the shared tag meanwhile cannot
/// swap the binary. Remove it with [`remove_image`].
pub fn build_test_image(tag: &str) {
    ensure_images();
    let bin = bin();
    let ctx = tempfile::tempdir().expect("context");
    let dest = ctx.path().join("promo-infra");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&dest)
        .arg(&bin)
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(&bin, &dest).expect("copy the binary");
    }
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM promo-infra:0.1.0\nCOPY promo-infra /usr/local/bin/promo-infra\n",
    )
    .expect("Dockerfile");
    let out = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(ctx.path())
        .output()
        .expect("docker build");
    assert!(
        out.status.success(),
        "docker build {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Remove an image this test built (errors ignored: cleanup).
pub fn remove_image(tag: &str) {
    let _ = Command::new("docker")
        .args(["image", "rm", "-f", tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `tests/fixtures/stacks/local.yaml` under a test's own stack name and host ports; the ports
/// are held ([`HeldPorts`]) until [`LocalFixture::release`], right before the first apply.
pub struct LocalFixture {
    pub manifest: String,
    pub influx_port: u16,
    pub grafana_port: u16,
    pub control_port: u16,
    pub held: HeldPorts,
}

impl LocalFixture {
    pub fn new(name: &str) -> Self {
        let held = HeldPorts::default();
        let (influx_port, grafana_port, control_port) = (held.take(), held.take(), held.take());
        let manifest = std::fs::read_to_string(repo().join("tests/fixtures/stacks/local.yaml"))
            .expect("local.yaml")
            .replace("stack: local", &format!("stack: {name}"))
            .replace("port: 38086", &format!("port: {influx_port}"))
            .replace("port: 33000", &format!("port: {grafana_port}"))
            .replace("port: 35000", &format!("port: {control_port}"));
        assert!(manifest.contains(&format!("stack: {name}")));
        Self {
            manifest,
            influx_port,
            grafana_port,
            control_port,
            held,
        }
    }

    /// The control API on this test's own image (see [`build_test_image`]).
    pub fn with_control_image(mut self, tag: &str) -> Self {
        self.manifest = self
            .manifest
            .replace("image: promo-infra:0.1.0", &format!("image: {tag}"));
        assert!(self.manifest.contains(&format!("image: {tag}")));
        self
    }
}

/// `destroy --volumes --auto-approve` (plus `extra`, e.g. `--target native`) of a test's stack,
/// reporting (not failing) when it does not succeed: for Drop guards.
pub fn destroy(p: &TestContext, name: &str, extra: &[&str]) -> Run {
    let mut args = vec!["destroy", "--volumes", "--auto-approve"];
    args.extend_from_slice(extra);
    let r = p.run(&args);
    if r.code != 0 {
        eprintln!("cleanup of stack {name} failed:\n{}", r.all());
    }
    r
}
