//! The native target's files and processes: `influxd` and `grafana` run on this host from
//! generated configuration, plus systemd units for production hosts. Paths inside the files are
//! relative to the project directory or go through `$__env{PROMO_INFRA_PROJECT_DIR}`, so the
//! output stays identical on every machine.
//!
//! Owns: the native config files, process specs and systemd units.
//! May not: do IO, read the environment, or start anything (the native target does).

use std::collections::BTreeMap;

use super::{escape, grafana, services};
use crate::desired::{EnvValue, GeneratedFile, ProcessSpec};
use crate::manifest::Manifest;
use crate::secrets;

/// Environment variable the native target sets to the absolute project directory.
pub const PROJECT_DIR_ENV: &str = "PROMO_INFRA_PROJECT_DIR";

/// Grafana's provisioning tree of the native target, under `generated/<stack>/`.
pub const PROVISIONING: &str = "native/grafana/provisioning";
/// The same tree with the Slack-less alerting file, read when the webhook is not set.
pub const PROVISIONING_WITHOUT_SLACK: &str = "native/grafana/provisioning-without-slack";

/// The native Grafana of a stack whose Slack webhook is not set (allowed in preprod): no webhook
/// variable, and a `cfg:paths.provisioning` override (Grafana applies command-line overrides
/// before expanding `$__env{}`) pointing at [`PROVISIONING_WITHOUT_SLACK`]. Returns whether the
/// process was changed. A no-op when the stack has no Slack contact point or the webhook is set.
pub fn without_unset_slack(
    m: &Manifest,
    p: &mut ProcessSpec,
    values: &crate::secrets::SecretValues,
) -> bool {
    let Some(env) = grafana::slack_webhook_env(m) else {
        return false;
    };
    if p.name != "grafana" || values.get(env).is_some() {
        return false;
    }
    p.env.remove(env);
    p.args.push(format!(
        "cfg:paths.provisioning=$__env{{{PROJECT_DIR_ENV}}}/generated/{}/{PROVISIONING_WITHOUT_SLACK}",
        *m.stack
    ));
    true
}

/// InfluxDB 1.x RPC (backup/restore) address: `backup.influx_rpc`, else InfluxDB's default.
pub fn influx_rpc(m: &Manifest) -> String {
    m.backup.as_ref().map_or_else(
        || "127.0.0.1:8088".to_string(),
        |b| b.influx_rpc.to_string(),
    )
}

/// What a native process listens on besides its HTTP `url`, as `(manifest key, host:port)`:
/// InfluxDB 1.x's RPC bind (backup/restore), which `apply`'s port pre-flight checks too.
pub fn other_binds(m: &Manifest, service: &str) -> Vec<(&'static str, String)> {
    if service == "influxdb" && *m.influxdb.version == 1 {
        vec![("backup.influx_rpc", influx_rpc(m))]
    } else {
        Vec::new()
    }
}

/// `<data_dir>/<stack>`, relative to the project directory.
pub fn data_dir(m: &Manifest) -> String {
    format!(
        "{}/{}",
        m.targets.native.data_dir.trim_end_matches('/'),
        *m.stack
    )
}

/// Address of the InfluxDB HTTP API as this host reaches it.
pub fn influx_url(m: &Manifest) -> String {
    crate::net::reachable_url(&m.influxdb.bind, super::valid_port(*m.influxdb.port))
}

/// Address of Grafana's HTTP API as this host reaches it (not `grafana.url`, which is where
/// people reach it).
pub fn grafana_url(m: &Manifest) -> String {
    crate::net::reachable_url(&m.grafana.bind, super::valid_port(*m.grafana.port))
}

fn generated(m: &Manifest, rel: &str) -> String {
    format!("generated/{}/{rel}", *m.stack)
}

