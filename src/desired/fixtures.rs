//! Test fixtures of the model: a stack of given resources, a bare process.

use std::collections::BTreeMap;

use super::{Desired, ProcessSpec, Resource};

impl Desired {
    /// A stack `s` of these resources and no files.
    pub(crate) fn of(resources: impl IntoIterator<Item = Resource>) -> Self {
        let mut d = Self {
            stack: "s".into(),
            ..Self::default()
        };
        resources.into_iter().for_each(|r| d.add(r));
        d
    }
}

impl ProcessSpec {
    /// Service `name` running the program `name` with nothing else: no arguments,
    /// environment, URLs, dependencies or digests.
    pub(crate) fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            program: name.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            health_url: String::new(),
            url: String::new(),
            depends_on: Vec::new(),
            config_digest: BTreeMap::new(),
            reload_digest: BTreeMap::new(),
        }
    }
}
