//! `backup run` / `restore` when InfluxDB answers, but with an error status: the help fits
//! what the server did (the error's `Outcome`): 5xx, it runs but fails (its logs); 429, it is
//! busy; 401, its credentials (.env); no answer at all, start the stack (`status`). A stub
//! HTTP server on 127.0.0.1 answers each path with a fixed status and body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use super::{fake_backup, v1_manifest};
use crate::common::{Runs, TestContext};

/// What the stub answers to a request whose path starts with `path`.
struct Answer {
    path: &'static str,
    status: &'static str,
    body: &'static str,
}

/// A server on 127.0.0.1 answering each request with the first [`Answer`] whose path it
/// starts with (404 otherwise), until the test ends; its port.
fn stub(answers: Vec<Answer>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    crate::common::register_port(port);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            // The headers, then the body (a form), read whole before answering.
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let _ = reader.by_ref().take(length).read_to_end(&mut Vec::new());
            let (status, body) = answers
                .iter()
                .find(|a| path.starts_with(a.path))
                .map_or(("404 Not Found", ""), |a| (a.status, a.body));
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Influxdb-Version: 1.8.10\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn ping(status: &'static str) -> Answer {
    Answer {
        path: "/ping",
        status,
        body: "",
    }
}

fn query(status: &'static str, body: &'static str) -> Answer {
    Answer {
        path: "/query",
        status,
        body,
    }
}

/// Fails without the fix: every case's help said "start the stack (`promo-infra apply`)", to
/// a user whose InfluxDB runs and answers (5xx: failing, 429: busy).
#[test]
fn backup_help_fits_what_influxdb_answered() {
    let p = TestContext::new();
    p.write(
        "stacks/promo.yaml",
        &v1_manifest("shop", 2, "127.0.0.1:1", ""),
    );
    // .env: the admin's password, sent with each query.
    super::ok(&p.run(&["generate"]), "generate");
    let mut runs = Runs::default();
    let cases = [
        (
            "run: /ping answers 500",
            vec![ping("500 Internal Server Error")],
        ),
        (
            "run: /ping answers 429",
            vec![ping("429 Too Many Requests")],
        ),
        (
            "run: /query answers 500 with InfluxDB's error",
            vec![
                ping("204 No Content"),
                query(
                    "500 Internal Server Error",
                    r#"{"error":"timeout waiting for the meta store"}"#,
                ),
            ],
        ),
        (
            "run: /query answers 401",
            vec![
                ping("204 No Content"),
                query("401 Unauthorized", r#"{"error":"authorization failed"}"#),
            ],
        ),
        (
            "run: /query answers 403",
            vec![
                ping("204 No Content"),
                query(
                    "403 Forbidden",
                    r#"{"error":"error authorizing query: promo-admin not authorized to execute statement 'SHOW DATABASES', requires admin privilege"}"#,
                ),
            ],
        ),
        (
            "restore: /query answers 503",
            vec![ping("204 No Content"), query("503 Service Unavailable", "")],
        ),
    ];
    for (label, answers) in cases {
        let port = stub(answers);
        p.write(
            "stacks/promo.yaml",
            &v1_manifest("shop", port, "127.0.0.1:1", ""),
        );
        let args: &[&str] = if label.starts_with("restore") {
            let root = p.path().join("backups/shop");
            std::fs::create_dir_all(root.join(super::ID)).expect("mkdir");
            // What a 1.x backup holds beside its shards (restore checks it is there).
            std::fs::write(root.join(super::ID).join("20261124T030000Z.meta"), "meta")
                .expect("meta");
            fake_backup(&root, "shop", super::ID);
            &["backup", "restore", super::ID, "--target", "native"]
        } else {
            &["backup", "run", "--target", "native"]
        };
        runs.push(label, p.run(args));
    }
    promo_snapshot!(runs, @"
    === run: /ping answers 500 ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
      x InfluxDB at http://127.0.0.1:[PORT]/ping answered HTTP 500 Internal Server Error
      help: InfluxDB runs but fails: see why in its logs (`promo-infra logs influxdb --target native`), then run the command again

    === run: /ping answers 429 ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
      x InfluxDB at http://127.0.0.1:[PORT]/ping answered HTTP 429 Too Many Requests
      help: InfluxDB runs but is too busy to answer (a load test?): run the command again once the load has passed; its logs: `promo-infra logs influxdb --target native`

    === run: /query answers 500 with InfluxDB's error ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.8.10 answers
      x InfluxDB at http://127.0.0.1:[PORT]/query refused `SHOW DATABASES`: timeout waiting for the meta store
      help: InfluxDB runs but fails: see why in its logs (`promo-infra logs influxdb --target native`), then run the command again

    === run: /query answers 401 ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.8.10 answers
      x InfluxDB at http://127.0.0.1:[PORT]/query refused `SHOW DATABASES`: authorization failed
      help: check the password of InfluxDB user `promo-admin` in .env (`promo-infra apply --target native` restores the stack's users and grants with the admin's) and that InfluxDB is the version the manifest says; if .env was made again after InfluxDB's data (lost, then generated), the data keeps the old admin password: restore the previous .env

    === run: /query answers 403 ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.8.10 answers
      x InfluxDB at http://127.0.0.1:[PORT]/query refused `SHOW DATABASES`: error authorizing query: promo-admin not authorized to execute statement 'SHOW DATABASES', requires admin privilege
      help: check the password of InfluxDB user `promo-admin` in .env (`promo-infra apply --target native` restores the stack's users and grants with the admin's) and that InfluxDB is the version the manifest says; if .env was made again after InfluxDB's data (lost, then generated), the data keeps the old admin password: restore the previous .env

    === restore: /query answers 503 ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.8.10 answers
      x InfluxDB at http://127.0.0.1:[PORT]/query answered HTTP 503 Service Unavailable
      help: InfluxDB runs but fails: see why in its logs (`promo-infra logs influxdb --target native`), then run the command again
    ");
}