/// Files of the native target, by path under `generated/<stack>/`.
pub fn files(
    m: &Manifest,
    header: &str,
    alerting: Option<&String>,
    alerting_without_slack: Option<&String>,
) -> BTreeMap<String, GeneratedFile> {
    let mut out = BTreeMap::new();
    let mut add = |p: &str, t: String| {
        out.insert(p.to_string(), GeneratedFile::text(t));
    };
    if *m.influxdb.version == 1 {
        add("native/influxdb.conf", influxdb_conf(m, header));
    }
    add(
        "native/grafana.ini",
        grafana_ini(m, &header.replace("# ", "; ").replace("#\n", ";\n")),
    );
    let datasource = grafana::datasource(m, &influx_url(m), header);
    add(
        &format!("{PROVISIONING}/datasources/promo-infra.yaml"),
        datasource.clone(),
    );
    if let Some(a) = alerting {
        add(
            &format!("{PROVISIONING}/alerting/promo-infra.yaml"),
            a.clone(),
        );
    }
    // The provisioning tree Grafana reads when the Slack webhook is not set (preprod): the same
    // datasource, the Slack-less alerting file (see
    // `grafana::alerting_without_slack`). The process is pointed at it by `without_unset_slack`.
    if let Some(a) = alerting_without_slack {
        add(
            &format!("{PROVISIONING_WITHOUT_SLACK}/datasources/promo-infra.yaml"),
            datasource,
        );
        add(
            &format!("{PROVISIONING_WITHOUT_SLACK}/alerting/promo-infra.yaml"),
            a.clone(),
        );
    }
    for p in processes(m) {
        add(
            &format!("systemd/promo-infra-{}-{}.service", *m.stack, p.name),
            systemd_unit(m, &p, header),
        );
    }
    out
}

fn influxdb_conf(m: &Manifest, header: &str) -> String {
    let d = data_dir(m);
    format!(
        "{header}reporting-disabled = true\n\
         bind-address = {rpc}\n\n\
         [meta]\n  dir = {meta}\n\n\
         [data]\n  dir = {data}\n  wal-dir = {wal}\n  query-log-enabled = false\n\n\
         [http]\n  bind-address = {http}\n  auth-enabled = true\n  log-enabled = false\n\n\
         [monitor]\n  store-enabled = false\n",
        rpc = escape::toml_string(&influx_rpc(m)),
        meta = escape::toml_string(&format!("{d}/influxdb/meta")),
        data = escape::toml_string(&format!("{d}/influxdb/data")),
        wal = escape::toml_string(&format!("{d}/influxdb/wal")),
        http = escape::toml_string(&escape::host_port(&m.influxdb.bind, *m.influxdb.port)),
    )
}

fn grafana_ini(m: &Manifest, header: &str) -> String {
    let d = format!("$__env{{{PROJECT_DIR_ENV}}}/{}", data_dir(m));
    let g = format!("$__env{{{PROJECT_DIR_ENV}}}/generated/{}", *m.stack);
    let v = escape::ini_value;
    format!(
        "{header}[paths]\ndata = {}\nlogs = {}\nplugins = {}\nprovisioning = {}\n\n\
         [server]\nhttp_addr = {}\nhttp_port = {}\nroot_url = {}\n\n\
         [security]\nadmin_user = {}\nadmin_password = $__env{{{}}}\nsecret_key = $__env{{{}}}\ndisable_gravatar = true\n\n\
         [auth.anonymous]\nenabled = false\n\n[users]\nallow_sign_up = false\n\n\
         [analytics]\nreporting_enabled = false\ncheck_for_updates = false\n",
        v(&format!("{d}/grafana")),
        v(&format!("{d}/grafana/log")),
        v(&format!("{d}/grafana/plugins")),
        v(&format!("{g}/{PROVISIONING}")),
        v(&m.grafana.bind),
        *m.grafana.port,
        v(&services::grafana_url(m)),
        v(&m.grafana.admin_user),
        secrets::GRAFANA_ADMIN_PASSWORD,
        secrets::GRAFANA_SECRET_KEY,
    )
}

