//! The order of a stack's services by their dependencies (`depends_on` of containers and
//! processes): dependencies first to start or restart them, dependents first to stop them.
//!
//! Owns: how deep a service stands below the others, and the two orders made of it.
//! May not: do IO.

use std::collections::BTreeMap;

use super::{Desired, ResourceSpec};

/// Which way [`dependency_order`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// A service after everything it depends on (InfluxDB, Grafana, the control API).
    DependenciesFirst,
    /// A service before everything it depends on (the control API, Grafana, InfluxDB).
    DependentsFirst,
}

impl Desired {
    /// What each service of the stack (container or process) depends on, by name.
    pub fn service_dependencies(&self) -> BTreeMap<String, Vec<String>> {
        self.resources
            .values()
            .filter_map(|r| match &r.spec {
                ResourceSpec::Service(s) => Some((s.name.clone(), s.depends_on.clone())),
                ResourceSpec::Process(p) => Some((p.name.clone(), p.depends_on.clone())),
                _ => None,
            })
            .collect()
    }
}

/// `names` in `order` of the longest chain of dependencies below each in `deps` (a service →
/// the services it depends on), counting only the services `deps` names; ties by name. A
/// dependency cycle cannot hang it.
pub fn dependency_order(
    deps: &BTreeMap<String, Vec<String>>,
    names: impl IntoIterator<Item = String>,
    order: Order,
) -> Vec<String> {
    fn depth(deps: &BTreeMap<String, Vec<String>>, name: &str, seen: &mut Vec<String>) -> usize {
        if seen.iter().any(|s| s == name) {
            return 0;
        }
        seen.push(name.to_string());
        let d = deps
            .get(name)
            .into_iter()
            .flatten()
            .filter(|n| deps.contains_key(*n))
            .map(|n| 1 + depth(deps, n, seen))
            .max()
            .unwrap_or(0);
        seen.pop();
        d
    }
    let mut ordered: Vec<(usize, String)> = names
        .into_iter()
        .map(|n| (depth(deps, &n, &mut Vec::new()), n))
        .collect();
    match order {
        Order::DependenciesFirst => ordered.sort(),
        Order::DependentsFirst => ordered.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1))),
    }
    ordered.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(n, d)| {
                (
                    (*n).to_string(),
                    d.iter().map(|s| (*s).to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn dependencies_start_first_and_dependents_stop_first() {
        let d = deps(&[
            ("influxdb", &[]),
            ("grafana", &["influxdb"]),
            ("control-api", &["grafana"]),
        ]);
        let all = || d.keys().cloned();
        assert_eq!(
            dependency_order(&d, all(), Order::DependenciesFirst),
            ["influxdb", "grafana", "control-api"]
        );
        assert_eq!(
            dependency_order(&d, all(), Order::DependentsFirst),
            ["control-api", "grafana", "influxdb"]
        );
    }

    #[test]
    fn a_cycle_or_an_unknown_dependency_still_gives_every_name_once() {
        let d = deps(&[("a", &["b"]), ("b", &["a"]), ("c", &["gone"])]);
        for order in [Order::DependenciesFirst, Order::DependentsFirst] {
            let mut ordered = dependency_order(&d, d.keys().cloned(), order);
            ordered.sort();
            assert_eq!(ordered, ["a", "b", "c"]);
        }
    }
}
