//! Pieces shared by both doubles: clock and id helpers, fault injection, the request log,
//! Go-compatible `$VAR` expansion and duration handling, and the server task wrapper.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Locks a mutex, recovering the data if a previous holder panicked (the doubles never hold a
/// lock across an await, so the data is still consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Formats epoch milliseconds as RFC 3339 UTC (`2024-01-31T12:00:00Z`), as Grafana and InfluxDB do.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) civil date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Generates random-looking identifiers without an RNG dependency: a per-process random hasher
/// keyed by `RandomState`, fed with a counter and the clock.
#[derive(Debug)]
pub struct IdGen {
    state: std::hash::RandomState,
    counter: AtomicU64,
}

impl Default for IdGen {
    fn default() -> Self {
        Self {
            state: std::hash::RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }
}

impl IdGen {
    fn next_u64(&self) -> u64 {
        let mut h = self.state.build_hasher();
        h.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        h.write_i64(now_ns());
        h.finish()
    }

    /// A Grafana-style short uid: 14 characters of `[a-zA-Z0-9]`.
    pub fn short_uid(&self) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut out = String::with_capacity(14);
        let mut bits = self.next_u64();
        for i in 0..14 {
            if i == 10 {
                bits = self.next_u64();
            }
            out.push(char::from(ALPHABET[(bits % 62) as usize]));
            bits /= 62;
        }
        out
    }

    /// An InfluxDB-style 16 hex digit id.
    pub fn hex16(&self) -> String {
        format!("{:016x}", self.next_u64())
    }

    /// A random 32-byte hex secret.
    pub fn hex_token(&self) -> String {
        (0..4)
            .map(|_| format!("{:016x}", self.next_u64()))
            .collect()
    }
}

/// One fault to inject: the next `count` requests whose path starts with `path_prefix` get
/// `status` (with `Retry-After` for 429 and 503).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub status: u16,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Seconds for the `Retry-After` header; defaults to 1 for 429 and 503, none otherwise.
    #[serde(default)]
    pub retry_after: Option<u64>,
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    /// `count` requests answered 429 with `Retry-After: 1`.
    pub fn too_many_requests(count: u32) -> Self {
        Self {
            status: 429,
            count,
            path_prefix: None,
            retry_after: Some(1),
        }
    }

    /// `count` requests answered with the given 5xx status.
    pub fn server_error(status: u16, count: u32) -> Self {
        Self {
            status,
            count,
            path_prefix: None,
            retry_after: None,
        }
    }

    /// Restricts the fault to paths starting with `prefix`.
    pub fn on_path(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_owned());
        self
    }

    pub(crate) fn effective_retry_after(&self) -> Option<u64> {
        self.retry_after
            .or(matches!(self.status, 429 | 503).then_some(1))
    }
}

/// One line of the request log. Bodies and credentials are never recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The query string with the values of secret-looking keys (token, password) replaced.
    pub query: String,
    pub status: u16,
    /// `none`, `basic`, `bearer` or `token`: how the caller authenticated (never the secret).
    pub auth: String,
    /// True when the request was answered by an injected fault.
    pub injected: bool,
}

/// Fault queue and request log, shared by a double's handlers and its handle.
#[derive(Debug, Default)]
pub struct Recorder {
    faults: Mutex<VecDeque<FaultSpec>>,
    requests: Mutex<Vec<RequestRecord>>,
    /// Latency and load counters (`/__double/stats`).
    pub pace: crate::pace::Pace,
}

/// Upper bound on the request log, so a long soak cannot grow it without limit.
const MAX_LOG: usize = 100_000;

impl Recorder {
    pub fn inject(&self, fault: FaultSpec) {
        if fault.count > 0 {
            lock(&self.faults).push_back(fault);
        }
    }

    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    pub fn pending_faults(&self) -> Vec<FaultSpec> {
        lock(&self.faults).iter().cloned().collect()
    }

    /// Takes one injected fault matching `path`, if any.
    pub fn take_fault(&self, path: &str) -> Option<FaultSpec> {
        let mut faults = lock(&self.faults);
        let idx = faults.iter().position(|f| {
            f.path_prefix
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
        })?;
        let fault = faults.get_mut(idx)?;
        fault.count -= 1;
        let out = fault.clone();
        if fault.count == 0 {
            faults.remove(idx);
        }
        Some(out)
    }

    pub fn record(&self, rec: RequestRecord) {
        let mut log = lock(&self.requests);
        if log.len() >= MAX_LOG {
            log.remove(0);
        }
        log.push(rec);
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }
}

