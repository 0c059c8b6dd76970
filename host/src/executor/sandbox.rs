//! An instance's sandbox, built from its template: argv (`command` and
//! `args`), the environment (what wasmjob injects, then what the container
//! declares, with what its references resolved to), volumes (`hostPath`,
//! `emptyDir`, and the files of `configMap`, `secret`, `projected` and
//! `downwardAPI` volumes, mounted read-only), the memory limit and the
//! wall-clock deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::references::{Resolved, VolumeFile};
use crate::manifest::{Container, PodSpec, expansion};
use crate::runtime::{Mount, SandboxSpec};

/// Who an instance is, for the variables injected into its environment
/// (borrowed: it is built for every instance and only read).
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// The owning Job's name.
    pub job_name: &'a str,
    /// The instance's name (also `HOSTNAME`).
    pub instance_name: &'a str,
    /// Indexed Jobs.
    pub completion_index: Option<u32>,
    /// This node.
    pub node_name: &'a str,
    /// For a CronJob's run: its scheduled time (RFC 3339).
    pub scheduled_time: Option<&'a str>,
}

/// An instance's sandbox: its own, or the one its Job's relayed instances
/// share (built once by the runner, read by every executor thread, with
/// the instance's name given at each run). A sandbox of its own is built
/// on the runner's thread and dropped on an executor's, for every instance.
pub enum Sandbox {
    /// This instance's alone.
    Own(Box<SandboxSpec>),
    /// Its Job's, for the instance of this name.
    OfJob {
        /// The Job's sandbox (`instance_name_vars` set).
        spec: Arc<SandboxSpec>,
        /// The instance's name.
        instance_name: String,
    },
}

/// The directories of one attempt's volumes that the node makes: each
/// `emptyDir` once, shared by every container of the instance, and the
/// files of `configMap`, `secret`, `projected` and `downwardAPI` volumes.
/// All are removed when the attempt ends.
#[derive(Default)]
pub struct Scratch {
    empty_dirs: Vec<(String, tempfile::TempDir)>,
    files: Vec<tempfile::TempDir>,
    /// `hostPath` files, by the guest directory they appear in.
    host_files: Vec<HostFiles>,
    /// Where the instance's namespace's `persistentVolumeClaim`s are, one
    /// directory per claim; none where they cannot be used.
    claims: Option<PathBuf>,
}

/// The `hostPath` files (`type: File` or `FileOrCreate`) that appear in one
/// guest directory: copied into a directory of the attempt at its start,
/// and those not mounted read-only copied back when it ends (a sandbox sees
/// directories only, and the directory they are in on the host holds more
/// than the manifest gave).
pub struct HostFiles {
    guest_dir: String,
    dir: tempfile::TempDir,
    /// The host file, its name in `dir`, and whether it goes back.
    files: Vec<(PathBuf, String, bool)>,
}

impl Drop for HostFiles {
    fn drop(&mut self) {
        for (host, name, write_back) in &self.files {
            if !write_back {
                continue;
            }
            if let Err(e) = std::fs::copy(self.dir.path().join(name), host) {
                tracing::warn!("cannot copy hostPath file {} back: {e}", host.display());
            }
        }
    }
}

/// A directory an attempt made, removed when the attempt ends (host files
/// copied back first).
pub enum AttemptDir {
    /// A directory of its own.
    Temp(tempfile::TempDir),
    /// `hostPath` files.
    HostFiles(HostFiles),
}

impl Scratch {
    /// The scratch of an attempt in a namespace whose claims' directories
    /// are under `claims`.
    pub fn with_claims(claims: PathBuf) -> Scratch {
        Scratch {
            claims: Some(claims),
            ..Scratch::default()
        }
    }

    /// The `persistentVolumeClaim` `claim`'s directory, made at its first
    /// use; it outlives the attempt.
    fn claim_dir(&self, claim: &str) -> Result<PathBuf, String> {
        let root = self.claims.as_ref().ok_or_else(|| {
            format!("persistentVolumeClaim {claim:?} has no directory on this node")
        })?;
        let dir = root.join(claim);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the directory of claim {claim:?}: {e}"))?;
        Ok(dir)
    }

