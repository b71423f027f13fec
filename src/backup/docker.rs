//! Backups of an InfluxDB that runs in a container of the docker target, through the Engine
//! API only: no published RPC port, no shared mount, any absolute `backup.dir` on the host.
//!
//! - `backup run` (1.x): `influxd backup -portable -host 127.0.0.1:8088 -db <db> <tmp>` runs
//!   INSIDE the container (exec), into `/tmp/promo-infra-backup-<id>`; the directory is copied
//!   out as a tar (`GET /containers/<c>/archive`) into `<backup.dir>/<stack>/.tmp-<id>/`, where
//!   it is hashed and verified on the host like any backup; the container's copy is removed.
//! - `backup restore` (1.x): the verified files are uploaded as a tar
//!   (`PUT /containers/<c>/archive`) into `/tmp/promo-infra-restore-<id>`, `influxd restore
//!   -portable` runs inside the container, and the copy is removed.
//!
//! A command killed before removing its copy leaves it behind: the next `backup run`,
//! `backup restore` or `backup rotate` removes every copy whose command is not running, never
//! the copy of one running beside it ([`super::leftovers`]).
//! - InfluxDB 2.x speaks HTTP only: the host's `influx` CLI talks to the published port, as on
//!   the native target; the container is only checked (pre-flight).
//!
//! Every step is bounded: the pre-flight (engine reachable, container exists and runs) answers
//! in seconds; exec runs are bounded by [`super::Settings::timeout`].
//!
//! Owns: the Engine API calls of a backup or restore (inspect, exec, archive copy both ways).
//! May not: start its own async runtime (callers run these futures on the command's one
//! runtime), print, or read the environment (the engine address comes from
//! `targets::docker::engine`).

use std::io::Read;
use std::path::{Component, Path};
use std::time::Duration;

use bollard::Docker;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::targets::docker::engine;

/// The RPC address `influxd backup/restore` use inside the container: influxd 1.x's default
/// `bind-address`, which the container never publishes.
pub const CONTAINER_RPC: &str = "127.0.0.1:8088";

/// Seconds the pre-flight waits for the engine.
const PREFLIGHT_S: u64 = 5;

/// A container of the stack, reached through the Engine API.
#[derive(Debug, Clone)]
pub struct Container {
    /// Container name (`<stack>-influxdb-1`).
    pub name: String,
}

