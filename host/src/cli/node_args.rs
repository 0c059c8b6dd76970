//! The arguments of the verbs that run instances on this machine: `serve`
//! (the node) and `run` (one-shot Jobs), with the instance pool's flags they
//! share.

use std::path::PathBuf;

use super::args::{OutputFormat, TemplateArgs};
use crate::api;

// `wasmjob serve`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the API (HTTPS with a CA made in the state directory;
    /// `<state dir>/kubeconfig` tells kubectl how to reach it).
    #[arg(long, default_value = api::DEFAULT_LISTEN, value_name = "ADDRESS")]
    pub listen: String,
    /// Serve the API over plain HTTP instead of TLS (kubectl sends no
    /// token over plain HTTP: use it only behind a proxy that adds TLS).
    #[arg(long)]
    pub plain_http: bool,
    /// Also serve `/metrics` (Prometheus' text format) on this address,
    /// over plain HTTP and without the token, for scrapers; `/metrics` on
    /// the API's address always works with the token.
    #[arg(long, value_name = "ADDRESS")]
    pub metrics_listen: Option<String>,
    /// This node's name [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// This node's labels, as k=v,k2=v2.
    #[arg(long, value_name = "LABELS")]
    pub labels: Option<String>,
    /// This node's taints, as key=value:Effect,key2:Effect.
    #[arg(long, value_name = "TAINTS")]
    pub taints: Option<String>,
    /// How long running instances may take to finish on SIGTERM.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub shutdown_grace: String,
    /// Output kept per instance.
    #[arg(long, default_value = "1Mi", value_name = "QUANTITY")]
    pub max_log_size: String,
    /// Instances that may run at once on this node; more wait, and start
    /// in priority order (priorityClassName) as room comes free.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_instances: u32,
    /// `--memory-reservation`.
    #[command(flatten)]
    pub pool: PoolArgs,
    /// Refuse manifests with fields the sandbox would ignore (which are
    /// otherwise accepted with a warning), as apply --strict does.
    #[arg(long)]
    pub strict: bool,
    /// Run only registry images under these registries or repository
    /// prefixes (ghcr.io/team,127.0.0.1:5000); the node pulls each to check
    /// its digest, and refuses modules from files.
    #[arg(long, value_name = "PREFIXES", value_delimiter = ',')]
    pub allowed_registries: Vec<String>,
    /// Pod Security levels of a namespace that sets none of its own, as
    /// MODE=LEVEL,… (enforce=baseline,warn=restricted; modes enforce, warn,
    /// audit and their -version) [default: privileged, as Kubernetes].
    #[arg(long, value_name = "LEVELS")]
    pub pod_security_defaults: Option<String>,
    /// kube-apiserver's AdmissionConfiguration file: its PodSecurity
    /// plugin's defaults and exempt namespaces (instead of
    /// --pod-security-defaults).
    #[arg(long, value_name = "FILE", conflicts_with = "pod_security_defaults")]
    pub admission_control_config_file: Option<PathBuf>,
    /// Extended resources this node has, as name=count,… (nvidia.com/gpu=2):
    /// instances asking for them start only while enough are free.
    #[arg(long, value_name = "RESOURCES")]
    pub resources: Option<String>,
    /// First restart delay of a DaemonSet instance that exits; it doubles
    /// at each exit in a row (the kubelet's CrashLoopBackOff).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub crash_loop_initial: String,
    /// Longest restart delay of a DaemonSet instance that keeps exiting.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub crash_loop_max: String,
    /// Join the cluster in this PostgreSQL database (postgres://…) instead
    /// of keeping everything in the state directory's SQLite file; every
    /// node given the same database is one cluster.
    #[arg(long, value_name = "URL", env = "WASMJOB_STORE")]
    pub store: Option<String>,
    /// Cluster: how often this node heartbeats and looks for work.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub heartbeat: String,
    /// Cluster: a node silent for longer is NotReady and its work moves.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub node_grace: String,
    /// `--audit-*`.
    #[command(flatten)]
    pub audit: AuditArgs,
}

