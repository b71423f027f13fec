//! Human output on stdout: colour only when the terminal wants it (anstream honours NO_COLOR and
//! `--no-color`), aligned tables (comfy-table), human sizes (bytesize), JSON.
//!
//! Owns: the look of a line (✓, warning:, +/-/~ symbols, diffs, tables).
//! May not: decide what is printed (that is `cli::print`), read the environment, write files.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use comfy_table::{CellAlignment, Table, TableStyle};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ops::FORMAT_VERSION;
use crate::plan::FILE_DIFF_INDENT;

/// Writer for command output: stdout, or any writer (tests).
pub struct Out<W: Write = anstream::Stdout> {
    w: W,
}

const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default();
const BOLD: Style = Style::new().bold();

/// Spaces between two table columns.
const COLUMN_GAP: u16 = 2;

impl Out {
    /// On stdout.
    pub fn stdout() -> Self {
        Self {
            w: anstream::stdout(),
        }
    }
}

impl Out<anstream::Stderr> {
    /// On stderr (warnings of a command whose stdout is data, such as CSV).
    pub fn stderr() -> Self {
        Self {
            w: anstream::stderr(),
        }
    }
}

impl<W: Write> Out<W> {
    /// On `w` (tests read what a printer wrote).
    #[cfg(test)]
    pub fn new(w: W) -> Self {
        Self { w }
    }

    /// The writer back.
    #[cfg(test)]
    pub fn into_inner(self) -> W {
        self.w
    }

    /// A plain line.
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.w, "{text}");
    }

    /// Text exactly as given.
    pub fn raw(&mut self, text: &str) {
        let _ = write!(self.w, "{text}");
    }

    /// `body` as a versioned JSON document when `json`, else `print`ed for people.
    pub fn json_or<T: Serialize>(
        &mut self,
        json: bool,
        body: &T,
        print: impl FnOnce(&mut Self, &T),
    ) -> Result<()> {
        if json {
            self.versioned_json(body)
        } else {
            print(self, body);
            Ok(())
        }
    }

    /// A JSON document of the versioned formats (`plan`, `status`): `format_version` first, then
    /// the fields of `body`. README "JSON output" documents each; a field is never removed or
    /// changed in meaning without a new major version.
    pub fn versioned_json(&mut self, body: &impl Serialize) -> Result<()> {
        #[derive(Serialize)]
        struct Versioned<'a, T> {
            format_version: &'static str,
            #[serde(flatten)]
            body: &'a T,
        }
        self.json(&Versioned {
            format_version: FORMAT_VERSION,
            body,
        })
    }

    /// `value` as pretty JSON.
    pub fn json(&mut self, value: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Error::internal(format!("cannot serialize the output as JSON: {e}")))?;
        self.line(&text);
        Ok(())
    }

    /// A success line.
    pub fn ok(&mut self, text: &str) {
        let _ = writeln!(self.w, "{GREEN}✓{GREEN:#} {text}");
    }

    /// A warning line.
    pub fn warn(&mut self, text: &str) {
        let _ = writeln!(self.w, "{YELLOW}warning:{YELLOW:#} {text}");
    }

    /// A change line with a terraform-style symbol.
    /// A rendered plan, coloured like terraform's: the symbol of each resource and field line
    /// (`+` green, `-` red, `~` and `-/+` yellow) and `# forces replacement` in red. On a
    /// terminal only: anstream strips the styles otherwise (and for `NO_COLOR`/`--no-color`).
    pub fn plan(&mut self, text: &str) {
        for line in text.split_inclusive('\n') {
            // A generated file's diff, indented under its digest field: coloured as a diff.
            if let Some(diff_line) = line.strip_prefix(FILE_DIFF_INDENT) {
                let _ = write!(self.w, "{FILE_DIFF_INDENT}");
                self.diff(diff_line.trim_end_matches('\n'));
                continue;
            }
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            let (symbol, rest) = ["-/+ ", "+ ", "- ", "~ "]
                .iter()
                .find_map(|s| body.strip_prefix(s).map(|rest| (&s[..s.len() - 1], rest)))
                .unwrap_or(("", body));
            let style = match symbol {
                "+" => GREEN,
                "-" => RED,
                _ => YELLOW,
            };
            let (rest, forces) = match rest.strip_suffix(" # forces replacement\n") {
                Some(r) => (r, true),
                None => (rest, false),
            };
            if symbol.is_empty() {
                let _ = write!(self.w, "{line}");
                continue;
            }
            let _ = write!(self.w, "{indent}{style}{symbol}{style:#} {rest}");
            if forces {
                let _ = writeln!(self.w, " {RED}# forces replacement{RED:#}");
            }
        }
    }

    pub fn change(&mut self, symbol: char, text: &str) {
        let style = match symbol {
            '+' => GREEN,
            '-' => RED,
            _ => YELLOW,
        };
        let _ = writeln!(self.w, "  {style}{symbol}{style:#} {text}");
    }

    /// A unified diff, coloured per line (each line ends with a newline).
    pub fn diff(&mut self, diff: &str) {
        for line in diff.lines() {
            let style = if line.starts_with("+++") || line.starts_with("---") {
                BOLD
            } else if line.starts_with('+') {
                GREEN
            } else if line.starts_with('-') {
                RED
            } else {
                Style::new()
            };
            let _ = writeln!(self.w, "{style}{line}{style:#}");
        }
    }

    /// An aligned table without borders: a bold header, columns left-aligned and two spaces
    /// apart, no trailing spaces.
    pub fn table(&mut self, headers: &[&str], rows: Vec<Vec<String>>) {
        let mut table = Table::new();
        table.load_style(TableStyle::new());
        table.set_header(headers.to_vec()).add_rows(rows);
        for column in table.column_iter_mut() {
            column.set_padding((0, COLUMN_GAP));
            column.set_cell_alignment(CellAlignment::Left);
        }
        for (i, line) in table.lines().enumerate() {
            let line = line.trim_end();
            let style = if i == 0 { BOLD } else { Style::new() };
            let _ = writeln!(self.w, "{style}{line}{style:#}");
        }
    }
}

