//! Embeds the dashboard templates, their panel partials and their strings (everything under
//! `dashboards-src/`) into the binary, so a project without its own `dashboards-src/` still gets
//! the built-in dashboards.
// Cargo hands a build script its settings through the environment.
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn table(out: &mut String, name: &str, entries: &[(String, PathBuf)]) {
    let _ = writeln!(
        out,
        "/// Built in from dashboards-src/.\npub const {name}: &[(&str, &str)] = &["
    );
    for (key, path) in entries {
        let _ = writeln!(
            out,
            "    ({key:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"))
        .join("dashboards-src");
    println!("cargo:rerun-if-changed=dashboards-src");
    let stem = |p: &Path, suffix: &str| {
        p.file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.trim_end_matches(suffix).to_string())
            .unwrap_or_default()
    };

    let templates: Vec<(String, PathBuf)> = files(&root, ".json.hbs")
        .into_iter()
        .map(|p| (stem(&p, ".json.hbs"), p))
        .collect();
    let mut partials = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("partials"))
        .map(|e| {
            e.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        println!("cargo:rerun-if-changed={}", dir.display());
        let group = stem(&dir, "");
        for p in files(&dir, ".hbs") {
            partials.push((format!("{group}/{}", stem(&p, ".hbs")), p));
        }
    }
    let i18n: Vec<(String, PathBuf)> = files(&root.join("i18n"), ".yaml")
        .into_iter()
        .map(|p| (stem(&p, ".yaml"), p))
        .collect();
    println!("cargo:rerun-if-changed={}", root.join("i18n").display());
    println!("cargo:rerun-if-changed={}", root.join("partials").display());

    let mut out = String::new();
    table(&mut out, "BUILTIN_TEMPLATES", &templates);
    table(&mut out, "BUILTIN_PARTIALS", &partials);
    table(&mut out, "BUILTIN_I18N", &i18n);
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("out dir")).join("builtin_dashboards.rs");
    std::fs::write(dest, out).expect("write builtin_dashboards.rs");
}
