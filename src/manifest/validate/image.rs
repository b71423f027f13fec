//! Container image references: Docker's grammar, and pinned to a version.
//!
//! Owns: what `*.image` may be. May not: talk to a registry or Docker, print.

use super::rules::refuse;
use crate::error::Problems;
use crate::manifest::Sp;

pub(super) fn check_image(p: &mut Problems<'_>, key: &str, image: &Sp<String>) {
    if !is_image_reference(image) {
        refuse(
            p,
            image,
            format!(
                "{key}: `{}` is not an image reference",
                image.escape_debug()
            ),
            "invalid image",
            "write `[registry[:port]/]name[:tag][@sha256:<digest>]` with lowercase names, e.g. `influxdb:2.7`",
        );
        return;
    }
    let name_part = image.rsplit('/').next().unwrap_or("");
    let tag = name_part.split_once(':').map(|(_, t)| t);
    let pinned = image.contains("@sha256:") || tag.is_some_and(|t| !t.is_empty() && t != "latest");
    if !pinned {
        refuse(
            p,
            image,
            format!("{key}: `{}` is not pinned to a version", **image),
            "unpinned image",
            "add an explicit tag such as `:2.7` (never `latest`: `influxdb:latest` moved to InfluxDB 3)",
        );
    }
}

/// Docker's reference grammar (distribution/reference), without the rarely used corners:
/// `[host[:port]/]component(/component)*[:tag][@sha256:<64 hex>]`.
fn is_image_reference(image: &str) -> bool {
    if image.is_empty() || image.len() > 255 {
        return false;
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
        if !ok {
            return false;
        }
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].split_once(':') {
        Some((_, t)) => (&rest[..rest.len() - t.len() - 1], Some(t)),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let mut chars = t.chars();
        let ok = t.len() <= 128
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return false;
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        let is_host = first.contains(['.', ':']) || first == "localhost";
        if is_host {
            let (host, port) = match first.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (first, None),
            };
            let host_ok = !host.is_empty()
                && !host.starts_with(['-', '.'])
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
            if !host_ok || port.is_some_and(|p| p.parse::<u16>().is_err()) {
                return false;
            }
            parts.remove(0);
        }
    }
    parts.iter().all(|c| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
    })
}
