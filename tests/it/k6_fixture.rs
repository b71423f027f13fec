//! k6-shaped line protocol with KNOWN distributions, for running the dashboards' queries on a
//! real InfluxDB 1.x.
//!
//! Shape (what k6's `--out influxdb` writes): one measurement per metric, field `value`, tags
//! `testid`, `environment`, `promo_type`, `promo_name` (set with `--tag`), and per request
//! `name`, `method`, `status`, `expected_response`, `scenario` (`url` is a field: k6's default
//! `tags_as_fields`), `check` on `checks`.
//!
//! Each run repeats one 10-second *cycle* whose composition (URL, status, duration) is fixed, so
//! every 10 s bucket aligned on the run start has exactly the run's distribution: per-interval
//! panels and whole-run panels must show the same percentiles and rates.

use std::fmt::Write as _;

/// Length of the repeated cycle, in seconds (the `$__interval` the tests use).
pub const CYCLE_S: i64 = 10;

/// A group of identical requests inside one cycle.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub per_cycle: usize,
    pub name: &'static str,
    pub method: &'static str,
    /// HTTP status; 0 = network error (timeout, refused connection), as k6 reports it.
    pub status: u16,
    pub duration_ms: f64,
}

/// One k6 run.
#[derive(Debug, Clone)]
pub struct Run {
    pub testid: &'static str,
    pub environment: &'static str,
    pub promo_type: &'static str,
    pub promo_name: &'static str,
    /// Unix seconds, a multiple of 60.
    pub start_s: i64,
    pub duration_s: i64,
    /// Requests per second (every second of the run).
    pub rps: usize,
    pub blocks: Vec<Block>,
    /// `vus`: see [`Run::vus_at`].
    pub vus_start: u32,
    pub vus_step: u32,
    pub vus_peak: u32,
    /// `vus_max`: the capacity the test allocated.
    pub vus_max: u32,
    /// Every request is one half of an iteration (two requests per iteration).
    pub iteration_duration_ms: f64,
}

/// One generated request (what the expectations are computed from).
#[derive(Debug, Clone)]
pub struct Request {
    pub ts_ns: i64,
    pub name: &'static str,
    pub method: &'static str,
    pub status: u16,
    pub duration_ms: f64,
}

impl Request {
    /// k6's default expected statuses are 200–399; anything else (and network errors) fails.
    pub fn failed(&self) -> bool {
        !(200..400).contains(&self.status)
    }
    pub fn bytes_sent(&self) -> f64 {
        if self.method == "POST" { 800.0 } else { 300.0 }
    }
    pub fn bytes_received(&self) -> f64 {
        match self.status {
            0 => 0.0,
            200..=399 => 5000.0,
            _ => 250.0,
        }
    }
}

/// Fractions of `http_req_duration` for each phase k6 reports (sending + waiting + receiving =
/// duration; blocked includes connecting and TLS).
pub const PHASES: [(&str, f64); 6] = [
    ("blocked", 0.04),
    ("connecting", 0.01),
    ("tls_handshaking", 0.02),
    ("sending", 0.01),
    ("waiting", 0.9),
    ("receiving", 0.09),
];

pub const CHECK_STATUS: &str = "status is 2xx or 3xx";
pub const CHECK_CART: &str = "cart total shown";

pub const HOME: &str = "https://shop.example/";
pub const PRODUCT: &str = "https://shop.example/product?id=42";
pub const CART: &str = "https://shop.example/cart";

fn block(
    per_cycle: usize,
    name: &'static str,
    method: &'static str,
    status: u16,
    duration_ms: f64,
) -> Block {
    Block {
        per_cycle,
        name,
        method,
        status,
        duration_ms,
    }
}

/// The baseline run: 40 req/s; per cycle of 400 requests: 300 at 100 ms, 70 at 200 ms, 20 at
/// 300 ms, 10 at 2000 ms (p50 = 100, p90 = 200, p95 = 300, p99 = 2000 ms: each percentile sits
/// inside a plateau, so it does not depend on the percentile definition, and they all differ);
/// one 404 (0.25 % errors, no 5xx); VUs ramp 1 → 20 and back; capacity
/// 20.
pub fn baseline(start_s: i64) -> Run {
    Run {
        testid: "baseline_2024-11-28T10:00+01",
        environment: "preprod",
        promo_type: "baseline",
        promo_name: "none",
        start_s,
        duration_s: 60,
        rps: 40,
        blocks: vec![
            block(200, HOME, "GET", 200, 100.0),
            block(99, PRODUCT, "GET", 200, 100.0),
            block(1, PRODUCT, "GET", 404, 100.0),
            block(40, PRODUCT, "GET", 200, 200.0),
            block(30, CART, "POST", 200, 200.0),
            block(20, CART, "POST", 200, 300.0),
            block(10, CART, "POST", 200, 2000.0),
        ],
        vus_start: 1,
        vus_step: 1,
        vus_peak: 20,
        vus_max: 20,
        iteration_duration_ms: 1000.0,
    }
}

