//! `k6 build`: `xk6 build <version> --with <ext>... --output <output>`, then `<output> version`
//! must list every extension. The inputs are recorded next to the binary so an unchanged build
//! is skipped.
//!
//! Owns: the xk6 command line, the build record, the verification of the binary.
//! May not: print (xk6 writes to the terminal itself), read the environment (`PATH` through
//! [`super::which`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::project::Project;

/// Longest an `xk6 build` may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Longest `<output> version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// How to install xk6 (printed when it is missing).
pub const XK6_HINT: &str = "install Go 1.21 or later (https://go.dev/dl; Debian 12's golang-go is too old), then `go install go.k6.io/xk6/cmd/xk6@latest` and put $(go env GOPATH)/bin in PATH";

/// What was recorded after the last successful build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildState {
    /// k6 version.
    pub version: String,
    /// Extensions, as in the manifest.
    pub extensions: Vec<String>,
    /// Output, as in the manifest.
    pub output: String,
    /// sha256 of the binary that build produced.
    pub sha256: String,
}

/// Result of `k6 build`.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// The xk6 command line (run, or that would have run).
    pub command: Vec<String>,
    /// The binary, relative to the project.
    pub output: String,
    /// The inputs had not changed and the binary was intact: nothing was run.
    pub skipped: bool,
    /// First line of `<output> version`.
    pub version_line: String,
    /// Where the inputs are recorded.
    pub state_file: PathBuf,
}

/// `<output>.build.json` next to the binary.
pub fn state_path(binary: &Path) -> PathBuf {
    let mut name = binary.file_name().unwrap_or_default().to_os_string();
    name.push(".build.json");
    binary.with_file_name(name)
}

/// The xk6 command line for a manifest.
pub fn command(k6: &crate::manifest::K6) -> Vec<String> {
    let mut cmd = vec!["xk6".to_string(), "build".into(), k6.version.to_string()];
    for ext in &k6.extensions {
        cmd.push("--with".into());
        cmd.push(ext.to_string());
    }
    cmd.push("--output".into());
    cmd.push(k6.output.to_string());
    cmd
}

/// Build (or skip) the k6 binary of the stack.
pub async fn build(project: &Project, m: &Manifest, force: bool) -> Result<BuildOutcome> {
    let k6 = m.k6.as_ref().ok_or_else(|| {
        Error::usage(
            format!("stack `{}` has no `k6:` section", *m.stack),
            "add `k6: { version: v0.47.0, extensions: [...], output: bin/k6 }` to the manifest",
        )
    })?;
    let cmd = command(k6);
    let binary = project.root.join(k6.output.as_str());
    let state_file = state_path(&binary);
    let want = BuildState {
        version: k6.version.to_string(),
        extensions: k6.extensions.iter().map(|e| e.to_string()).collect(),
        output: k6.output.to_string(),
        sha256: String::new(),
    };
    let recorded: Option<BuildState> = std::fs::read_to_string(&state_file)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    if !force
        && let Some(rec) = &recorded
        && (BuildState {
            sha256: String::new(),
            ..rec.clone()
        }) == want
        && crate::writer::sha256_file(&binary).ok().as_deref() == Some(rec.sha256.as_str())
    {
        let version_line = verify(&binary, k6.output.as_str(), &want.extensions).await?;
        return Ok(BuildOutcome {
            command: cmd,
            output: k6.output.to_string(),
            skipped: true,
            version_line,
            state_file,
        });
    }

    let Some(xk6) = super::which("xk6") else {
        let go = if super::which("go").is_some() {
            ""
        } else {
            " (and Go is not installed either)"
        };
        return Err(
            Error::k6(format!("cannot build k6: `xk6` is not in PATH{go}")).with_help(XK6_HINT),
        );
    };
    if super::which("go").is_none() {
        return Err(Error::k6("cannot build k6: xk6 needs Go to compile it, and `go` is not in PATH").with_help("install Go 1.21 or later (https://go.dev/dl; Debian 12's golang-go is too old) and put it in PATH"
                    ));
    }
    if let Some(dir) = binary.parent() {
        fs_err::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
    }
    let mut child = tokio::process::Command::new(&xk6)
        .args(&cmd[1..])
        .current_dir(&project.root)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::k6(format!("cannot start `{}`: {e}", xk6.display())).with_help(XK6_HINT)
        })?;
    let status = tokio::time::timeout(BUILD_TIMEOUT, child.wait())
        .await
        .map_err(|_| {
            Error::k6(format!(
                "`{}` did not finish within 30 minutes",
                cmd.join(" ")
            ))
            .with_help("run it by hand to see where it hangs (module downloads?)")
        })?
        .map_err(|e| Error::k6(format!("waiting for xk6 failed: {e}")))?;
    if !status.success() {
        return Err(Error::k6(format!("`{}` failed ({status})", cmd.join(" "))).with_help("read xk6's output above; a wrong extension version or no Go module access are the usual causes"));
    }
    let version_line = verify(&binary, k6.output.as_str(), &want.extensions).await?;
    let state = BuildState {
        sha256: crate::writer::sha256_file(&binary).unwrap_or_default(),
        ..want
    };
    let mut text = serde_json::to_string_pretty(&state).unwrap_or_default();
    text.push('\n');
    crate::writer::write_atomic(&state_file, text.as_bytes(), None)?;
    Ok(BuildOutcome {
        command: cmd,
        output: k6.output.to_string(),
        skipped: false,
        version_line,
        state_file,
    })
}

/// `<binary> version` must succeed and name every extension's module.
async fn verify(binary: &Path, display: &str, extensions: &[String]) -> Result<String> {
    let run = tokio::process::Command::new(binary)
        .arg("version")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(VERSION_TIMEOUT, run)
        .await
        .map_err(|_| Error::k6(format!("`{display} version` did not answer within 30 s")))?
        .map_err(|e| {
            Error::k6(format!("cannot run `{display} version`: {e}"))
                .with_help("the build did not produce a runnable binary; rebuild with --force")
        })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(
            Error::k6(format!("`{display} version` failed ({})", out.status))
                .with_help("rebuild with `promo-infra k6 build --force`"),
        );
    }
    for ext in extensions {
        let module = ext.split('@').next().unwrap_or(ext);
        if !text.contains(module) {
            return Err(Error::k6(format!(
                    "`{display} version` does not list the extension {module}; it printed:\n{}",
                    text.trim()
                )).with_help("check the extension's module path and version in the manifest, then `promo-infra k6 build --force`"));
        }
    }
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}
