//! Unit tests of the planner.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::desired::{Resource, ResourceKind, ResourceSpec};

fn desired(name: &str) -> Desired {
    Desired::of([Resource::new(
        ResourceId::new(ResourceKind::Network, "net"),
        Vec::new(),
        ResourceSpec::Network { name: name.into() },
        &BTreeMap::new(),
    )])
}

use super::observed_as_applied as observed_from;

#[test]
fn nothing_observed_creates_everything() {
    let p = plan(&desired("s_net"), &Observed::default(), "docker", false);
    assert_eq!(
        p.summary(),
        Summary {
            add: 1,
            change: 0,
            destroy: 0,
            check: 0
        }
    );
    assert!(render(&p).contains("Plan: 1 to add, 0 to change, 0 to destroy."));
}

#[test]
fn observed_as_desired_is_empty() {
    let d = desired("s_net");
    let p = plan(&d, &observed_from(&d), "docker", false);
    assert!(p.is_empty());
    assert!(render(&p).starts_with("No changes."));
}

#[test]
fn a_changed_field_replaces_with_a_field_diff() {
    let before = desired("s_old");
    let p = plan(&desired("s_net"), &observed_from(&before), "docker", false);
    let Action::Replace { changes } = &p.steps[0].action else {
        panic!("replace expected")
    };
    assert_eq!(
        changes,
        &vec![FieldChange {
            path: "name".into(),
            before: Some("\"s_old\"".into()),
            after: Some("\"s_net\"".into()),
            sensitive: false,
            forces_replacement: true,
        }]
    );
    assert_eq!(
        p.summary(),
        Summary {
            add: 1,
            change: 0,
            destroy: 1,
            check: 0
        }
    );
}

#[test]
fn secrets_diff_by_fingerprint_and_never_show_values() {
    let b = json!({"env": {"PW": {"secret": "PW", "fingerprint": "aaa"}, "X": "1"}});
    let a = json!({"env": {"PW": {"secret": "PW", "fingerprint": "bbb"}, "X": "1"}});
    let changes = diff(&b, &a);
    assert_eq!(
        changes,
        vec![FieldChange {
            path: "env.PW".into(),
            before: None,
            after: None,
            sensitive: true,
            forces_replacement: false,
        }]
    );
    assert!(diff(&b, &b).is_empty());
}

#[test]
fn undeclared_resources_need_prune() {
    let d = desired("s_net");
    let mut o = observed_from(&d);
    let extra = ResourceId::new(ResourceKind::Volume, "old");
    o.resources.insert(
        extra.clone(),
        ObservedResource {
            id: extra.clone(),
            hash: None,
            canonical: Value::Null,
            converged: true,
        },
    );
    let kept = plan(&d, &o, "docker", false);
    assert!(kept.is_empty());
    assert_eq!(kept.undeclared, vec![extra.clone()]);
    assert!(render(&kept).contains("--prune"));
    let pruned = plan(&d, &o, "docker", true);
    assert_eq!(pruned.steps, vec![Step::new(extra, Action::Delete)]);
}

#[test]
fn stopped_resource_is_started() {
    let d = desired("s_net");
    let mut o = observed_from(&d);
    o.resources.values_mut().for_each(|r| r.converged = false);
    let p = plan(&d, &o, "docker", false);
    assert_eq!(
        p.summary(),
        Summary {
            add: 0,
            change: 1,
            destroy: 0,
            check: 0
        }
    );
}

/// Fails without the rule (`--prune` planned the old network's delete, which the engine
/// refuses half-way through the apply): a network the stack no longer declares, with
/// containers that are not the stack's attached to it, is kept and the plan names them.
#[test]
fn prune_keeps_a_network_that_containers_not_of_the_stack_use_and_says_so() {
    let d = desired("s_net");
    let mut o = observed_from(&d);
    let old = ResourceId::new(ResourceKind::Network, "old-net");
    o.resources.insert(
        old.clone(),
        ObservedResource::found(
            &old,
            ResourceSpec::Network {
                name: "s_old-net".into(),
            },
        ),
    );
    let pruned = plan(&d, &o, "docker", true);
    assert_eq!(pruned.steps, vec![Step::new(old.clone(), Action::Delete)]);
    let used = InUse {
        id: old.clone(),
        network: "s_old-net".into(),
        containers: vec!["k6-a".into(), "k6-b".into()],
    };
    o.attached.insert(old.clone(), used.clone());
    // Attached containers on the declared network change nothing either.
    let net = ResourceId::new(ResourceKind::Network, "net");
    o.attached.insert(
        net.clone(),
        InUse {
            id: net,
            network: "s_net".into(),
            containers: vec!["k6-c".into()],
        },
    );
    let kept = plan(&d, &o, "docker", true);
    assert!(kept.steps.is_empty());
    assert_eq!(kept.in_use, vec![used]);
    assert_eq!(
        render(&kept),
        "No changes. Stack `s` on target docker matches the configuration.\n\
         Warning: network.old-net is kept, not destroyed: containers k6-a, k6-b are attached to it and not the stack's (promo-infra never stops nor detaches it). Stop them (`docker stop k6-a k6-b`) or detach each (`docker network disconnect s_old-net k6-a`, `docker network disconnect s_old-net k6-b`), then `promo-infra apply --prune` destroys it.\n"
    );
    // Without --prune it is kept anyway, as any undeclared resource.
    let unpruned = plan(&d, &o, "docker", false);
    assert_eq!(
        (unpruned.steps.len(), unpruned.undeclared, unpruned.in_use),
        (0, vec![old], vec![])
    );
}
