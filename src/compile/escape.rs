//! Escaping at each output's own syntax. Validation (src/manifest/validate.rs) already refuses
//! control characters and most punctuation in every field that reaches a generated file; these
//! functions are the second wall: whatever a value holds, it stays one value (one shell word,
//! one systemd argument, one ini/TOML string, one YAML scalar without interpolation) and never
//! adds a line, a key, a section or a command.
//!
//! Owns: quoting for every output syntax. May not: do IO or validate (validation did).
//!
//! | output | function | what it does |
//! |---|---|---|
//! | `/bin/sh` (cron line, `sh -c` script) | [`shell`] | POSIX quoting (shlex) |
//! | cron line | [`cron_line`] | `%` → `\%` (cron turns `%` into a newline + stdin) |
//! | systemd `ExecStart=` words, `Environment=` | [`systemd_word`] | `%` → `%%`, `$` → `$$`, `"…"` with C escapes |
//! | systemd single-value settings (`WorkingDirectory=`, `Description=`) | [`systemd_value`] | `%` → `%%`, control chars → `\xNN` shown literally |
//! | TOML string (`influxdb.conf`) | [`toml_string`] | basic string with escapes |
//! | Grafana ini (`grafana.ini`) | [`ini_value`] | backtick-quoted when not plain |
//! | compose file | [`compose`] | `$` → `$$` (compose interpolates `$VAR`) |
//! | Grafana provisioning YAML | [`grafana`] | `$` → `$$` (Grafana expands `$VAR`, `${VAR}`, `$__env{…}`) |
//! | `host:port` | [`host_port`] | IPv6 in brackets |

use std::fmt::Write as _;

/// Unicode format characters that change how the text around them reads without showing
/// themselves: zero-width, direction marks, embeddings, overrides and isolates, BOM, and the
/// Unicode line and paragraph separators. Free text refuses them (a title that reads
/// differently from what it holds), and a STOP page user name drops them.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// One POSIX shell word. Control characters cannot pass validation; a NUL (which no shell word
/// can hold) is dropped rather than passed on.
pub fn shell(s: &str) -> String {
    let cleaned: String = s.chars().filter(|&c| c != '\0').collect();
    shlex::try_quote(&cleaned)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| "''".to_string())
}

/// A crontab command field: `%` is cron's stdin/newline marker, written `\%`.
pub fn cron_line(command: &str) -> String {
    command.replace('%', "\\%")
}

fn systemd_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/._:@+,=-[]".contains(c)
}

/// One word of a systemd command line (`ExecStart=`): specifiers (`%`) and variables (`$`)
/// escaped, quoted with C escapes unless plain.
pub fn systemd_word(s: &str) -> String {
    systemd_quoted(&s.replace('$', "$$"))
}

/// An `Environment=` assignment `KEY=value` as one quoted word: `Environment=` expands
/// specifiers but not variables, so only `%` is escaped.
pub fn systemd_env(key: &str, value: &str) -> String {
    let word = systemd_quoted(&format!("{key}={value}"));
    if word.starts_with(['"', '\'']) {
        word
    } else {
        format!("\"{word}\"")
    }
}

fn systemd_quoted(s: &str) -> String {
    let escaped = s.replace('%', "%%");
    if !escaped.is_empty()
        && escaped
            .chars()
            .all(|c| systemd_plain(c) || c == '%' || c == '$')
    {
        return escaped;
    }
    // Single quotes (no escapes inside, as in sh) when they suffice, else double quotes with
    // C escapes. Either way systemd still resolves `%` and `$`, escaped above.
    if !escaped.contains(['\'', '\\']) && !escaped.chars().any(char::is_control) {
        return format!("'{escaped}'");
    }
    double_quoted(&escaped, systemd_hex)
}

/// A control character as systemd's `\xNN`.
fn systemd_hex(out: &mut String, c: char) {
    let _ = write!(out, "\\x{:02x}", u32::from(c) & 0xff);
}