impl Container {
    /// Pre-flight: the engine answers and the container exists and runs. Fails within
    /// [`PREFLIGHT_S`] seconds with the cause and what to do.
    pub async fn preflight(&self) -> Result<()> {
        let docker = engine::connect()?;
        let inspect = tokio::time::timeout(
            Duration::from_secs(PREFLIGHT_S),
            docker.inspect_container(&self.name, None),
        )
        .await
        .map_err(|_| {
            Error::docker(format!(
                "the Docker engine at {} did not answer within {PREFLIGHT_S} s (inspecting container {})",
                engine::docker_host(),
                self.name
            ))
            .with_help("check that dockerd runs (`docker info`), or use --target native")
        })?;
        let info = match inspect {
            Ok(info) => info,
            Err(e) if engine::is_not_found(&e) => {
                return Err(Error::docker(format!(
                    "container {} does not exist: the stack's InfluxDB is not running on the docker target",
                    self.name
                ))
                .with_help("start the stack (`promo-infra apply`), or pass --target native if InfluxDB runs on this host"));
            }
            Err(e) => return Err(engine::read_error(&format!("inspecting {}", self.name), e)),
        };
        let state = info.state.unwrap_or_default();
        if state.running == Some(true) && state.restarting != Some(true) {
            return Ok(());
        }
        let status = state
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "not running".into());
        let exit = state
            .exit_code
            .filter(|c| *c != 0)
            .map(|c| format!(" (exit code {c})"))
            .unwrap_or_default();
        Err(Error::docker(format!(
            "InfluxDB is down: container {} is {status}{exit}",
            self.name
        ))
        .with_help(format!(
            "start it (`promo-infra apply`, or `docker start {}`); its logs: `docker logs {}`",
            self.name, self.name
        )))
    }

    /// Run `cmd` in the container, bounded by `timeout`. Returns the exit code and the combined
    /// output (stdout then stderr, as they came).
    pub async fn exec(&self, cmd: &[String], timeout: Duration) -> Result<(i64, String)> {
        let shown = cmd.join(" ");
        let docker = engine::connect()?;
        let fail = |what: &str, e: bollard::errors::Error| {
            engine::read_error(&format!("{what} `{shown}` in {}", self.name), e)
        };
        let created = docker
            .create_exec(
                &self.name,
                ExecConfig {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(cmd.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail("cannot create", e))?;
        let run = async {
            let mut output = String::new();
            match docker
                .start_exec(&created.id, None::<StartExecOptions>)
                .await
                .map_err(|e| fail("cannot start", e))?
            {
                StartExecResults::Attached {
                    output: mut out, ..
                } => {
                    while let Some(chunk) = out.next().await {
                        let chunk = chunk.map_err(|e| fail("lost the output of", e))?;
                        output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                    }
                }
                StartExecResults::Detached => {}
            }
            let code = docker
                .inspect_exec(&created.id)
                .await
                .map_err(|e| fail("cannot inspect", e))?
                .exit_code
                .unwrap_or(-1);
            Ok::<_, Error>((code, output))
        };
        tokio::time::timeout(timeout, run).await.map_err(|_| {
            Error::docker(format!(
                "`{shown}` in container {} did not finish within {} s",
                self.name,
                timeout.as_secs()
            ))
            .with_help("check the server's load and logs (`docker logs`), then run again")
        })?
    }

    /// Copy the directory `src` of the container into the existing host directory `dest`
    /// (its content, not the directory itself). Only regular files and directories are
    /// accepted; anything else in the archive is an error.
    pub async fn download_dir(&self, src: &str, dest: &Path) -> Result<()> {
        let bytes = {
            let docker: Docker = engine::connect()?;
            let mut stream = docker.download_from_container(
                &self.name,
                Some(DownloadFromContainerOptions { path: src.into() }),
            );
            let mut all = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| {
                    engine::read_error(&format!("copying {src} out of {}", self.name), e)
                })?;
                all.extend_from_slice(&chunk);
            }
            all
        };
        unpack(&bytes, dest).map_err(|detail| {
            Error::docker(format!(
                "the copy of {src} from container {} is not a plain directory of files: {detail}",
                self.name
            ))
        })
    }

    /// Upload the regular files `files` (names relative to `src`) of the host directory `src`
    /// into a new directory `/tmp/<name>` of the container.
    pub async fn upload_dir(&self, src: &Path, files: &[String], name: &str) -> Result<()> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = || -> std::io::Result<()> {
            let mut dir = tar::Header::new_gnu();
            dir.set_entry_type(tar::EntryType::Directory);
            dir.set_mode(0o700);
            dir.set_size(0);
            builder.append_data(&mut dir, format!("{name}/"), std::io::empty())?;
            for f in files {
                let mut file = std::fs::File::open(src.join(f))?;
                let mut data = Vec::new();
                file.read_to_end(&mut data)?;
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o600);
                h.set_size(data.len() as u64);
                builder.append_data(&mut h, format!("{name}/{f}"), data.as_slice())?;
            }
            Ok(())
        };
        add().map_err(|e| Error::io("cannot read", src, e))?;
        let archive = builder
            .into_inner()
            .map_err(|e| Error::io("cannot archive", src, e))?;
        let docker = engine::connect()?;
        docker
            .upload_to_container(
                &self.name,
                Some(UploadToContainerOptions {
                    path: "/tmp".into(),
                    ..Default::default()
                }),
                bollard::body_full(bytes::Bytes::from(archive)),
            )
            .await
            .map_err(|e| engine::read_error(&format!("copying the backup into {}", self.name), e))
    }

    /// The names in the container's directory `dir` (`ls -1A`, bounded).
    pub async fn list_dir(&self, dir: &str) -> Result<Vec<String>> {
        let cmd = ["ls".to_string(), "-1A".into(), dir.into()];
        let (code, output) = self.exec(&cmd, Duration::from_secs(30)).await?;
        if code != 0 {
            return Err(Error::docker(format!(
                "`ls -1A {dir}` in container {} exited with {code}: {}",
                self.name,
                output.trim()
            )));
        }
        Ok(output.lines().map(str::to_string).collect())
    }

    /// Remove a directory of the container (best effort, bounded: cleanup of our own copy).
    pub async fn remove_dir(&self, path: &str) {
        let _ = self
            .exec(
                &["rm".into(), "-rf".into(), path.into()],
                Duration::from_secs(30),
            )
            .await;
    }
}

/// Unpack a tar of one top directory into `dest`, dropping that top directory. Refuses links,
/// devices, absolute paths and `..`.
fn unpack(bytes: &[u8], dest: &Path) -> std::result::Result<(), String> {
    let mut archive = tar::Archive::new(bytes);
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let mut parts = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(p) => parts.push(p.to_os_string()),
                Component::CurDir => {}
                _ => return Err(format!("unsafe path `{}` in the archive", path.display())),
            }
        }
        // The first component is the directory itself.
        if parts.len() <= 1 {
            continue;
        }
        let rel: std::path::PathBuf = parts[1..].iter().collect();
        let target = dest.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                let mut out = std::fs::File::create(&target).map_err(|e| e.to_string())?;
                std::io::copy(&mut entry, &mut out).map_err(|e| e.to_string())?;
                out.sync_all().map_err(|e| e.to_string())?;
            }
            other => {
                return Err(format!(
                    "`{}` is a {other:?} entry, not a regular file",
                    rel.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").expect("link");
            }
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn unpack_drops_the_top_directory_and_keeps_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let tar = archive(&[
            ("b/", tar::EntryType::Directory, b""),
            ("b/x.manifest", tar::EntryType::Regular, b"{}"),
            ("b/x.s1.tar.gz", tar::EntryType::Regular, b"data"),
        ]);
        unpack(&tar, dir.path()).expect("unpack");
        assert_eq!(
            std::fs::read(dir.path().join("x.s1.tar.gz")).expect("file"),
            b"data"
        );
        assert!(dir.path().join("x.manifest").is_file());
        assert!(!dir.path().join("b").exists());
    }

    #[test]
    fn unpack_refuses_links_and_parent_paths() {
        let dir = tempfile::tempdir().expect("tmp");
        let tar = archive(&[("b/evil", tar::EntryType::Symlink, b"")]);
        let err = unpack(&tar, dir.path()).expect_err("symlink");
        assert!(err.contains("`evil` is a Symlink entry"), "{err}");
        assert!(!dir.path().join("evil").exists());
    }
}
