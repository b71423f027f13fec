//! Backup scheduling: the `/etc/cron.d` file and the systemd service + timer.
//!
//! Owns: the backup cron line and units. May not: do IO, or put a secret in a cron line.

use super::escape;
use crate::manifest::{Backup, Manifest, cron};

/// Name shared by the cron file, the units and the lock (`promo-infra-<stack>-backup`).
/// cron.d ignores file names with dots, so there are none.
pub fn unit_name(m: &Manifest) -> String {
    format!("promo-infra-{}-backup", *m.stack)
}

/// Which target a scheduled `backup run` backs up: the cron file is for the default (docker)
/// layout, the systemd units sit beside the native target's units on production hosts.
#[derive(Debug, Clone, Copy)]
enum Scheduler {
    Cron,
    Systemd,
}

/// The `sh -c` script a scheduled backup runs: `backup run` then `backup rotate`, every
/// manifest-derived word shell-quoted.
fn script(b: &Backup, manifest_path: &str, scheduler: Scheduler) -> String {
    let bin = escape::shell(&b.binary);
    let path = escape::shell(manifest_path);
    let target = match scheduler {
        Scheduler::Cron => "docker",
        Scheduler::Systemd => "native",
    };
    format!(
        "{bin} backup run --target {target} -f {path} && {bin} backup rotate --target {target} -f {path}"
    )
}

/// The command as argv: the script under one non-blocking `flock` (exit 75 = a previous run
/// still holds the lock).
fn argv(m: &Manifest, b: &Backup, manifest_path: &str, scheduler: Scheduler) -> Vec<String> {
    [
        "/usr/bin/flock",
        "-n",
        "-E",
        "75",
        &format!("/run/lock/{}.lock", unit_name(m)),
        "/bin/sh",
        "-c",
        &script(b, manifest_path, scheduler),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The schedule as one line of single-spaced fields (validation refuses anything else).
fn schedule_text(b: &Backup) -> String {
    b.schedule.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `cron/promo-infra-<stack>-backup`, to install as `/etc/cron.d/promo-infra-<stack>-backup`.
pub fn cron_file(m: &Manifest, b: &Backup, manifest_path: &str, header: &str) -> String {
    // A shell command line (cron runs it with /bin/sh), then `%` escaped for cron itself.
    let shell_line = argv(m, b, manifest_path, Scheduler::Cron)
        .iter()
        .map(|w| escape::shell(w))
        .collect::<Vec<_>>()
        .join(" ");
    let cmd = escape::cron_line(&format!(
        "cd {} && {shell_line}",
        escape::shell(&b.project_dir)
    ));
    format!(
        "{header}# Install: cp {name} /etc/cron.d/{name} (root-owned, mode 0644). Schedule in UTC.\n\
         SHELL=/bin/sh\n\
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         CRON_TZ=UTC\n\
         {schedule} {user} {cmd}\n",
        name = unit_name(m),
        schedule = schedule_text(b),
        user = b.user.as_str(),
    )
}

/// `systemd/promo-infra-<stack>-backup.service`.
pub fn service_unit(m: &Manifest, b: &Backup, manifest_path: &str, header: &str) -> String {
    format!(
        "{header}[Unit]\n\
         Description=promo-infra backup of stack {stack} (run, then rotate)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         User={user}\n\
         WorkingDirectory={dir}\n\
         ExecStart={cmd}\n",
        stack = *m.stack,
        user = b.user.as_str(),
        dir = escape::systemd_value(&b.project_dir),
        cmd = argv(m, b, manifest_path, Scheduler::Systemd)
            .iter()
            .map(|w| escape::systemd_word(w))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `systemd/promo-infra-<stack>-backup.timer`.
pub fn timer_unit(m: &Manifest, b: &Backup, header: &str) -> String {
    let calendars = cron::parse(&b.schedule)
        .map(|c| c.to_systemd())
        .unwrap_or_default();
    let on_calendar: String = calendars
        .iter()
        .map(|c| format!("OnCalendar={c}\n"))
        .collect();
    format!(
        "{header}[Unit]\n\
         Description=Schedule of the promo-infra backup of stack {stack} (cron: {schedule})\n\
         \n\
         [Timer]\n\
         {on_calendar}\
         Persistent=true\n\
         Unit={name}.service\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
        stack = *m.stack,
        schedule = escape::systemd_value(&schedule_text(b)),
        name = unit_name(m),
    )
}