/// `s` in double quotes with the C escapes systemd and TOML share (`\"`, `\\`, `\n`, `\t`);
/// every other control character is written by `control`.
fn double_quoted(s: &str, control: impl Fn(&mut String, char)) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => control(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value of a single-value systemd setting (`WorkingDirectory=`, `EnvironmentFile=`,
/// `Description=`): specifiers escaped; a control character (refused by validation) can never
/// end the line, it is shown as `\xNN`.
pub fn systemd_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%%"),
            c if c.is_control() => systemd_hex(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// A TOML basic string, quotes included.
pub fn toml_string(s: &str) -> String {
    double_quoted(s, |out, c| {
        if c == '\r' {
            out.push_str("\\r");
        } else {
            let _ = write!(out, "\\u{:04X}", u32::from(c));
        }
    })
}

/// A value of Grafana's ini file (go-ini). Plain values are written as they are; anything else
/// is wrapped in backticks, which go-ini reads literally (no comment, no continuation). A
/// backtick or control character (refused by validation) is dropped, so the value cannot close
/// the quoting or end the line.
pub fn ini_value(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._:@+,=-{}$[]".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_string();
    }
    let inner: String = s.chars().filter(|&c| c != '`' && !c.is_control()).collect();
    format!("`{inner}`")
}

/// A value in a compose file: compose interpolates `$VAR` / `${VAR}` everywhere, `$$` is a `$`.
pub fn compose(s: &str) -> String {
    s.replace('$', "$$")
}

/// A value of a Grafana provisioning file that Grafana interpolates (`$VAR`, `${VAR}`,
/// `$__env{…}`, `$__file{…}`): `$$` is Grafana's literal `$` (values.go splits on `$$`). Not for
/// rule annotations, query models or templates, which Grafana leaves alone.
pub fn grafana(s: &str) -> String {
    s.replace('$', "$$")
}

/// `host:port`, with an IPv6 host in brackets.
pub fn host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_stay_one_word() {
        assert_eq!(
            shell("/usr/local/bin/promo-infra"),
            "/usr/local/bin/promo-infra"
        );
        let q = shell("/x; rm -rf / $(id) `id`");
        assert!(q.starts_with('\'') && q.ends_with('\''), "{q}");
        assert_eq!(shlex::split(&shell("a'b $x")).expect("words"), ["a'b $x"]);
    }

    #[test]
    fn systemd_words_escape_specifiers_variables_and_quotes() {
        assert_eq!(systemd_word("/opt/x"), "/opt/x");
        assert_eq!(systemd_word("/opt/100%"), "/opt/100%%");
        assert_eq!(systemd_word("$HOME"), "$$HOME");
        assert_eq!(systemd_word("a b\"c\\"), "\"a b\\\"c\\\\\"");
        assert_eq!(systemd_word("a b"), "'a b'");
        assert_eq!(systemd_word("a\nb"), "\"a\\nb\"");
        assert_eq!(systemd_value("a%b\nc"), "a%%b\\x0ac");
        assert_eq!(systemd_env("K", "http://h:1/$x%"), "\"K=http://h:1/$x%%\"");
        assert_eq!(systemd_env("K", "a b"), "'K=a b'");
    }

    #[test]
    fn toml_and_ini_strings_cannot_break_out() {
        assert_eq!(toml_string("a\"b\n[x]"), "\"a\\\"b\\n[x]\"");
        assert_eq!(toml_string("a\rb\u{1}"), "\"a\\rb\\u0001\"");
        assert_eq!(systemd_word("a\rb"), "\"a\\x0db\"");
        assert_eq!(ini_value("data/promo"), "data/promo");
        assert_eq!(ini_value("a b ; c"), "`a b ; c`");
        assert_eq!(ini_value("a`\nb"), "`ab`");
    }

    #[test]
    fn dollars_are_doubled_and_ipv6_bracketed() {
        assert_eq!(compose("a$b"), "a$$b");
        assert_eq!(grafana("$GF_X ${Y}"), "$$GF_X $${Y}");
        assert_eq!(host_port("::1", 8086), "[::1]:8086");
        assert_eq!(host_port("127.0.0.1", 8086), "127.0.0.1:8086");
    }
}
