//! What `k6 run` checks before k6 starts, and only warns about: the InfluxDB k6 writes to
//! answers, the credential its Grafana annotations need is there (the STOP button's control
//! API is `stop.rs`).
//!
//! Owns: that check and its warning's words. May not: print (the caller's [`Note`] does), stop
//! the run.

use super::run::Note;

/// Say so before k6 starts when the InfluxDB it writes to does not answer: k6 would run the
/// whole test, its points lost, the dashboard empty. Any HTTP answer will do (a 401 or 404 is
/// a server that answers); only a refused or timed-out connection warns. Whether it answered.
pub(super) async fn warn_unless_influx_answers(
    url: &str,
    cli: &str,
    target: crate::targets::TargetKind,
    note: &(dyn Fn(Note) + Sync),
) -> bool {
    let ping = format!("{url}/ping");
    let client = crate::net::client_for(url)
        .timeout(std::time::Duration::from_secs(3))
        .build();
    let answer = match client {
        Ok(c) => c.get(&ping).send().await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = answer {
        // `apply` starts the InfluxDB of a stack that runs here, never InfluxDB Cloud's.
        let fix = match target {
            crate::targets::TargetKind::Docker => format!("start the stack first (`{cli} apply`)"),
            crate::targets::TargetKind::Cloud => format!(
                "check targets.cloud.influx_url in the manifest and that the service answers \
                 (`{cli} status --target cloud`)"
            ),
            other => format!(
                "start the stack first (`{cli} apply --target {}`)",
                other.as_str()
            ),
        };
        note(Note::Warn(format!(
            "InfluxDB does not answer at {url} ({}): k6 will run but its points will be lost \
             and the dashboard will stay empty; {fix}",
            crate::net::describe_request_error(e)
        )));
        return false;
    }
    true
}

/// Why a run is not annotated: the credential [`super::report`]'s Grafana client logs in with is missing — on
/// the cloud target the token of `targets.cloud.grafana_token_env` (provided by the user:
/// `env_file` or the environment), elsewhere the generated `GRAFANA_ADMIN_PASSWORD` of
/// `env_file`, which Grafana's data keeps: put back as it was, not made again (`cli`: the
/// `promo-infra` of the user's command line).
pub(super) fn annotations_unset(
    m: &crate::manifest::Manifest,
    target: crate::targets::TargetKind,
    env_file: &std::path::Path,
    cli: &str,
) -> String {
    if target == crate::targets::TargetKind::Cloud {
        let Some(cloud) = crate::compile::cloud::endpoints(m) else {
            return "no Grafana annotations: the manifest has no `targets.cloud`".into();
        };
        let name = &cloud.grafana_token_env;
        return format!(
            "no Grafana annotations: {name} is set neither in the environment nor in {}; {} \
             (a Grafana service-account token, role Admin, as the cloud target's apply needs)",
            env_file.display(),
            crate::secrets::add_or_export(name, "glsa_…", env_file)
        );
    }
    let name = crate::secrets::GRAFANA_ADMIN_PASSWORD;
    format!(
        "no Grafana annotations: {name} is not in {}; put back the line the stack was \
         applied with (Grafana's data keeps its admin password), or, on a stack never applied, \
         run `{cli} generate`",
        env_file.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::TargetKind;

    /// Fails on the old warning, which told a cloud stack's user to start InfluxDB Cloud with
    /// `apply --target cloud`: there it names the manifest's URL and `status`.
    #[tokio::test]
    async fn an_influxdb_that_does_not_answer_is_started_here_and_checked_in_the_cloud() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port(); // let go: nothing listens there
        let url = format!("http://127.0.0.1:{port}");
        let fix = async |target| {
            let said = std::sync::Mutex::new(Vec::new());
            let note = |n: Note| said.lock().expect("lock").push(n);
            warn_unless_influx_answers(&url, "promo-infra -f s.yaml", target, &note).await;
            let said = said.into_inner().expect("lock");
            match said.as_slice() {
                [Note::Warn(w)] => w.split_once("; ").map(|(_, f)| f.to_string()),
                _ => None,
            }
        };
        assert_eq!(
            fix(TargetKind::Cloud).await.as_deref(),
            Some(
                "check targets.cloud.influx_url in the manifest and that the service answers \
                 (`promo-infra -f s.yaml status --target cloud`)"
            )
        );
        assert_eq!(
            fix(TargetKind::Native).await.as_deref(),
            Some("start the stack first (`promo-infra -f s.yaml apply --target native`)")
        );
    }

    /// Fails on the old warning, which named GRAFANA_ADMIN_PASSWORD on every target and no
    /// file: on the cloud target the token the manifest names, with where to put it.
    #[test]
    fn the_no_annotations_warning_names_the_targets_credential_and_the_env_file() {
        let text = include_str!("../../stacks/promo-v1.yaml").replace(
            "targets:\n  docker: { network: monitoring-net }\n",
            "targets:\n  cloud:\n    grafana_url: https://s.grafana.net\n    grafana_token_env: G_TOKEN\n    influx_url: https://i.example\n    influx_token_env: I_TOKEN\n",
        );
        let m = crate::manifest::parse("stacks/promo-v1.yaml", &text).expect("manifest");
        let env = std::path::Path::new("./generated/promo-v1/.env");
        assert_eq!(
            annotations_unset(&m, TargetKind::Cloud, env, "promo-infra"),
            "no Grafana annotations: G_TOKEN is set neither in the environment nor in \
             ./generated/promo-v1/.env; add `G_TOKEN=glsa_…` to ./generated/promo-v1/.env or \
             export G_TOKEN (a Grafana service-account token, role Admin, as the cloud target's apply needs)"
        );
        assert_eq!(
            annotations_unset(&m, TargetKind::Native, env, "promo-infra -C /srv"),
            "no Grafana annotations: GRAFANA_ADMIN_PASSWORD is not in ./generated/promo-v1/.env; \
             put back the line the stack was applied with (Grafana's data keeps its admin \
             password), or, on a stack never applied, run `promo-infra -C /srv generate`"
        );
    }
}