/// The processes of the stack, sorted by name.
pub fn processes(m: &Manifest) -> Vec<ProcessSpec> {
    let d = data_dir(m);
    let mut out = Vec::new();
    let influx_args = if *m.influxdb.version == 1 {
        vec!["-config".to_string(), generated(m, "native/influxdb.conf")]
    } else {
        vec![
            "--bolt-path".into(),
            format!("{d}/influxdb/influxd.bolt"),
            "--engine-path".into(),
            format!("{d}/influxdb/engine"),
            "--http-bind-address".into(),
            escape::host_port(&m.influxdb.bind, *m.influxdb.port),
            "--reporting-disabled".into(),
        ]
    };
    out.push(ProcessSpec {
        name: "influxdb".into(),
        program: "influxd".into(),
        args: influx_args,
        env: BTreeMap::new(),
        health_url: format!("{}/ping", influx_url(m)),
        url: influx_url(m),
        depends_on: Vec::new(),
        config_digest: BTreeMap::new(),
        reload_digest: BTreeMap::new(),
    });
    let mut genv = BTreeMap::new();
    for s in [secrets::GRAFANA_ADMIN_PASSWORD, secrets::GRAFANA_SECRET_KEY] {
        genv.insert(s.to_string(), EnvValue::Secret(s.into()));
    }
    let ds_secret = if *m.influxdb.version == 2 {
        secrets::INFLUX_GRAFANA_TOKEN
    } else {
        secrets::INFLUX_V1_READ_PASSWORD
    };
    genv.insert(ds_secret.into(), EnvValue::Secret(ds_secret.into()));
    // The same login as grafana.ini's; apply reloads provisioning as this user.
    genv.insert(
        "GF_SECURITY_ADMIN_USER".into(),
        EnvValue::Plain(m.grafana.admin_user.to_string()),
    );
    if let Some(slack) = m.alerting.as_ref().and_then(|a| a.slack.as_ref()) {
        genv.insert(
            slack.webhook_url_env.to_string(),
            EnvValue::Secret(slack.webhook_url_env.to_string()),
        );
    }
    let grafana_local = grafana_url(m);
    out.push(ProcessSpec {
        name: "grafana".into(),
        program: "grafana".into(),
        args: vec![
            "server".into(),
            "--config".into(),
            generated(m, "native/grafana.ini"),
            "--homepath".into(),
            m.targets.native.grafana_homepath.to_string(),
        ],
        env: genv,
        health_url: format!("{grafana_local}/api/health"),
        url: services::grafana_url(m),
        depends_on: vec!["influxdb".into()],
        config_digest: BTreeMap::new(),
        reload_digest: BTreeMap::new(),
    });
    if *m.control_api.enabled {
        let mut cenv = BTreeMap::new();
        for s in [
            secrets::CONTROL_API_TOKEN,
            secrets::CONTROL_API_STOP_PASSWORD,
        ] {
            cenv.insert(s.to_string(), EnvValue::Secret(s.into()));
        }
        cenv.insert(
            "PROMO_INFRA_CORS_ORIGIN".into(),
            EnvValue::Plain(services::grafana_url(m)),
        );
        cenv.insert(
            "PROMO_INFRA_GRAFANA_URL".into(),
            EnvValue::Plain(grafana_local),
        );
        // Credentials of the control API's "stopped by hand" Grafana annotation.
        cenv.insert(
            "PROMO_INFRA_GRAFANA_USER".into(),
            EnvValue::Plain(m.grafana.admin_user.to_string()),
        );
        cenv.insert(
            secrets::GRAFANA_ADMIN_PASSWORD.into(),
            EnvValue::Secret(secrets::GRAFANA_ADMIN_PASSWORD.into()),
        );
        cenv.insert(
            "PROMO_INFRA_LOCALE".into(),
            EnvValue::Plain(m.locale.to_string()),
        );
        cenv.insert(
            "PROMO_INFRA_STACK".into(),
            EnvValue::Plain(m.stack.to_string()),
        );
        let listen = escape::host_port(&m.control_api.bind, *m.control_api.port);
        out.push(ProcessSpec {
            name: "control-api".into(),
            program: "promo-infra".into(),
            args: vec!["control-api".into(), "--listen".into(), listen],
            env: cenv,
            health_url: format!("{}/health", services::control_api_url(m)),
            url: services::control_api_url(m),
            depends_on: vec!["grafana".into()],
            config_digest: BTreeMap::new(),
            reload_digest: BTreeMap::new(),
        });
    }
    out
}

