//! Connecting to the engine and turning its errors into promo-infra errors that say what
//! failed, where and what to do.
//!
//! Owns: the engine address and client, the classification of engine errors (transient or not).
//! May not: print, read the environment except through [`crate::settings`].

use bollard::{ClientVersion, Docker};

use crate::error::{Error, Result};

/// Engine API version spoken: 1.41 (Docker 20.10, Debian 12's `docker.io`), which newer engines
/// also accept. Fixed rather than negotiated, to save a round trip on every command.
const API_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Seconds before a single Engine API request is abandoned.
const REQUEST_TIMEOUT_S: u64 = 120;

/// The engine address in use: `DOCKER_HOST`, or the local socket.
pub fn docker_host() -> String {
    crate::settings::docker_host().unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
}

/// A client for [`docker_host`].
pub fn connect() -> Result<Docker> {
    let host = docker_host();
    let result = if host.starts_with("unix://") {
        Docker::connect_with_unix(&host, REQUEST_TIMEOUT_S, &API_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(&host, REQUEST_TIMEOUT_S, &API_VERSION)
    } else {
        return Err(Error::usage(
            format!("DOCKER_HOST=`{host}` is not supported"),
            "use unix:///path/to/docker.sock or tcp://HOST:PORT (plain HTTP), or unset DOCKER_HOST",
        ));
    };
    result.map_err(|e| {
        Error::docker(format!(
            "cannot use the Docker engine at {host}: {}",
            describe(&e)
        ))
        .with_help(unreachable_help())
    })
}

/// Whether this machine has a Docker engine to ask, for a command that works without one.
#[derive(Debug)]
pub enum EngineHere {
    /// None is configured: `DOCKER_HOST` is unset or a local socket, and no such socket exists.
    None,
    /// One is configured but did not answer a ping: why, for people.
    Silent(String),
    /// It answers.
    Answers,
}

/// How long [`engine_here`] waits for the ping: a command that works without an engine is not
/// held up by one that hangs (the client's own bound is [`REQUEST_TIMEOUT_S`]).
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// [`EngineHere`] of [`docker_host`]: a ping, bounded by [`PING_TIMEOUT`].
pub fn engine_here() -> EngineHere {
    let host = docker_host();
    if let Some(socket) = host.strip_prefix("unix://")
        && !std::path::Path::new(socket).exists()
    {
        return EngineHere::None;
    }
    let ping = async {
        let docker = connect().map_err(|e| e.to_string())?;
        match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
            Ok(answer) => answer.map(|_| ()).map_err(|e| describe(&e)),
            Err(_) => Err(format!("no answer within {} s", PING_TIMEOUT.as_secs())),
        }
    };
    let answered = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(ping));
    match answered {
        Ok(()) => EngineHere::Answers,
        Err(why) => EngineHere::Silent(format!("the engine at {host} does not answer: {why}")),
    }
}

fn unreachable_help() -> String {
    "start the engine (`just setup` starts dockerd when no socket answers, or `systemctl start docker`), or point DOCKER_HOST at a running one".into()
}

/// The HTTP status of an engine error, if it is one.
pub fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether the error is "not found".
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    status_of(e) == Some(404)
}

/// Whether the engine could not be reached at all.
fn is_connection(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as B;
    matches!(
        e,
        B::IOError { .. }
            | B::HyperResponseError { .. }
            | B::HyperLegacyError { .. }
            | B::SocketNotFoundError(_)
            | B::RequestTimeoutError
    )
}

/// What an engine error says, for people: a connection failure is its innermost cause
/// (`Connection refused (os error 111)`, `deadline has elapsed`), not the HTTP client's wrapper
/// ("Error in the hyper legacy client: client error (Connect)").
pub fn describe(e: &bollard::errors::Error) -> String {
    if !is_connection(e) {
        return e.to_string();
    }
    let mut innermost: &dyn std::error::Error = e;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    match e {
        bollard::errors::Error::RequestTimeoutError => "no answer in time".to_string(),
        _ => innermost.to_string(),
    }
}

/// An engine error met while reading (observe, status): not retried; an unreachable engine
/// says how to start one.
pub fn read_error(what: &str, e: bollard::errors::Error) -> Error {
    if is_connection(&e) {
        Error::docker(format!(
            "cannot reach the Docker engine at {} ({what}): {}",
            docker_host(),
            describe(&e)
        ))
        .with_help(unreachable_help())
    } else {
        Error::docker(format!("Docker engine at {}: {what}: {e}", docker_host()))
    }
}

/// An engine error met while changing something: connection trouble, timeouts and 5xx answers
/// that are not permanent are transient (retried with backoff); the rest say what to do.
pub fn write_error(what: &str, e: bollard::errors::Error, help: Option<String>) -> Error {
    let message = format!("{what}: {}", describe(&e));
    if is_connection(&e) {
        return Error::transient(format!("{message} (engine at {})", docker_host()));
    }
    if let bollard::errors::Error::DockerResponseServerError {
        status_code,
        message: m,
    } = &e
    {
        let permanent = [
            "port is already allocated",
            "address already in use",
            "No such image",
            "invalid",
            "not found",
            "no such file or directory",
            "is not a directory",
            "are mutually exclusive",
        ];
        if *status_code >= 500 && !permanent.iter().any(|p| m.contains(p)) {
            return Error::transient(message);
        }
        if m.contains("port is already allocated") || m.contains("address already in use") {
            return Error::docker(message).with_help(
                "another process or container uses that host port: stop it, or change the port in the manifest",
            );
        }
    }
    let e = Error::docker(message);
    match help {
        Some(h) => e.with_help(h),
        None => e,
    }
}
