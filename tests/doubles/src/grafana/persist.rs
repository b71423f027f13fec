//! The only state the Grafana double keeps across runs: the admin user's password, in the
//! `[paths] data` directory, so that (as in Grafana, whose user lives in `grafana.db`)
//! `admin_password` from the configuration applies only on the first start of a data dir.
//!
//! The file holds a salted SHA-256 of the password, never the password. May not: touch anything
//! outside the data dir, print, read the environment.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name inside the data dir.
pub const FILE: &str = "grafana-double-admin.json";

/// The stored admin credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRecord {
    pub login: String,
    pub salt: String,
    pub sha256: String,
}

impl AdminRecord {
    pub fn new(login: &str, password: &str, salt: String) -> Self {
        let sha256 = digest(&salt, password);
        Self {
            login: login.to_owned(),
            salt,
            sha256,
        }
    }

    pub fn matches(&self, password: &str) -> bool {
        digest(&self.salt, password) == self.sha256
    }
}

fn digest(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// The record of an earlier start, if the data dir has one.
pub fn load(data_dir: &Path) -> Result<Option<AdminRecord>, String> {
    let p = path(data_dir);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!(
                "{}: not a Grafana double admin record ({e}); remove it to start the data dir afresh",
                p.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

/// Writes the record (mode 0600), creating the data dir if needed.
pub fn save(data_dir: &Path, rec: &AdminRecord) -> Result<(), String> {
    let p = path(data_dir);
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", p.display());
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    let body = serde_json::to_vec_pretty(rec).map_err(|e| format!("cannot encode {FILE}: {e}"))?;
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(fail)?;
    f.write_all(&body).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, &p).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_verify_only_their_password_and_hold_no_plaintext() {
        let r = AdminRecord::new("admin", "s3cret-pw", "salt1".into());
        assert!(r.matches("s3cret-pw"));
        assert!(!r.matches("s3cret-pw "));
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("s3cret-pw"), "{text}");
        assert_ne!(
            r.sha256,
            AdminRecord::new("admin", "s3cret-pw", "salt2".into()).sha256
        );
    }
}
