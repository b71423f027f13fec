//! Backup scheduling: the `/etc/cron.d` file and the systemd service + timer.

use crate::manifest::{Backup, Manifest, cron};

/// Name shared by the cron file, the units and the lock (`promo-infra-<stack>-backup`).
/// cron.d ignores file names with dots, so there are none.
pub fn unit_name(m: &Manifest) -> String {
    format!("promo-infra-{}-backup", *m.stack)
}

/// The shell command a scheduled backup runs: `backup run` then `backup rotate`, under one
/// non-blocking `flock` (exit 75 = a previous run still holds the lock).
fn command(m: &Manifest, b: &Backup, manifest_path: &str) -> String {
    let bin = b.binary.as_str();
    format!(
        "/usr/bin/flock -n -E 75 /run/lock/{}.lock /bin/sh -c '{bin} backup run -f {manifest_path} && {bin} backup rotate -f {manifest_path}'",
        unit_name(m)
    )
}

/// `cron/promo-infra-<stack>-backup`, to install as `/etc/cron.d/promo-infra-<stack>-backup`.
pub fn cron_file(m: &Manifest, b: &Backup, manifest_path: &str, header: &str) -> String {
    // `%` starts stdin in a crontab line: escape every one.
    let cmd = command(m, b, manifest_path).replace('%', "\\%");
    format!(
        "{header}# Install: cp {name} /etc/cron.d/{name} (root-owned, mode 0644). Schedule in UTC.\n\
         SHELL=/bin/sh\n\
         PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         CRON_TZ=UTC\n\
         {schedule} {user} cd {dir} && {cmd}\n",
        name = unit_name(m),
        schedule = b.schedule.split_whitespace().collect::<Vec<_>>().join(" "),
        user = b.user.as_str(),
        dir = b.project_dir.as_str(),
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
        dir = b.project_dir.as_str(),
        cmd = command(m, b, manifest_path),
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
        schedule = b.schedule.as_str(),
        name = unit_name(m),
    )
}
