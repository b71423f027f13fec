//! `runs capacity TESTID --apply`: the measured capacity written into the manifest as the
//! marketing dashboard's `capacity_vus`, changing nothing else of the file (comments, layout and
//! every other value stay byte for byte). The edited text is parsed and checked before it
//! replaces the file (atomically).
//!
//! Owns: that one edit of the manifest. May not: print, read the environment.

use std::path::Path;

use crate::error::{Error, Result};
use crate::manifest::{Loaded, Manifest};

/// What `--apply` changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// The manifest, relative to the project.
    pub file: String,
    /// The dashboard's uid.
    pub uid: String,
    /// Its `capacity_vus` before (`None`: not set).
    pub before: Option<u32>,
    /// And now.
    pub after: u32,
}

fn marketing<'m>(m: &'m Manifest, file: &str) -> Result<(usize, &'m crate::manifest::Dashboard)> {
    let d = crate::k6::report::marketing_dashboard(m)
        .filter(|d| d.template.as_str() == "marketing")
        .ok_or_else(|| {
            Error::usage(
                format!("{file} has no marketing dashboard to draw the capacity on"),
                "add a dashboard with `template: marketing` to the manifest; nothing was changed",
            )
        })?;
    let index = m
        .dashboards
        .iter()
        .position(|x| x.uid.as_str() == d.uid.as_str())
        .unwrap_or_default();
    Ok((index, d))
}

/// `text` with the marketing dashboard's `capacity_vus` set to `vus`: its value replaced where
/// it is written, else a line `capacity_vus: N` added under the dashboard's `uid`.
pub fn edit(loaded: &Loaded, vus: u32) -> Result<(String, Applied)> {
    let text: &str = &loaded.source.text;
    let file = loaded.rel_path.clone();
    let (index, d) = marketing(&loaded.manifest, &file)?;
    let uid = d.uid.as_str().to_string();
    let before = d.capacity_vus.as_ref().map(|v| **v);
    let by_hand = || {
        Error::usage(
            format!("{file}: dashboards[{index}] ({uid}) is not written one key per line"),
            format!("add `capacity_vus: {vus}` to that dashboard by hand; nothing was changed"),
        )
    };
    let edited = match d.capacity_vus.as_ref().and_then(|v| v.pos()) {
        Some(pos) => {
            let end = pos.offset + pos.len;
            let old = text.get(pos.offset..end).ok_or_else(by_hand)?;
            if old.trim().parse::<u32>().is_err() {
                return Err(by_hand());
            }
            format!("{}{vus}{}", &text[..pos.offset], &text[end..])
        }
        None => {
            let pos = d.uid.pos().ok_or_else(by_hand)?;
            let line_start = text[..pos.offset].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[pos.offset..]
                .find('\n')
                .map_or(text.len(), |i| pos.offset + i);
            let line = &text[line_start..line_end];
            let spaces = line.len() - line.trim_start_matches(' ').len();
            let rest = &line[spaces..];
            let (indent, key) = match rest.strip_prefix("- ") {
                Some(k) => (spaces + 2, k.trim_start_matches(' ')),
                None => (spaces, rest),
            };
            if !key.starts_with("uid:") || line.contains('{') {
                return Err(by_hand());
            }
            let added = format!("{}capacity_vus: {vus}\n", " ".repeat(indent));
            if line_end < text.len() {
                let (head, tail) = text.split_at(line_end + 1);
                format!("{head}{added}{tail}")
            } else {
                format!("{text}\n{added}")
            }
        }
    };
    // The edit must give the same manifest with just that value changed.
    let again = crate::manifest::parse(&file, &edited).map_err(|e| {
        Error::internal(format!(
            "{file}: the edited manifest does not parse ({e}); nothing was changed"
        ))
    })?;
    let (_, d2) = marketing(&again, &file)?;
    if d2.capacity_vus.as_ref().map(|v| **v) != Some(vus) || d2.uid.as_str() != uid {
        return Err(Error::internal(format!(
            "{file}: the edit did not set dashboards[{index}].capacity_vus; nothing was changed"
        )));
    }
    Ok((
        edited,
        Applied {
            file,
            uid,
            before,
            after: vus,
        },
    ))
}

/// Write the edit of [`edit`] into the manifest under `project_root`, keeping its mode.
pub fn apply(project_root: &Path, loaded: &Loaded, vus: u32) -> Result<Applied> {
    let (text, applied) = edit(loaded, vus)?;
    let path = project_root.join(&loaded.rel_path);
    let mode = std::fs::metadata(&path)
        .ok()
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777);
    crate::writer::write_atomic(&path, text.as_bytes(), mode)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(text: &str) -> Loaded {
        Loaded {
            manifest: crate::manifest::parse("stacks/s.yaml", text).expect("manifest"),
            source: crate::error::Source::new("stacks/s.yaml", text),
            rel_path: "stacks/s.yaml".into(),
        }
    }

    const BASE: &str = "stack: s\nenvironment: preprod\ninfluxdb:\n  version: 1\n  image: influxdb:1.8\n  bucket: k6\ngrafana:\n  image: grafana/grafana:10.2.3\ndashboards:\n  # the one marketing reads\n  - uid: shop-marketing   # keep\n    template: marketing\n  - uid: tech\n    template: k6-technical\n";

    #[test]
    fn a_line_is_added_under_the_uid_and_nothing_else_changes() {
        let (text, applied) = edit(&loaded(BASE), 70).expect("edit");
        assert_eq!(
            text,
            BASE.replace(
                "  - uid: shop-marketing   # keep\n",
                "  - uid: shop-marketing   # keep\n    capacity_vus: 70\n"
            )
        );
        assert_eq!(applied.before, None);
        // Set again: the value is replaced where it is written.
        let (again, applied) = edit(&loaded(&text), 120).expect("edit");
        assert_eq!(again, text.replace("capacity_vus: 70", "capacity_vus: 120"));
        assert_eq!((applied.before, applied.after), (Some(70), 120));
    }

    #[test]
    fn flow_style_and_no_marketing_dashboard_are_refused() {
        let flow = BASE.replace(
            "  - uid: shop-marketing   # keep\n    template: marketing\n",
            "  - { uid: shop-marketing, template: marketing }\n",
        );
        let err = edit(&loaded(&flow), 70).expect_err("flow");
        assert!(
            err.to_string().contains("is not written one key per line"),
            "{err}"
        );
        let none = BASE.replace("template: marketing", "template: k6-technical");
        let err = edit(&loaded(&none), 70).expect_err("none");
        assert_eq!(
            err.to_string(),
            "stacks/s.yaml has no marketing dashboard to draw the capacity on"
        );
    }
}