    /// The directories, to drop when the run ends.
    pub fn into_dirs(self) -> Vec<AttemptDir> {
        let empty = self
            .empty_dirs
            .into_iter()
            .map(|(_, d)| AttemptDir::Temp(d));
        let files = self.files.into_iter().map(AttemptDir::Temp);
        let host = self.host_files.into_iter().map(AttemptDir::HostFiles);
        empty.chain(files).chain(host).collect()
    }

    /// The attempt's directory holding `hostPath` file `host` as `name`
    /// in guest directory `guest_dir` (copied in now; made first for
    /// `FileOrCreate`).
    fn host_file(
        &mut self,
        guest_dir: &str,
        name: &str,
        (host, create, read_only): (&str, bool, bool),
    ) -> Result<PathBuf, String> {
        let host = PathBuf::from(host);
        if create && !host.exists() {
            if let Some(parent) = host.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create hostPath {}: {e}", host.display()))?;
            }
            std::fs::File::create(&host)
                .map_err(|e| format!("cannot create hostPath {}: {e}", host.display()))?;
        }
        if !host.is_file() {
            return Err(format!(
                "hostPath {} is not a file on this node",
                host.display()
            ));
        }
        let at = match self
            .host_files
            .iter()
            .position(|h| h.guest_dir == guest_dir)
        {
            Some(at) => at,
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("wasmjob-hostfiles-")
                    .tempdir()
                    .map_err(|e| format!("cannot make a directory for hostPath files: {e}"))?;
                self.host_files.push(HostFiles {
                    guest_dir: guest_dir.to_owned(),
                    dir,
                    files: Vec::new(),
                });
                self.host_files.len() - 1
            }
        };
        let group = &mut self.host_files[at];
        let inner = group.dir.path().join(name);
        if !group.files.iter().any(|(_, n, _)| n == name) {
            std::fs::copy(&host, &inner)
                .map_err(|e| format!("cannot read hostPath {}: {e}", host.display()))?;
            group.files.push((host, name.to_owned(), !read_only));
        }
        Ok(group.dir.path().to_path_buf())
    }

    /// The `emptyDir` `volume`'s directory, made at its first use.
    fn empty_dir(&mut self, volume: &str) -> Result<PathBuf, String> {
        if let Some((_, dir)) = self.empty_dirs.iter().find(|(name, _)| name == volume) {
            return Ok(dir.path().to_path_buf());
        }
        let dir = tempfile::Builder::new()
            .prefix("wasmjob-emptydir-")
            .tempdir()
            .map_err(|e| format!("cannot create emptyDir {volume:?}: {e}"))?;
        let path = dir.path().to_path_buf();
        self.empty_dirs.push((volume.to_owned(), dir));
        Ok(path)
    }
}

/// Builds the sandbox of one instance of `pod` (its first container),
/// whose references (if it has any, see [`super::references`]) resolved to
/// `resolved`.
pub fn sandbox(
    pod: &PodSpec,
    who: &Identity<'_>,
    output_limit: usize,
    resolved: Option<&Resolved>,
) -> Result<(SandboxSpec, Vec<AttemptDir>), String> {
    let mut scratch = Scratch::default();
    let spec = sandbox_of(
        pod,
        &pod.containers[0],
        who,
        output_limit,
        resolved,
        &mut scratch,
    )?;
    Ok((spec, scratch.into_dirs()))
}

