//! Images: used when present locally, pulled (with progress) when not; when the registry cannot
//! be reached, the error names the image and how to build or load it.
//!
//! Owns: making the images a plan needs present before any change.
//! May not: print (progress lines only), read the environment, or touch containers.

use std::collections::BTreeSet;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use super::DockerTarget;
use super::engine::{is_not_found, read_error};
use crate::desired::{Desired, ResourceSpec};
use crate::error::{Error, Result};
use crate::plan::{Action, Step};

/// Split `repo[:tag]` (a registry port is not a tag).
fn split(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// Ensure the images of every service the steps create or replace.
pub async fn ensure(t: &DockerTarget, steps: &[Step], desired: &Desired) -> Result<()> {
    let images: BTreeSet<&str> = steps
        .iter()
        .filter(|s| matches!(s.action, Action::Create | Action::Replace { .. }))
        .filter_map(|s| desired.resources.get(&s.id))
        .filter_map(|r| match &r.spec {
            ResourceSpec::Service(s) => Some(s.image.as_str()),
            _ => None,
        })
        .collect();
    futures_util::future::try_join_all(images.into_iter().map(|i| ensure_one(t, i))).await?;
    Ok(())
}

async fn ensure_one(t: &DockerTarget, image: &str) -> Result<()> {
    match t.docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(read_error(&format!("inspecting image {image}"), e)),
    }
    let (repo, tag) = split(image);
    let line = t.progress.line(image);
    line.set_message("pulling".to_string());
    let mut builder = CreateImageOptionsBuilder::new().from_image(repo);
    if !tag.is_empty() {
        builder = builder.tag(tag);
    }
    let mut stream = t.docker.create_image(Some(builder.build()), None, None);
    let mut failure = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(status) = info.status {
                    let id = info.id.map(|i| format!("{i}: ")).unwrap_or_default();
                    line.set_message(format!("pulling: {id}{status}"));
                }
            }
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    line.finish_and_clear();
    if let Some(reason) = failure {
        return Err(Error::docker(format!(
            "image `{image}` is not present locally and could not be pulled: {reason}"
        ))
        .with_help(format!(
            "build it (`just images` builds the local images of tests/fixtures/stacks/local.yaml), load it (`docker load -i FILE` with a file made by `docker save {image}`), or check that the registry is reachable; nothing was changed"
        )));
    }
    // A pull can end without error and without the image (some registries): check.
    t.docker
        .inspect_image(image)
        .await
        .map(|_| ())
        .map_err(|_| {
            Error::docker(format!("image `{image}` is still missing after pulling it"))
                .with_help("check the image name and tag in the manifest")
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_tags_not_registry_ports() {
        assert_eq!(super::split("influxdb:1.8"), ("influxdb", "1.8"));
        assert_eq!(
            super::split("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(
            super::split("localhost:5000/x:2"),
            ("localhost:5000/x", "2")
        );
        assert_eq!(super::split("grafana"), ("grafana", "latest"));
    }
}
