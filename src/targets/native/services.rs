//! The service verbs on the native target: `logs` from each supervised process's log file
//! (`<data_dir>/log/<service>.log`), `restart` (stop by pidfile, start again, wait healthy).
//!
//! Owns: reading and following the log files.
//! May not: print, read the environment, touch a process its pidfile does not name.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use super::NativeTarget;
use crate::desired::{Desired, ResourceSpec};
use crate::error::{Error, Result};
use crate::targets::{LogLine, LogQuery, split_lines};

/// How often a followed log file is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

fn missing_log(t: &NativeTarget, service: &str) -> Error {
    Error::native(format!(
        "service `{service}` has no log file ({})",
        t.logfile(service).display()
    ))
    .with_help("run `promo-infra apply --target native` to start it")
}

/// `logs`: the last lines of each service's log file, service by service; with `follow`, new
/// lines as they are written, checked every 200 ms, until dropped.
pub async fn logs(t: &NativeTarget, query: &LogQuery, sink: &mut dyn FnMut(LogLine)) -> Result<()> {
    let mut offsets = Vec::new();
    for service in &query.services {
        let path = t.logfile(service);
        let bytes = fs_err::read(&path).map_err(|_| missing_log(t, service))?;
        let mut pending = String::new();
        let mut lines = split_lines(&mut pending, &bytes);
        if !pending.is_empty() {
            lines.push(std::mem::take(&mut pending));
        }
        let skip = query.tail.map_or(0, |n| lines.len().saturating_sub(n));
        for text in lines.into_iter().skip(skip) {
            sink(LogLine {
                service: service.clone(),
                text,
            });
        }
        offsets.push((service.clone(), bytes.len() as u64, String::new()));
    }
    if !query.follow {
        return Ok(());
    }
    loop {
        tokio::time::sleep(FOLLOW_POLL).await;
        for (service, offset, pending) in &mut offsets {
            for text in read_from(&t.logfile(service), offset, pending)? {
                sink(LogLine {
                    service: service.clone(),
                    text,
                });
            }
        }
    }
}

/// The lines written to `path` since `offset` (from the start again if it shrank).
fn read_from(
    path: &std::path::Path,
    offset: &mut u64,
    pending: &mut String,
) -> Result<Vec<String>> {
    let err = |e| Error::io("cannot read the log file", path, e);
    let Ok(mut file) = fs_err::File::open(path) else {
        return Ok(Vec::new());
    };
    let len = file.metadata().map_err(err)?.len();
    if len < *offset {
        *offset = 0;
    }
    file.seek(SeekFrom::Start(*offset)).map_err(err)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(err)?;
    *offset += bytes.len() as u64;
    Ok(split_lines(pending, &bytes))
}

/// `restart`: stop the recorded process (SIGTERM, SIGKILL after 10 s), start it again with
/// the same configuration, wait until it is healthy.
pub async fn restart(t: &NativeTarget, desired: &Desired, service: &str) -> Result<()> {
    let found = desired.resources.values().find_map(|r| match &r.spec {
        ResourceSpec::Process(p) if p.name == service => Some((r, p)),
        _ => None,
    });
    let Some((resource, p)) = found else {
        return Err(Error::internal(format!(
            "no service `{service}` in the stack"
        )));
    };
    if t.live(service).is_none() {
        return Err(Error::native(format!(
            "service `{service}` is not running (no live process in {})",
            t.pidfile(service).display()
        ))
        .with_help("run `promo-infra apply --target native` to start it"));
    }
    t.stop(service, Duration::from_secs(10)).await?;
    t.start(resource, p).await
}