/// Builds the sandbox of `container`, one of `pod`'s, whose references
/// resolved to `resolved`; its volumes' directories go to `scratch`, where
/// the instance's other containers find the same `emptyDir`s.
pub fn sandbox_of(
    pod: &PodSpec,
    container: &Container,
    who: &Identity<'_>,
    output_limit: usize,
    resolved: Option<&Resolved>,
    scratch: &mut Scratch,
) -> Result<SandboxSpec, String> {
    let declared = declared_env(container, resolved);
    let env = environment(&declared, who, container.working_dir.as_deref());
    let mounts = mounts(pod, container, resolved, scratch)?;
    let mut spec = SandboxSpec::new(argv(container, &declared));
    // The injected names, unless declared: a spec built once for a Job
    // takes each instance's name there.
    let declared = |name: &str| container.env.iter().any(|v| v.name == name);
    spec.instance_name_vars = env
        .iter()
        .enumerate()
        .filter(|(_, (key, _))| matches!(key.as_str(), "HOSTNAME" | "INSTANCE_NAME"))
        .filter(|(_, (key, _))| !declared(key))
        .map(|(at, _)| at)
        .collect();
    spec.env = env;
    spec.mounts = mounts;
    if let Some(limit) = container.memory_limit() {
        spec.memory_limit = limit;
    }
    spec.deadline = pod
        .active_deadline_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64));
    spec.output_limit = output_limit;
    Ok(spec)
}

/// `command` (the container's name when there is none) then `args`, with
/// the container's variables' `$(NAME)` references expanded.
fn argv(container: &Container, declared: &[(String, String)]) -> Vec<String> {
    let lookup = |name: &str| value_of(declared, name);
    let mut argv = if container.command.is_empty() {
        vec![container.name.clone()]
    } else {
        (container.command.iter())
            .map(|c| expansion::expand(c, lookup))
            .collect()
    };
    argv.extend(container.args.iter().map(|a| expansion::expand(a, lookup)));
    argv
}

/// The container's `envFrom` variables, then its `env`, each value with
/// its references to the variables declared before it expanded (as the
/// kubelet does). A `valueFrom` takes its resolved value as it is; an
/// optional one that found nothing leaves its variable out.
fn declared_env(container: &Container, resolved: Option<&Resolved>) -> Vec<(String, String)> {
    let mut declared: Vec<(String, String)> = Vec::with_capacity(container.env.len());
    if let Some(resolved) = resolved {
        declared.extend(resolved.env_from.iter().cloned());
    }
    for (i, var) in container.env.iter().enumerate() {
        let value = match resolved.and_then(|r| r.env_values.get(&i)) {
            Some(Some(value)) => value.clone(),
            Some(None) => continue,
            None => expansion::expand(&var.value, |name| value_of(&declared, name)),
        };
        declared.push((var.name.clone(), value));
    }
    declared
}

/// The value of the last variable `name` of `declared` (a later one of
/// the same name wins, as in Kubernetes).
fn value_of<'a>(declared: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let found = declared.iter().rev().find(|(key, _)| key == name);
    found.map(|(_, value)| value.as_str())
}

/// What wasmjob injects (`JOB_NAME`, `HOSTNAME`, `INSTANCE_NAME`,
/// `NODE_NAME`, `JOB_COMPLETION_INDEX`, `SCHEDULED_TIME`, `PWD` for a
/// `workingDir`), then what the
/// container declares, which overrides an injected variable of its name.
fn environment(
    declared: &[(String, String)],
    who: &Identity<'_>,
    working_dir: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = Vec::with_capacity(6 + declared.len());
    env.extend([
        ("JOB_NAME".to_owned(), who.job_name.to_owned()),
        ("HOSTNAME".to_owned(), who.instance_name.to_owned()),
        ("INSTANCE_NAME".to_owned(), who.instance_name.to_owned()),
        ("NODE_NAME".to_owned(), who.node_name.to_owned()),
    ]);
    if let Some(index) = who.completion_index {
        env.push(("JOB_COMPLETION_INDEX".to_owned(), index.to_string()));
    }
    if let Some(time) = who.scheduled_time {
        env.push(("SCHEDULED_TIME".to_owned(), time.to_owned()));
    }
    if let Some(dir) = working_dir {
        env.push(("PWD".to_owned(), dir.to_owned()));
    }
    for (name, value) in declared {
        env.retain(|(k, _)| k != name);
        env.push((name.clone(), value.clone()));
    }
    env
}

