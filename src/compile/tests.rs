//! Unit tests of `compile`: each target's resources from one manifest.

use super::*;

fn loaded() -> Loaded {
    let text = include_str!("../../stacks/promo.yaml");
    Loaded {
        manifest: crate::manifest::parse("stacks/promo.yaml", text).expect("manifest"),
        source: crate::error::Source::new("stacks/promo.yaml", text),
        rel_path: "stacks/promo.yaml".into(),
    }
}

fn kinds(d: &Desired) -> Vec<String> {
    d.resources
        .values()
        .map(|r| {
            let what = match &r.spec {
                ResourceSpec::Service(_) => "container",
                ResourceSpec::Process(_) => "process",
                ResourceSpec::Network { .. } => "network",
                ResourceSpec::Volume { .. } => "volume",
                ResourceSpec::Database(_) => "database",
                ResourceSpec::Token(_) => "token",
                ResourceSpec::Folder(_)
                | ResourceSpec::Dashboard(_)
                | ResourceSpec::Datasource(_)
                | ResourceSpec::Alerting(_) => "grafana",
            };
            format!("{what} {}", r.id)
        })
        .collect()
}

/// Fails on the old code: `compile_for(cloud)` returned the docker containers, and native
/// resources were built by clearing docker's.
#[test]
fn each_target_gets_its_own_resources_and_the_same_files() {
    let (l, t) = (loaded(), Templates::builtin());
    let values = SecretValues::default();
    let docker = compile_for(&l, &t, &values, TargetKind::Docker).expect("docker");
    let native = compile_for(&l, &t, &values, TargetKind::Native).expect("native");
    let cloud = compile_for(&l, &t, &values, TargetKind::Cloud).expect("cloud");
    assert_eq!(docker.files, native.files);
    assert_eq!(docker.files, cloud.files);
    let hashes = |d: &Desired| {
        d.resources
            .values()
            .map(|r| r.hash.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        hashes(&compile(&l, &t, &values).expect("default")),
        hashes(&docker)
    );
    let docker = kinds(&docker);
    assert!(
        docker.iter().all(|k| !k.starts_with("process")),
        "{docker:?}"
    );
    assert!(
        docker.iter().any(|k| k.starts_with("network")),
        "{docker:?}"
    );
    assert!(
        docker.iter().any(|k| k.starts_with("database")),
        "{docker:?}"
    );
    let native = kinds(&native);
    assert!(
        native
            .iter()
            .all(|k| ["process", "database", "token", "grafana"]
                .iter()
                .any(|p| k.starts_with(p))),
        "{native:?}"
    );
    // Both run a Grafana: the folder and every dashboard are API-managed, after it.
    for kinds in [&docker, &native] {
        assert!(
            kinds.contains(&"grafana folder.promo".to_string()),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&"grafana dashboard.promo-marketing".to_string()),
            "{kinds:?}"
        );
    }
    assert_eq!(
        kinds(&cloud),
        [
            "database database.k6-metrics",
            "token token.grafana-read",
            "token token.k6-write",
            "grafana datasource.promo-influxdb",
            "grafana folder.promo",
            "grafana dashboard.k6-technical",
            "grafana dashboard.promo-marketing",
            "grafana alerting.contact_point.promo-slack",
            "grafana alerting.policy.promo",
            "grafana alerting.rule_group.promo-k6",
            "grafana alerting.template.promo-messages",
        ]
    );
    // Grafana is no resource of the cloud stack: nothing waits for one.
    assert!(
        cloud
            .resources
            .values()
            .all(|r| r.depends_on.iter().all(|d| cloud.resources.contains_key(d))),
        "every dependency is a resource of the stack"
    );
}