/// A size in IEC units, one decimal: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An `Out` on a buffer without colour codes, and how to read it back.
    pub(crate) fn plain() -> Out<anstream::StripStream<Vec<u8>>> {
        Out::new(anstream::StripStream::new(Vec::new()))
    }

    pub(crate) fn text(out: Out<anstream::StripStream<Vec<u8>>>) -> String {
        String::from_utf8(out.into_inner().into_inner()).expect("utf-8")
    }

    #[test]
    fn table_keeps_the_layout_of_the_hand_written_one() {
        let mut out = plain();
        out.table(
            &["NAME", "KIND", "USED BY"],
            vec![
                vec![
                    "GRAFANA_ADMIN_PASSWORD".into(),
                    "generated".into(),
                    "grafana".into(),
                ],
                vec!["SLACK".into(), "external".into(), String::new()],
            ],
        );
        assert_eq!(
            text(out),
            "NAME                    KIND       USED BY\n\
             GRAFANA_ADMIN_PASSWORD  generated  grafana\n\
             SLACK                   external\n"
        );
    }

    #[test]
    fn table_header_is_bold_on_a_colour_terminal() {
        let mut out = Out::new(Vec::new());
        out.table(&["A", "B"], vec![vec!["1".into(), "2".into()]]);
        let text = String::from_utf8(out.into_inner()).expect("utf-8");
        assert_eq!(text, format!("{BOLD}A  B{BOLD:#}\n1  2\n"));
    }

    #[test]
    fn sizes_are_iec_with_one_decimal() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn versioned_json_starts_with_the_format_version() {
        let mut out = plain();
        out.versioned_json(&serde_json::json!({"a": 1}))
            .expect("json");
        assert_eq!(
            text(out),
            "{\n  \"format_version\": \"1.0\",\n  \"a\": 1\n}\n"
        );
    }

    #[test]
    fn plans_are_coloured_on_a_terminal_and_identical_without_colour() {
        let text = "  # service.g must be replaced\n-/+ service.g\n      ~ image: \"a\" → \"b\" # forces replacement\n      + env.X: (sensitive)\n      ~ reload_digest.d: \"1\" → \"2\"\n          --- a/generated/s/d/a.yaml\n          +++ b/generated/s/d/a.yaml\n          @@ -1,2 +1,2 @@\n           - name: kept\n          -- old\n          +- new\n\nPlan: 1 to add, 0 to change, 1 to destroy.\n";
        let mut coloured = Out {
            w: anstream::StripStream::new(Vec::new()),
        };
        coloured.plan(text);
        assert_eq!(
            String::from_utf8(coloured.w.into_inner()).expect("utf8"),
            text,
            "stripped, the text is the plan"
        );
        let mut raw = Out { w: Vec::new() };
        raw.plan(text);
        let raw = String::from_utf8(raw.w).expect("utf8");
        assert!(raw.contains("\u{1b}[33m-/+\u{1b}[0m service.g"), "{raw:?}");
        assert!(
            raw.contains("\u{1b}[31m# forces replacement\u{1b}[0m\n"),
            "{raw:?}"
        );
        assert!(raw.contains("\u{1b}[32m+\u{1b}[0m env.X"), "{raw:?}");
        // A file's diff is coloured as a diff: a context line that starts with `- ` stays
        // plain; removed and added lines are red and green as whole lines.
        assert!(raw.contains("\n           - name: kept\n"), "{raw:?}");
        assert!(
            raw.contains("          \u{1b}[31m-- old\u{1b}[0m\n"),
            "{raw:?}"
        );
        assert!(
            raw.contains("          \u{1b}[32m+- new\u{1b}[0m\n"),
            "{raw:?}"
        );
    }

    #[test]
    fn json_is_pretty() {
        let mut out = plain();
        out.json(&serde_json::json!({"a": 1})).expect("json");
        assert_eq!(text(out), "{\n  \"a\": 1\n}\n");
    }
}
