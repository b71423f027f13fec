use std::collections::BTreeMap;

use super::*;

/// The default stack's Grafana (InfluxDB 2: it takes the minted `INFLUXDB_GRAFANA_TOKEN`).
fn grafana(fingerprints: &BTreeMap<String, String>) -> Resource {
    let m = crate::manifest::parse("promo.yaml", include_str!("../../stacks/promo.yaml"))
        .expect("the default stack parses");
    let spec = crate::compile::services::services(&m)
        .into_iter()
        .find(|s| s.name == "grafana")
        .expect("grafana");
    Resource::new(
        ResourceId::new(ResourceKind::Service, "grafana"),
        Vec::new(),
        ResourceSpec::Service(Box::new(spec)),
        fingerprints,
    )
}

#[test]
fn a_token_minted_during_apply_gives_the_hash_the_next_plan_computes() {
    let kept = (
        crate::secrets::GRAFANA_ADMIN_PASSWORD.to_string(),
        "f-kept".to_string(),
    );
    let minted = crate::secrets::INFLUX_GRAFANA_TOKEN.to_string();
    let planned = grafana(&BTreeMap::from([kept.clone()]));
    let next = grafana(&BTreeMap::from([kept, (minted.clone(), "f-new".into())]));
    assert_ne!(
        planned.hash, next.hash,
        "the token is in Grafana's environment"
    );
    let created = planned.with_fingerprints(&BTreeMap::from([(minted, "f-new".into())]));
    assert_eq!(
        (created.hash, created.canonical),
        (next.hash, next.canonical)
    );
    // A name the resource does not hold changes nothing.
    let same = planned.with_fingerprints(&BTreeMap::from([("OTHER".into(), "x".into())]));
    assert_eq!(same.hash, planned.hash);
}