/// Replaces the values of secret-looking query parameters before they are logged.
pub(crate) fn redact_query(raw: Option<&str>) -> String {
    let Some(raw) = raw else {
        return String::new();
    };
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            // `p` is the v1 API's password parameter (an InfluxDB token on `/query`, `/write`).
            if lower == "p"
                || ["token", "password", "secret", "key"]
                    .iter()
                    .any(|s| lower.contains(s))
            {
                format!("{k}=(redacted)")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Parses a query string into ordered pairs (keys may repeat).
pub(crate) fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

/// First value of `key` in query pairs.
pub(crate) fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// All values of `key` in query pairs.
pub(crate) fn query_all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A running HTTP server task with a shutdown trigger.
#[derive(Debug)]
pub(crate) struct ServerTask {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<std::io::Result<()>>>,
}

impl ServerTask {
    /// Binds `addr` and serves `router` on a background task.
    pub async fn start(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let join = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            join: Some(join),
        })
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for the task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(join) = self.join.take() {
            // Bounded: in-flight requests to a double complete immediately.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), join).await;
        }
    }

    /// Waits until the server task ends (used by the binaries after a signal).
    pub async fn wait(mut self) -> std::io::Result<()> {
        match self.join.take() {
            Some(join) => join.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    /// Asks the server to stop without waiting.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.trigger_shutdown();
    }
}

// ---------------------------------------------------------------------------------------------
// Go-compatible environment expansion
// ---------------------------------------------------------------------------------------------

fn is_shell_special(c: u8) -> bool {
    matches!(
        c,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

fn is_alnum(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// Go's `os.Expand` name scanner: returns (name, bytes consumed after the `$`).
fn shell_name(s: &[u8]) -> (&[u8], usize) {
    if s[0] == b'{' {
        if s.len() > 2 && is_shell_special(s[1]) && s[2] == b'}' {
            return (&s[1..2], 3);
        }
        for i in 1..s.len() {
            if s[i] == b'}' {
                if i == 1 {
                    return (&[], 2);
                }
                return (&s[1..i], i + 1);
            }
        }
        return (&[], 1);
    }
    if is_shell_special(s[0]) {
        return (&s[0..1], 1);
    }
    let mut i = 0;
    while i < s.len() && is_alnum(s[i]) {
        i += 1;
    }
    (&s[..i], i)
}

/// Go's `os.Expand`: `$NAME` and `${NAME}` are replaced by `lookup(NAME)` (unset → empty); a `$`
/// not followed by a name stays; bad syntax such as `${` is eaten.
pub fn go_expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut j = 0;
    while j < b.len() {
        if b[j] == b'$' && j + 1 < b.len() {
            out.extend_from_slice(&b[i..j]);
            let (name, w) = shell_name(&b[j + 1..]);
            if name.is_empty() && w > 0 {
                // invalid syntax: eaten
            } else if name.is_empty() {
                out.push(b'$');
            } else {
                let name = String::from_utf8_lossy(name);
                out.extend_from_slice(lookup(&name).unwrap_or_default().as_bytes());
            }
            j += w;
            i = j + 1;
        }
        j += 1;
    }
    if i < b.len() {
        out.extend_from_slice(&b[i..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Grafana's `setting.ExpandVar` for `$__env{NAME}` and `$__file{path}`.
pub fn expand_grafana_macros(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let env_pos = rest.find("$__env{");
        let file_pos = rest.find("$__file{");
        let (pos, is_env) = match (env_pos, file_pos) {
            (None, None) => break,
            (Some(e), None) => (e, true),
            (None, Some(f)) => (f, false),
            (Some(e), Some(f)) => {
                if e < f {
                    (e, true)
                } else {
                    (f, false)
                }
            }
        };
        let open = pos + if is_env { 7 } else { 8 };
        let Some(close_rel) = rest[open..].find('}') else {
            break;
        };
        let arg = &rest[open..open + close_rel];
        out.push_str(&rest[..pos]);
        if is_env {
            out.push_str(&lookup(arg).unwrap_or_default());
        } else {
            let content = std::fs::read_to_string(arg)
                .map_err(|e| format!("failed to read file {arg}: {e}"))?;
            out.push_str(content.trim_end_matches(['\n', '\r']));
        }
        rest = &rest[open + close_rel + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Grafana's provisioning `interpolateValue`: split on `$$`, expand macros and env vars in each
/// part, join with a literal `$`.
pub fn grafana_interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in s.split("$$") {
        let expanded = expand_grafana_macros(part, lookup)
            .map_err(|e| format!("failed to interpolate value '{s}': {e}"))?;
        parts.push(go_expand(&expanded, lookup));
    }
    Ok(parts.join("$"))
}

/// The process environment as a lookup function.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/// Parses a Prometheus/InfluxDB duration such as `60s`, `1h30m`, `7d`, `1w` into seconds
/// (fractions of a second are dropped). `0` alone is accepted.
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration string".into());
    }
    if t == "0" {
        return Ok(0);
    }
    let bad = || format!("not a valid duration string: {s:?}");
    let mut total_ms: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u128 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms_per = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(bad()),
        };
        total_ms += n * ms_per;
    }
    u64::try_from(total_ms / 1000).map_err(|_| bad())
}

/// Formats seconds the way Go's `time.Duration.String()` does (`0s`, `10m0s`, `1h0m0s`).
pub fn go_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let neg = secs < 0;
    let s = secs.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let body = if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    };
    if neg { format!("-{body}") } else { body }
}

/// Gives the `/__double/*` handlers below access to a double's request log and fault queue,
/// so both doubles serve them with the same code.
pub(crate) trait HasRecorder {
    /// The double's recorder.
    fn recorder(&self) -> &Recorder;
}

impl<T: HasRecorder> HasRecorder for std::sync::Arc<T> {
    fn recorder(&self) -> &Recorder {
        (**self).recorder()
    }
}

/// `GET /__double/faults`: the faults still queued.
pub(crate) async fn double_faults_list<A: HasRecorder>(
    axum::extract::State(app): axum::extract::State<A>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    axum::Json(app.recorder().pending_faults()).into_response()
}

/// `DELETE /__double/faults`.
pub(crate) async fn double_faults_clear<A: HasRecorder>(
    axum::extract::State(app): axum::extract::State<A>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    app.recorder().clear_faults();
    axum::Json(serde_json::json!({ "message": "faults cleared" })).into_response()
}

/// `GET /__double/requests`: the request log.
pub(crate) async fn double_requests<A: HasRecorder>(
    axum::extract::State(app): axum::extract::State<A>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    axum::Json(app.recorder().requests()).into_response()
}

/// `DELETE /__double/requests`.
pub(crate) async fn double_requests_clear<A: HasRecorder>(
    axum::extract::State(app): axum::extract::State<A>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    app.recorder().clear_requests();
    axum::Json(serde_json::json!({ "message": "request log cleared" })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "TOKEN" => Some("s3cr3t".into()),
            _ => None,
        }
    }

    #[test]
    fn go_expand_matches_os_expand() {
        assert_eq!(go_expand("x $A y", &env), "x alpha y");
        assert_eq!(go_expand("${A}b", &env), "alphab");
        assert_eq!(go_expand("$UNSET.", &env), ".");
        assert_eq!(go_expand("cost 5$", &env), "cost 5$");
        assert_eq!(go_expand("a $ b", &env), "a $ b");
        assert_eq!(go_expand("${}x", &env), "x");
    }

    #[test]
    fn grafana_interpolation_handles_double_dollar_and_macros() {
        assert_eq!(grafana_interpolate("$$A", &env).unwrap(), "$A");
        assert_eq!(
            grafana_interpolate("Token $TOKEN", &env).unwrap(),
            "Token s3cr3t"
        );
        assert_eq!(grafana_interpolate("$__env{A}-x", &env).unwrap(), "alpha-x");
        assert_eq!(grafana_interpolate("p$$$A", &env).unwrap(), "p$alpha");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration_secs("7d").unwrap(), 604_800);
        assert_eq!(parse_duration_secs("0").unwrap(), 0);
        assert!(parse_duration_secs("5x").is_err());
        assert!(parse_duration_secs("m").is_err());
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(600), "10m0s");
        assert_eq!(go_duration(3600), "1h0m0s");
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_210_096_000), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn faults_are_consumed_in_order_and_by_prefix() {
        let r = Recorder::default();
        r.inject(FaultSpec::too_many_requests(2).on_path("/api/dashboards"));
        assert!(r.take_fault("/api/search").is_none());
        assert_eq!(
            r.take_fault("/api/dashboards/db").map(|f| f.status),
            Some(429)
        );
        assert_eq!(
            r.take_fault("/api/dashboards/db").map(|f| f.status),
            Some(429)
        );
        assert!(r.take_fault("/api/dashboards/db").is_none());
    }

    #[test]
    fn ids_have_expected_shapes() {
        let g = IdGen::default();
        let a = g.short_uid();
        assert_eq!(a.len(), 14);
        assert_ne!(a, g.short_uid());
        assert_eq!(g.hex16().len(), 16);
        assert_eq!(g.hex_token().len(), 64);
    }
}