/// The promo run: 60 req/s; per cycle of 600 requests: 450 at 400 ms, 100 at 900 ms, 40 at
/// 1800 ms, 10 at 6000 ms (p50 = 400, p90 = 900, p95 = 1800, p99 = 6000 ms); 9 × 404 (1.5 %),
/// 24 × 503 (4 %), 3 network errors (status 0, 0.5 %): 6 % errors in all; VUs ramp 2 → 80
/// (+4/s) and back; capacity 100.
pub fn promo(start_s: i64) -> Run {
    Run {
        testid: "promo_2024-11-29T10:00+01",
        environment: "preprod",
        promo_type: "black-friday",
        promo_name: "bf2024",
        start_s,
        duration_s: 60,
        rps: 60,
        blocks: vec![
            block(317, HOME, "GET", 200, 400.0),
            block(100, PRODUCT, "GET", 200, 400.0),
            block(9, PRODUCT, "GET", 404, 400.0),
            block(24, CART, "POST", 503, 400.0),
            block(100, PRODUCT, "GET", 200, 900.0),
            block(40, CART, "POST", 200, 1800.0),
            block(7, CART, "POST", 200, 6000.0),
            block(3, CART, "POST", 0, 6000.0),
        ],
        vus_start: 2,
        vus_step: 4,
        vus_peak: 80,
        vus_max: 100,
        iteration_duration_ms: 3000.0,
    }
}

/// A flash-sale run whose grade is set by its response time: 20 req/s; per cycle of 200
/// requests: 150 at 500 ms, 35 at 1000 ms, 10 at 2500 ms, 5 at 4000 ms (p50 = 500, p90 = 1000,
/// p95 = 2500, p99 = 4000 ms); one 503 (0.5 % errors); VUs ramp 1 → 10 (+1/s) and back;
/// capacity 10.
pub fn flash(start_s: i64) -> Run {
    Run {
        testid: "flash_2024-11-30T18:00+01",
        environment: "preprod",
        promo_type: "flash-sale",
        promo_name: "flash30",
        start_s,
        duration_s: 60,
        rps: 20,
        blocks: vec![
            block(149, HOME, "GET", 200, 500.0),
            block(1, HOME, "GET", 503, 500.0),
            block(35, PRODUCT, "GET", 200, 1000.0),
            block(10, CART, "POST", 200, 2500.0),
            block(5, CART, "POST", 200, 4000.0),
        ],
        vus_start: 1,
        vus_step: 1,
        vus_peak: 10,
        vus_max: 10,
        iteration_duration_ms: 2000.0,
    }
}

impl Run {
    pub fn end_s(&self) -> i64 {
        self.start_s + self.duration_s
    }

    /// VUs ramp up by `vus_step` per second, hold `vus_peak`, and ramp down symmetrically over
    /// the end of the run (k6 `ramping-vus` stages).
    pub fn vus_at(&self, s: i64) -> u32 {
        let up = u32::try_from(s).expect("second");
        let down = u32::try_from(self.duration_s - 1 - s).expect("second");
        (self.vus_start + self.vus_step * up.min(down)).min(self.vus_peak)
    }

    /// Every request of the run, in time order.
    pub fn requests(&self) -> Vec<Request> {
        let per_cycle: usize = self.blocks.iter().map(|b| b.per_cycle).sum();
        assert_eq!(
            per_cycle,
            self.rps * CYCLE_S as usize,
            "{}: a cycle must hold rps × {CYCLE_S} s requests",
            self.testid
        );
        assert_eq!(self.duration_s % CYCLE_S, 0);
        let cycle: Vec<&Block> = self
            .blocks
            .iter()
            .flat_map(|b| std::iter::repeat_n(b, b.per_cycle))
            .collect();
        let mut out = Vec::new();
        for c in 0..self.duration_s / CYCLE_S {
            for (j, b) in cycle.iter().enumerate() {
                let second = c * CYCLE_S + (j / self.rps) as i64;
                let sub = (j % self.rps) as i64;
                out.push(Request {
                    // distinct timestamps: points with the same series and time would merge
                    ts_ns: (self.start_s + second) * 1_000_000_000 + sub * 1_000_000,
                    name: b.name,
                    method: b.method,
                    status: b.status,
                    duration_ms: b.duration_ms,
                });
            }
        }
        out
    }

    fn run_tags(&self) -> String {
        format!(
            "testid={},environment={},promo_type={},promo_name={}",
            esc(self.testid),
            esc(self.environment),
            esc(self.promo_type),
            esc(self.promo_name)
        )
    }

