//! The report's PNG: the HTML page opened in headless Chromium, which takes the screenshot.
//! Bounded (killed after 60 s), in a fresh profile, with Chromium's background networking off
//! (the page needs none).
//!
//! Owns: finding and running Chromium. May not: print, read the environment but through
//! [`crate::settings`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What became of the PNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Png {
    /// Written here.
    Written(PathBuf),
    /// No Chromium on PATH: not taken (not an error: the HTML is the report).
    NoChromium,
}

/// The first `chromium` (or `chromium-browser`, `google-chrome`) on PATH that is executable.
fn chromium() -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dirs = crate::settings::path_dirs();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Screenshot `html` into `png` (1200×1600) with headless Chromium.
pub fn screenshot(html: &Path, png: &Path) -> Result<Png> {
    let Some(browser) = chromium() else {
        return Ok(Png::NoChromium);
    };
    let profile = tempfile::tempdir()
        .map_err(|e| Error::io("cannot create a temporary directory", Path::new("/tmp"), e))?;
    let given = png;
    let html = std::path::absolute(html).unwrap_or_else(|_| html.to_path_buf());
    let png = std::path::absolute(png).unwrap_or_else(|_| png.to_path_buf());
    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::internal(format!("cannot start {}: {e}", browser.display())))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::internal(format!(
                    "{} took over 60 s to screenshot {}",
                    browser.display(),
                    html.display()
                ))
                .with_help("the HTML report is written; open it in a browser"));
            }
        }
    }
    if std::fs::metadata(&png).is_ok_and(|m| m.len() > 0) {
        Ok(Png::Written(given.to_path_buf()))
    } else {
        Err(Error::internal(format!(
            "{} wrote no screenshot of {}",
            browser.display(),
            html.display()
        ))
        .with_help("the HTML report is written; open it in a browser"))
    }
}
