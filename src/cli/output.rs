//! Human output on stdout: colour only when the terminal wants it (anstream honours NO_COLOR).

use std::io::Write;

use anstyle::{AnsiColor, Style};

/// Writer for command output.
pub struct Out {
    w: anstream::Stdout,
}

const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default();
const BOLD: Style = Style::new().bold();

impl Out {
    /// On stdout.
    pub fn stdout() -> Self {
        Self {
            w: anstream::stdout(),
        }
    }

    /// A plain line.
    pub fn line(&mut self, text: &str) {
        let _ = writeln!(self.w, "{text}");
    }

    /// Text exactly as given.
    pub fn raw(&mut self, text: &str) {
        let _ = write!(self.w, "{text}");
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
    pub fn change(&mut self, symbol: char, text: &str) {
        let style = match symbol {
            '+' => GREEN,
            '-' => RED,
            _ => YELLOW,
        };
        let _ = writeln!(self.w, "  {style}{symbol}{style:#} {text}");
    }

    /// A unified diff, coloured per line.
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

    /// An aligned table.
    pub fn table(&mut self, headers: &[&str], rows: Vec<Vec<String>>) {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let fmt_row = |cells: Vec<&str>| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let _ = writeln!(self.w, "{BOLD}{}{BOLD:#}", fmt_row(headers.to_vec()));
        for row in &rows {
            let _ = writeln!(
                self.w,
                "{}",
                fmt_row(row.iter().map(String::as_str).collect())
            );
        }
    }
}
