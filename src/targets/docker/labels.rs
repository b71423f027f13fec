//! Names and labels of the Docker objects of a stack. They follow docker compose so that
//! `docker compose -p <stack> ps/logs` and Debian's `docker-compose -p <stack> ps` see them.
//!
//! Owns: object names and label keys/values. May not: do IO.

use std::collections::HashMap;
use std::path::Path;

use crate::compile::COMPOSE_FILE;

/// Compose project (= stack name).
pub const PROJECT: &str = "com.docker.compose.project";
/// Compose service.
pub const SERVICE: &str = "com.docker.compose.service";
/// Replica number (always 1).
pub const NUMBER: &str = "com.docker.compose.container-number";
/// `False` for service containers (`True` for `docker compose run`).
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// Compose's configuration hash; promo-infra stores its resource hash here.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// Absolute path of the compose file.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// Absolute project directory.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// Tool version that created the object.
pub const VERSION: &str = "com.docker.compose.version";
/// Short network name.
pub const NETWORK: &str = "com.docker.compose.network";
/// Short volume name.
pub const VOLUME: &str = "com.docker.compose.volume";
/// promo-infra: the stack.
pub const STACK: &str = "io.promo-infra.stack";
/// promo-infra: the resource's content hash.
pub const HASH: &str = "io.promo-infra.hash";
/// promo-infra: the resource's canonical JSON (secret fingerprints only, never values), so a
/// later plan can show field-level diffs.
pub const CANONICAL: &str = "io.promo-infra.canonical";

/// Value of [`VERSION`].
pub fn version() -> String {
    format!("promo-infra-{}", env!("CARGO_PKG_VERSION"))
}

/// Container name, compose v2 style.
pub fn container_name(stack: &str, service: &str) -> String {
    format!("{stack}-{service}-1")
}

/// Full network or volume name (`<stack>_<short>`).
pub fn scoped(stack: &str, short: &str) -> String {
    format!("{stack}_{short}")
}

/// Labels shared by every object of the stack.
pub fn common(stack: &str) -> HashMap<String, String> {
    HashMap::from([
        (PROJECT.to_string(), stack.to_string()),
        (STACK.to_string(), stack.to_string()),
        (VERSION.to_string(), version()),
    ])
}

/// Labels of a network.
pub fn network(stack: &str, short: &str, hash: &str) -> HashMap<String, String> {
    let mut l = common(stack);
    l.insert(NETWORK.into(), short.into());
    l.insert(HASH.into(), hash.into());
    l
}

/// Labels of a volume.
pub fn volume(stack: &str, short: &str, hash: &str) -> HashMap<String, String> {
    let mut l = common(stack);
    l.insert(VOLUME.into(), short.into());
    l.insert(HASH.into(), hash.into());
    l
}

/// Labels of a service container.
pub fn container(
    stack: &str,
    service: &str,
    hash: &str,
    canonical: &serde_json::Value,
    generated_dir: &Path,
) -> HashMap<String, String> {
    let mut l = common(stack);
    l.insert(SERVICE.into(), service.into());
    l.insert(NUMBER.into(), "1".into());
    l.insert(ONEOFF.into(), "False".into());
    l.insert(CONFIG_HASH.into(), hash.into());
    l.insert(
        CONFIG_FILES.into(),
        generated_dir.join(COMPOSE_FILE).display().to_string(),
    );
    l.insert(WORKING_DIR.into(), generated_dir.display().to_string());
    l.insert(HASH.into(), hash.into());
    l.insert(CANONICAL.into(), canonical.to_string());
    l
}