// The audit log's flags, named as kube-apiserver names them.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Where the audit log goes (audit.k8s.io/v1 Events, JSON lines, mode
    /// 0600) [default: <state dir>/audit/audit.log]; `none` keeps none.
    #[arg(long = "audit-log-path", value_name = "FILE")]
    pub path: Option<String>,
    /// Past this many MiB the log is rotated to audit-<time>.log.
    #[arg(long = "audit-log-maxsize", default_value_t = 100, value_name = "MiB")]
    pub max_size: u64,
    /// Rotated logs kept.
    #[arg(long = "audit-log-maxbackup", default_value_t = 5, value_name = "N")]
    pub max_backup: usize,
    /// An audit.k8s.io/v1 Policy: which requests are recorded, at which
    /// level [default: every change and every refusal at Metadata, reads
    /// not at all].
    #[arg(long = "audit-policy-file", value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

/// The audit log `serve` will open: read from the flags (a bad policy is
/// bad input at once), opened once the state directory is known writable.
pub struct AuditPlan {
    path: PathBuf,
    max_bytes: u64,
    max_backups: usize,
    policy: crate::access::audit_policy::Policy,
}

impl AuditPlan {
    /// Opens the log.
    pub fn open(self) -> Result<crate::api::audit::AuditLog, super::CliError> {
        crate::api::audit::AuditLog::open(&self.path, self.max_bytes, self.max_backups, self.policy)
            .map_err(|e| {
                super::CliError::Other(anyhow::anyhow!(
                    "cannot open the audit log {}: {e} (--audit-log-path FILE, or none)",
                    self.path.display()
                ))
            })
    }
}

impl AuditArgs {
    /// The audit log these flags ask for; none for `none`.
    pub fn plan(&self, state_dir: &std::path::Path) -> Result<Option<AuditPlan>, super::CliError> {
        use crate::access::audit_policy::Policy;
        let path = match self.path.as_deref() {
            Some("none") => return Ok(None),
            Some(path) => PathBuf::from(path),
            None => state_dir.join("audit").join(crate::api::audit::FILE),
        };
        let policy = match &self.policy {
            None => Policy::default(),
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    super::CliError::BadInput(format!(
                        "--audit-policy-file {}: {e}",
                        file.display()
                    ))
                })?;
                Policy::parse(&text).map_err(|e| {
                    super::CliError::BadInput(format!(
                        "--audit-policy-file {}: {e}",
                        file.display()
                    ))
                })?
            }
        };
        Ok(Some(AuditPlan {
            path,
            max_bytes: self.max_size.max(1) << 20,
            max_backups: self.max_backup,
            policy,
        }))
    }
}

// `wasmjob run`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Manifest file(s) holding Jobs (several documents per file allowed).
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the finished Jobs and their instances instead of output and summary.
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
    /// Do not show the instances' output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output kept per instance; past it the log ends with a truncation marker.
    #[arg(long, default_value = "1Mi", value_name = "QUANTITY")]
    pub max_log_size: String,
    /// The node name instances see in NODE_NAME [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// `--set` and `--expand`.
    #[command(flatten)]
    pub templates: TemplateArgs,
    /// `--memory-reservation`.
    #[command(flatten)]
    pub pool: PoolArgs,
}

// The instance pool's flags, shared by serve and run.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct PoolArgs {
    /// Address space the instance pool may reserve in all, as a quantity
    /// (64Gi): for devices whose address space is small (a 39-bit arm64
    /// kernel gives a process 256Gi; the default pool of 256 instances
    /// reserves 4Gi per linear memory, over 2Ti). Each memory is then
    /// bounded to its share, and guests' memory accesses are bounds-checked
    /// in code.
    #[arg(long, value_name = "QUANTITY", env = "WASMJOB_MEMORY_RESERVATION")]
    pub memory_reservation: Option<String>,
}

impl PoolArgs {
    /// The reservation in bytes, if one was given.
    pub fn reservation(&self) -> Result<Option<u64>, super::CliError> {
        let Some(text) = &self.memory_reservation else {
            return Ok(None);
        };
        let bytes = crate::manifest::parse_memory_quantity(text)
            .map_err(|e| super::CliError::BadInput(format!("--memory-reservation: {e}")))?;
        Ok(Some(bytes))
    }

    /// The runtime's configuration for `max_instances` at once, caching
    /// compiled modules under `cache_dir`; a reservation too small for them
    /// is bad input.
    pub fn runtime_config(
        &self,
        cache_dir: PathBuf,
        max_instances: u32,
    ) -> Result<crate::runtime::RuntimeConfig, super::CliError> {
        let config = crate::runtime::RuntimeConfig {
            cache_dir: Some(cache_dir),
            max_instances,
            memory_reservation: self.reservation()?,
        };
        config
            .pool_plan()
            .map_err(|e| super::CliError::BadInput(e.to_string()))?;
        Ok(config)
    }
}