/// The container's volume mounts, and the scratch directories of its
/// `emptyDir`s (removed when the run ends).
fn mounts(
    pod: &PodSpec,
    container: &Container,
    resolved: Option<&Resolved>,
    scratch: &mut Scratch,
) -> Result<Vec<Mount>, String> {
    let mut mounts = Vec::new();
    for mount in &container.volume_mounts {
        let volume = pod
            .volumes
            .iter()
            .find(|v| v.name == mount.name)
            .ok_or_else(|| format!("volume {:?} is not defined", mount.name))?;
        let files = resolved.and_then(|r| r.files.get(&volume.name));
        if let Some(files) = files {
            let dir = projected_dir(&volume.name, files)?;
            mounts.push(Mount {
                host: dir.path().to_path_buf(),
                guest: mount.mount_path.clone(),
                // As in Kubernetes: these volumes are always read-only.
                read_only: true,
            });
            scratch.files.push(dir);
            continue;
        }
        if let Some(host) = volume
            .host_path
            .as_ref()
            .filter(|h| matches!(h.kind.as_deref(), Some("File" | "FileOrCreate")))
        {
            let (guest_dir, name) = match mount.mount_path.rsplit_once('/') {
                Some(("", name)) => ("/", name),
                Some((dir, name)) => (dir, name),
                None => ("/", mount.mount_path.as_str()),
            };
            let create = host.kind.as_deref() == Some("FileOrCreate");
            let dir = scratch.host_file(guest_dir, name, (&host.path, create, mount.read_only))?;
            if !mounts.iter().any(|m: &Mount| m.guest == guest_dir) {
                mounts.push(Mount {
                    host: dir,
                    guest: guest_dir.to_owned(),
                    read_only: false,
                });
            }
            continue;
        }
        let mut read_only = mount.read_only;
        let host = match (&volume.host_path, &volume.persistent_volume_claim) {
            (Some(host), _) => host_path(&host.path, host.kind.as_deref())?,
            (None, Some(claim)) => {
                read_only |= claim.read_only;
                scratch.claim_dir(&claim.claim_name)?
            }
            (None, None) => scratch.empty_dir(&volume.name)?,
        };
        mounts.push(Mount {
            host,
            guest: mount.mount_path.clone(),
            read_only,
        });
    }
    // A directory of host files only mounted read-only is read-only.
    for group in &scratch.host_files {
        let read_only = group.files.iter().all(|(_, _, write_back)| !write_back);
        let here = mounts.iter_mut().filter(|m| m.host == group.dir.path());
        here.for_each(|m| m.read_only = read_only);
    }
    Ok(mounts)
}

/// A directory holding a volume's files (removed when the run ends).
fn projected_dir(volume: &str, files: &[VolumeFile]) -> Result<tempfile::TempDir, String> {
    let fail = |e: std::io::Error| format!("cannot write the files of volume {volume:?}: {e}");
    let dir = tempfile::Builder::new()
        .prefix("wasmjob-volume-")
        .tempdir()
        .map_err(fail)?;
    for file in files {
        let path = dir.path().join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        std::fs::write(&path, &file.bytes).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // The owner keeps read access: the node reads and removes it.
            let mode = std::fs::Permissions::from_mode(file.mode | 0o400);
            std::fs::set_permissions(&path, mode).map_err(fail)?;
        }
    }
    Ok(dir)
}

/// A `hostPath` volume's directory, made first for `DirectoryOrCreate`.
fn host_path(path: &str, kind: Option<&str>) -> Result<PathBuf, String> {
    let path = PathBuf::from(path);
    if kind == Some("DirectoryOrCreate") {
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create hostPath {}: {e}", path.display()))?;
    }
    if !path.is_dir() {
        return Err(format!(
            "hostPath {} is not a directory on this node",
            path.display()
        ));
    }
    Ok(path)
}