    /// The run as k6 would write it.
    pub fn line_protocol(&self) -> Vec<String> {
        let run = self.run_tags();
        let mut lines = Vec::new();
        for s in 0..self.duration_s {
            let ts = (self.start_s + s) * 1_000_000_000;
            lines.push(format!("vus,{run} value={} {ts}", self.vus_at(s)));
            lines.push(format!("vus_max,{run} value={} {ts}", self.vus_max));
        }
        for (i, r) in self.requests().iter().enumerate() {
            let expected = if r.failed() { "false" } else { "true" };
            let tags = format!(
                "{run},expected_response={expected},method={},name={},proto=HTTP/1.1,scenario=promo,status={}",
                r.method,
                esc(r.name),
                r.status
            );
            let url = r.name.replace('"', "\\\"");
            let t = r.ts_ns;
            let mut l = |m: &str, tags: &str, value: f64| {
                let mut line = String::new();
                let _ = write!(line, "{m},{tags} value={value},url=\"{url}\" {t}");
                lines.push(line);
            };
            l("http_reqs", &tags, 1.0);
            l("http_req_failed", &tags, if r.failed() { 1.0 } else { 0.0 });
            l("http_req_duration", &tags, r.duration_ms);
            for (phase, f) in PHASES {
                l(&format!("http_req_{phase}"), &tags, r.duration_ms * f);
            }
            let scen = format!("{run},scenario=promo");
            lines.push(format!("data_sent,{scen} value={} {t}", r.bytes_sent()));
            lines.push(format!(
                "data_received,{scen} value={} {t}",
                r.bytes_received()
            ));
            lines.push(format!(
                "checks,{scen},check={} value={} {t}",
                esc(CHECK_STATUS),
                if r.failed() { 0 } else { 1 }
            ));
            if r.name == CART {
                lines.push(format!(
                    "checks,{scen},check={} value={} {t}",
                    esc(CHECK_CART),
                    if r.status == 200 { 1 } else { 0 }
                ));
            }
            if i % 2 == 1 {
                lines.push(format!("iterations,{scen} value=1 {}", t + 1));
                lines.push(format!(
                    "iteration_duration,{scen} value={} {}",
                    self.iteration_duration_ms,
                    t + 1
                ));
            }
        }
        lines
    }
}

/// Line-protocol tag escaping (comma, space, equals sign).
fn esc(v: &str) -> String {
    v.replace(',', "\\,")
        .replace(' ', "\\ ")
        .replace('=', "\\=")
}

// ---- expectations, computed from the generated requests (not from InfluxDB) ----

/// InfluxQL's `percentile(field, p)`: nearest rank, `i = floor(n × p / 100 + 0.5) − 1`.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 * p / 100.0 + 0.5).floor() as usize).saturating_sub(1);
    v[i]
}

/// InfluxQL's `median`: the middle value, or the mean of the two middle ones.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

pub fn durations<'a>(rs: impl IntoIterator<Item = &'a Request>) -> Vec<f64> {
    rs.into_iter().map(|r| r.duration_ms).collect()
}

/// Share of requests (in %) matching `pred`.
pub fn pct(rs: &[Request], pred: impl Fn(&Request) -> bool) -> f64 {
    rs.iter().filter(|r| pred(r)).count() as f64 * 100.0 / rs.len() as f64
}

/// Thresholds of a marketing dashboard.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub p95_ok_ms: f64,
    pub p95_warn_ms: f64,
    pub error_ok_pct: f64,
    pub error_warn_pct: f64,
}

/// The health grade as the dashboard documents it: b(x) = min(x/ok, 1) +
/// min(max((x−ok)/(warn−ok), 0), 1) + max((x−warn)/warn, 0); score = max(0, 100 − 20 ×
/// max(b(p95), b(errors))); A > 80, B > 70, C > 60, D > 40, F ≤ 40.
pub fn grade(p95_ms: f64, errors_pct: f64, t: Thresholds) -> (f64, char) {
    let b = |x: f64, ok: f64, warn: f64| {
        (x / ok).min(1.0) + ((x - ok) / (warn - ok)).clamp(0.0, 1.0) + ((x - warn) / warn).max(0.0)
    };
    let worst =
        b(p95_ms, t.p95_ok_ms, t.p95_warn_ms).max(b(errors_pct, t.error_ok_pct, t.error_warn_pct));
    let score = (100.0 - 20.0 * worst).max(0.0);
    let letter = match score {
        s if s > 80.0 => 'A',
        s if s > 70.0 => 'B',
        s if s > 60.0 => 'C',
        s if s > 40.0 => 'D',
        _ => 'F',
    };
    (score, letter)
}