fn systemd_unit(m: &Manifest, p: &ProcessSpec, header: &str) -> String {
    let project = m.targets.native.project_dir.as_str();
    let exec = match p.program.as_str() {
        "influxd" => "/usr/bin/influxd".to_string(),
        "grafana" => format!("{}/bin/grafana", m.targets.native.grafana_homepath.as_str()),
        _ => m.backup.as_ref().map_or_else(
            || "/usr/local/bin/promo-infra".to_string(),
            |b| b.binary.to_string(),
        ),
    };
    let plain_env: String = p
        .env
        .iter()
        .filter_map(|(k, v)| match v {
            EnvValue::Plain(v) => Some(format!("Environment={}\n", escape::systemd_env(k, v))),
            EnvValue::Secret(_) => None,
        })
        .collect();
    let unset = unused_secrets(m, p);
    let unset = if unset.is_empty() {
        String::new()
    } else {
        format!("UnsetEnvironment={}\n", unset.join(" "))
    };
    let args: Vec<String> = std::iter::once(exec.as_str())
        .chain(p.args.iter().map(String::as_str))
        .map(escape::systemd_word)
        .collect();
    // `network-online.target` then the units it depends on, one space apart (none trailing).
    let after: String = std::iter::once("network-online.target".to_string())
        .chain(
            p.depends_on
                .iter()
                .map(|d| format!("promo-infra-{}-{d}.service", *m.stack)),
        )
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "{header}[Unit]\n\
         Description=promo-infra stack {stack}: {name}\n\
         Wants={after}\n\
         After={after}\n\n\
         [Service]\n\
         Type=simple\n\
         WorkingDirectory={project_value}\n\
         # Secrets come from the stack's .env (mode 0600), never from this file; those this\n\
         # service does not read are unset (least privilege).\n\
         EnvironmentFile={env_file}\n\
         {unset}\
         Environment={project_env}\n\
         {plain_env}\
         ExecStart={args}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         NoNewPrivileges=true\n\n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        stack = *m.stack,
        name = p.name,
        project_value = escape::systemd_value(project),
        env_file = escape::systemd_value(&format!("{project}/generated/{}/.env", *m.stack)),
        project_env = escape::systemd_env(PROJECT_DIR_ENV, project),
        args = args.join(" "),
    )
}

/// The `.env` keys of the stack that `p` does not read — every secret of the catalog, every
/// token apply mints, and the value a rotation keeps pending (`PROMO_INFRA_ROTATING_*`) of each
/// — sorted: the unit unsets them after loading the whole file (`UnsetEnvironment=`), so a
/// service gets only its own secrets, as a container gets only the variables its compose
/// service names. A key added to `.env` by hand is not known here and still reaches every unit.
pub fn unused_secrets(m: &Manifest, p: &ProcessSpec) -> Vec<String> {
    let names: std::collections::BTreeSet<String> = secrets::catalog(m)
        .into_iter()
        .map(|s| s.name)
        .chain(secrets::minted(m).into_iter().map(|(n, _)| n.to_string()))
        .collect();
    let pending = names.iter().map(|n| secrets::pending_name(n));
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| !p.env.contains_key(n.as_str()))
        .cloned()
        .chain(pending)
        .collect();
    out.sort();
    out
}
