//! `wasmjob serve`: one node — runner, executor and the HTTP API — until
//! SIGTERM or SIGINT, then a graceful drain.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::run::DATABASE_FILE;
use super::{CliError, ServeArgs};
use crate::access::admission_config::{self, PodSecurityAdmission};
use crate::access::pod_security::Levels;
use crate::api::TOKEN_FILE;
use crate::api::server::{ClusterAccess, NodeInfo, ServerState, router};
use crate::api::tls;
use crate::controller::daemonset::CrashLoop;
use crate::manifest::{HOSTNAME_LABEL, JobStatus, parse_memory_quantity};
use crate::oci::allowed::AllowedRegistries;
use crate::runner::{ClusterConfig, Command, Observer, Runner, RunnerConfig};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::secrets::{Keyring, SecretKey};
use crate::store::{InstanceRecord, Store};
use crate::time;

fn other(e: impl std::fmt::Display) -> CliError {
    CliError::Other(anyhow::anyhow!("{e}"))
}

/// The node's settings, read from its flags.
struct Settings {
    node_name: String,
    labels: BTreeMap<String, String>,
    /// `--shutdown-grace`.
    grace: Duration,
    cluster: Option<ClusterAccess>,
    heartbeat: Duration,
    config: RunnerConfig,
    /// `--strict`.
    strict: bool,
    /// The engine's settings (`--max-instances`, `--memory-reservation`).
    runtime: RuntimeConfig,
    /// `--audit-*`: the log to open once the store is (taken then).
    audit: Option<super::node_args::AuditPlan>,
}

impl Settings {
    fn parse(args: &ServeArgs, state_dir: &Path) -> Result<Settings, CliError> {
        fn bad(flag: &'static str) -> impl Fn(String) -> CliError {
            move |e| CliError::BadInput(format!("{flag}: {e}"))
        }
        let output_limit =
            parse_memory_quantity(&args.max_log_size).map_err(bad("--max-log-size"))?;
        let runtime = (args.pool).runtime_config(state_dir.join("cache"), args.max_instances)?;
        let heartbeat = parse_duration(&args.heartbeat).map_err(bad("--heartbeat"))?;
        let node_grace = parse_duration(&args.node_grace).map_err(bad("--node-grace"))?;
        if node_grace <= heartbeat {
            return Err(CliError::BadInput(format!(
                "--node-grace ({node_grace:?}) must be longer than --heartbeat ({heartbeat:?})"
            )));
        }
        let crash_loop = CrashLoop {
            initial: parse_duration(&args.crash_loop_initial)
                .map_err(bad("--crash-loop-initial"))?,
            max: parse_duration(&args.crash_loop_max).map_err(bad("--crash-loop-max"))?,
        };
        let mut labels = parse_labels(args.labels.as_deref().unwrap_or(""))?;
        let node_name = args.node_name.clone().unwrap_or_else(super::host_name);
        // As a kubelet does: a placement can name this node (and pins work
        // to it, see `spec.disconnect`).
        labels
            .entry(HOSTNAME_LABEL.to_owned())
            .or_insert_with(|| node_name.clone());
        let taints = crate::manifest::taints::parse_list(args.taints.as_deref().unwrap_or(""))
            .map_err(|e| CliError::BadInput(format!("--taints: {e}")))?;
        let cluster = cluster_url(args.store.as_deref())?.map(|url| ClusterAccess {
            url,
            grace: node_grace,
        });
        Ok(Settings {
            config: RunnerConfig {
                node_name: node_name.clone(),
                output_limit: output_limit as usize,
                node_labels: labels.clone(),
                node_taints: taints.clone(),
                capacity: Some(args.max_instances as usize),
                resources: parse_resources(args.resources.as_deref().unwrap_or(""))?,
                crash_loop,
                keyring: Arc::new(Keyring::new(state_dir)),
                allowed_registries: AllowedRegistries::parse(&args.allowed_registries)
                    .map_err(|e| CliError::BadInput(format!("--allowed-registries: {e}")))?,
                pod_security: pod_security(args)?,
            },
            grace: parse_duration(&args.shutdown_grace).map_err(bad("--shutdown-grace"))?,
            runtime,
            node_name,
            labels,
            cluster,
            heartbeat,
            strict: args.strict,
            audit: args.audit.plan(state_dir)?,
        })
    }
}

/// `--resources name=count,…`: the extended resources this node has.
fn parse_resources(text: &str) -> Result<BTreeMap<String, i64>, CliError> {
    let mut resources = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |why: &str| CliError::BadInput(format!("--resources {part:?}: {why}"));
        let (name, count) = part
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=COUNT, as nvidia.com/gpu=2"))?;
        crate::manifest::validate::qualified_name(name).map_err(|e| bad(&e))?;
        if !name.contains('/') {
            return Err(bad("an extended resource has a domain, as nvidia.com/gpu"));
        }
        let count: i64 = count
            .parse()
            .ok()
            .filter(|c: &i64| *c >= 0)
            .ok_or_else(|| bad("the count is a whole number"))?;
        resources.insert(name.to_owned(), count);
    }
    Ok(resources)
}

/// The node's Pod Security settings: `--admission-control-config-file`'s
/// PodSecurity plugin, or the `--pod-security-defaults` alone. What the
/// file names without effect here is said once, as the node starts.
fn pod_security(args: &ServeArgs) -> Result<PodSecurityAdmission, CliError> {
    let Some(file) = &args.admission_control_config_file else {
        let defaults = Levels::defaults(args.pod_security_defaults.as_deref().unwrap_or(""))
            .map_err(|e| CliError::BadInput(format!("--pod-security-defaults: {e}")))?;
        return Ok(PodSecurityAdmission::with_defaults(defaults));
    };
    let bad = |e: String| {
        CliError::BadInput(format!(
            "--admission-control-config-file {}: {e}",
            file.display()
        ))
    };
    let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
    // A plugin's own file is found beside the configuration, as
    // kube-apiserver finds it.
    let beside = file.parent().unwrap_or(Path::new("")).to_owned();
    let plugin_file =
        |path: &Path| std::fs::read_to_string(beside.join(path)).map_err(|e| e.to_string());
    let read = admission_config::read(&text, &plugin_file).map_err(bad)?;
    for note in &read.notes {
        eprintln!(
            "wasmjob serve: --admission-control-config-file {}: {note}",
            file.display()
        );
    }
    Ok(read.admission)
}

/// Says how the instance pool is laid out when `--memory-reservation`
/// bounds it: the figure a small device's operator checks against its
/// address space.
fn say_pool(runtime: &Runtime) {
    let plan = runtime.pool_plan();
    if let Some(bound) = plan.memory_bound {
        eprintln!(
            "wasmjob serve: instance pool of {} instances reserves {:.1} GiB of address space \
             for linear memories, each bounded to {:.1} MiB",
            plan.max_instances,
            plan.memory_reservation() as f64 / f64::from(1 << 30),
            bound as f64 / f64::from(1 << 20),
        );
    }
}

/// `--store`: a PostgreSQL URL makes the node one of a cluster.
fn cluster_url(store: Option<&str>) -> Result<Option<String>, CliError> {
    match store {
        None => Ok(None),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Some(url.to_owned()))
        }
        Some(other) => Err(CliError::BadInput(format!(
            "--store {other:?}: give a postgres://user@host:port/database URL (without \
             --store the node keeps its state in the state directory's SQLite file)"
        ))),
    }
}

/// Runs the node until a signal, then drains.
pub fn serve(state_dir: &Path, args: ServeArgs) -> Result<(), CliError> {
    let mut settings = Settings::parse(&args, state_dir)?;
    let token = ensure_token(state_dir)?;
    let db = state_dir.join(DATABASE_FILE);
    let store = match &settings.cluster {
        None => Store::open(&db),
        Some(cluster) => Store::cluster(&cluster.link(&settings.node_name), &db),
    }
    .map_err(other)?;
    // A damaged history is found now, before this node runs anything on it.
    store.check().map_err(other)?;
    let token = cluster_token(&store, state_dir, token)?;
    settings.config.keyring = cluster_keyring(&store, state_dir, settings.config.keyring)?;
    let authority = match args.plain_http {
        true => None,
        false => Some(cluster_authority(&store, state_dir)?),
    };
    let runtime = Arc::new(Runtime::new(settings.runtime.clone()).map_err(other)?);
    say_pool(&runtime);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("wasmjob-node")
        .build()
        .map_err(other)?;
    // Bound, not yet listening: the kubeconfig and the certificate are made
    // for the bound address first, so a client that waits for the port
    // finds them (resuming the store comes later).
    let socket = tokio
        .block_on(bound_socket(&args.listen))
        .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let bound = socket.local_addr().map_err(other)?;
    let tls = match authority {
        None => None,
        Some(authority) => Some(api_tls(authority, state_dir, bound, &settings.node_name)?),
    };
    write_kubeconfig(bound, state_dir, &token, &settings.node_name, tls.as_ref())?;
    // Caught before the port answers: a client that sees it may stop the
    // node at once, and gets a drain.
    let signals = catch_signals(&tokio)?;
    let listener = {
        let _entered = tokio.enter();
        socket
            .listen(1024)
            .map_err(|e| CliError::Failed(format!("cannot listen on {}: {e}", args.listen)))?
    };
    let metrics_listener = match &args.metrics_listen {
        None => None,
        Some(address) => Some(
            tokio
                .block_on(tokio::net::TcpListener::bind(address))
                .map_err(|e| {
                    CliError::Failed(format!("--metrics-listen: cannot listen on {address}: {e}"))
                })?,
        ),
    };
    // Logs of running instances read what they printed so far; /metrics
    // counts what happens.
    crate::runtime::live::enable();
    crate::metrics::enable();
    // Bulk work on workers of its own (see `executor::lanes`).
    let bulk = crate::executor::bulk_runtime().map_err(other)?;
    let lanes = crate::executor::Lanes {
        prompt: tokio.handle().clone(),
        bulk: Some(bulk.handle().clone()),
    };
    let config = settings.config.clone();
    let mut runner = Runner::new(store, runtime.clone(), lanes, config).map_err(other)?;
    join(&mut runner, &settings, &args)?;
    let resumed = runner.resume().map_err(other)?;
    // After the store: a read-only state directory is named by the store.
    let audit = settings.audit.take().map(|plan| plan.open()).transpose()?;
    let state = server_state(
        (token, audit),
        db,
        &settings,
        (&runner, runtime),
        tls.is_some(),
    );
    if let Some(metrics) = metrics_listener {
        let router = crate::api::metrics::open_router(state.clone());
        tokio.spawn(async move {
            if let Err(e) = axum::serve(metrics, router).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    let stop_http = start_api(&tokio, listener, state, tls.map(|(_, config)| config));
    stop_on_signal(&tokio, &runner, settings.grace, signals);
    announce(&settings.node_name, &args.listen, state_dir, resumed);
    runner.serve(&mut LogObserver).map_err(other)?;
    let _ = stop_http.send(());
    tokio.shutdown_timeout(Duration::from_secs(2));
    eprintln!("wasmjob serve: stopped");
    Ok(())
}

/// This node's CA for the API: in a cluster, the cluster's (the first
/// node's, shared as the token is).
fn cluster_authority(store: &Store, state_dir: &Path) -> Result<tls::Authority, CliError> {
    let mut authority = tls::authority(state_dir).map_err(other)?;
    if let Some(control) = store.control_plane() {
        match control.cluster_setting("ca", &authority.to_text()) {
            Ok(shared) => {
                let shared = tls::Authority::from_text(&shared).ok_or_else(|| {
                    CliError::Failed("the cluster's CA setting is not a certificate and key".into())
                })?;
                if shared != authority {
                    tls::keep(state_dir, &shared).map_err(other)?;
                    authority = shared;
                }
            }
            // Started alone: its own CA, which it took from the cluster
            // when it joined before.
            Err(e) if e.is_transient() => {}
            Err(e) => return Err(other(e)),
        }
    }
    Ok(authority)
}

/// The API's TLS: a certificate signed by `authority` for this node's names.
/// A socket bound to `listen` (the first address it names that binds),
/// with the address reuse a listener sets.
async fn bound_socket(listen: &str) -> std::io::Result<tokio::net::TcpSocket> {
    let mut last = None;
    for address in tokio::net::lookup_host(listen).await? {
        let socket = match address {
            std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(address) {
            Ok(()) => return Ok(socket),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("the address resolves to nothing")))
}

fn api_tls(
    authority: tls::Authority,
    state_dir: &Path,
    bound: std::net::SocketAddr,
    node: &str,
) -> Result<(tls::Authority, Arc<rustls::ServerConfig>), CliError> {
    let config = tls::server_config(
        state_dir,
        &authority,
        &tls::names_for(bound, node, &super::host_name()),
    )
    .map_err(other)?;
    Ok((authority, config))
}

/// `<state dir>/kubeconfig`, for kubectl and the client libraries.
fn write_kubeconfig(
    bound: std::net::SocketAddr,
    state_dir: &Path,
    token: &str,
    node: &str,
    tls: Option<&(tls::Authority, Arc<rustls::ServerConfig>)>,
) -> Result<(), CliError> {
    use crate::api::kubeconfig;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let ca = tls.map(|(authority, _)| authority.cert_pem.as_str());
    let text = kubeconfig::render(&kubeconfig::server_url(bound, scheme), token, node, ca);
    kubeconfig::write(state_dir, &text).map_err(other)?;
    Ok(())
}

/// In a cluster every node's CLI talks with the cluster's token (the first
/// node's): this node's token file gets it. A node that joined the cluster
/// before starts while the cluster's database does not answer, from its
/// own file, with the token it was given then; one that never reached it
/// does not start (a wrong URL is said at once).
fn cluster_token(store: &Store, state_dir: &Path, token: String) -> Result<String, CliError> {
    let Some(control) = store.control_plane() else {
        return Ok(token);
    };
    let shared = match control.cluster_setting("token", &token) {
        Ok(shared) => shared,
        Err(e) if e.is_transient() && store.joined_before().map_err(other)? => {
            eprintln!(
                "wasmjob serve: {e}; starting from this node's own records (it joined before), \
                 and joining when the database answers"
            );
            return Ok(token);
        }
        Err(e) => return Err(other(e)),
    };
    if shared != token {
        std::fs::write(state_dir.join(TOKEN_FILE), &shared).map_err(other)?;
    }
    Ok(shared)
}

/// In a cluster every node seals and opens Secrets with the cluster's key
/// (the first node's), shared as the API token is: this node's key file
/// gets it. A node that cannot reach the database but joined before keeps
/// the key it was given then.
fn cluster_keyring(
    store: &Store,
    state_dir: &Path,
    keyring: Arc<Keyring>,
) -> Result<Arc<Keyring>, CliError> {
    let Some(control) = store.control_plane() else {
        return Ok(keyring);
    };
    let mine = keyring.key().map_err(CliError::Failed)?.hex().to_owned();
    let shared = match control.cluster_setting("secret-key", &mine) {
        Ok(shared) => shared,
        Err(e) if e.is_transient() => return Ok(keyring),
        Err(e) => return Err(other(e)),
    };
    if shared == mine {
        return Ok(keyring);
    }
    let key = SecretKey::from_hex(&shared).ok_or_else(|| {
        CliError::Failed("the cluster's secret-key setting is not 64 hex digits".into())
    })?;
    key.save(state_dir).map_err(other)?;
    Ok(Arc::new(Keyring::with(state_dir, key)))
}

/// In a cluster: the node takes part (it registers when it first reaches
/// the database).
fn join(runner: &mut Runner, settings: &Settings, args: &ServeArgs) -> Result<(), CliError> {
    let Some(cluster) = &settings.cluster else {
        return Ok(());
    };
    let config = ClusterConfig {
        heartbeat: settings.heartbeat,
        grace: cluster.grace,
        capacity: args.max_instances,
        address: args.listen.clone(),
    };
    runner.join_cluster(config);
    Ok(())
}

/// What the API's handlers share.
fn server_state(
    (token, audit): (String, Option<crate::api::audit::AuditLog>),
    db: std::path::PathBuf,
    settings: &Settings,
    (runner, runtime): (&Runner, Arc<Runtime>),
    tls: bool,
) -> Arc<ServerState> {
    Arc::new(ServerState {
        runtime,
        signer: crate::access::tokens::Signer::new(&token),
        audit,
        token,
        db,
        cluster: settings.cluster.clone(),
        readers: Mutex::new(Vec::new()),
        alone: Default::default(),
        keyring: settings.config.keyring.clone(),
        strict: settings.strict,
        revisions: crate::api::revisions::Revisions::starting_at(time::now().max(0) as u64),
        kube_writes: Default::default(),
        tls,
        runner: runner.sender(),
        node: Mutex::new(NodeInfo {
            name: settings.node_name.clone(),
            labels: settings.labels.clone(),
            taints: settings.config.node_taints.clone(),
            started: time::now(),
        }),
    })
}

/// Serves the API until the returned sender is used.
fn start_api(
    tokio: &tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    tokio.spawn(async move {
        if let Some(config) = tls {
            crate::api::server::serve_tls(listener, router(state), config, stopped).await;
            return;
        }
        // The client's address goes with each request (the audit log's).
        let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| crate::api::server::no_delay(tcp));
        let server = axum::serve(listener, app).with_graceful_shutdown(stopped);
        if let Err(e) = server.await {
            tracing::error!(error = %e, "the API server stopped");
        }
    });
    stop_http
}

/// SIGTERM and SIGINT, caught from before the node listens until it stops.
/// Caught only once the node ran (a handler installed by a task spawned
/// after start-up), a SIGTERM sent as soon as the port answered — as a
/// supervisor or a test may — ended the process unhandled, by the
/// signal's default action, with nothing drained.
struct Signals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

fn catch_signals(tokio: &tokio::runtime::Runtime) -> Result<Signals, CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let _entered = tokio.enter();
    let catch = |kind| signal(kind).map_err(|e| other(format!("catching signals: {e}")));
    Ok(Signals {
        term: catch(SignalKind::terminate())?,
        interrupt: catch(SignalKind::interrupt())?,
    })
}

/// SIGTERM or SIGINT: the runner drains, running instances get `grace`.
fn stop_on_signal(
    tokio: &tokio::runtime::Runtime,
    runner: &Runner,
    grace: Duration,
    mut signals: Signals,
) {
    let inbox = runner.sender();
    tokio.spawn(async move {
        tokio::select! {
            _ = signals.term.recv() => {}
            _ = signals.interrupt.recv() => {}
        }
        eprintln!("wasmjob serve: shutting down; running instances get {grace:?} to finish");
        inbox.command(Command::Shutdown { grace });
    });
}

fn announce(node_name: &str, listen: &str, state_dir: &Path, resumed: usize) {
    let resumed = match resumed {
        0 => String::new(),
        n => format!(", resumed {n} Job(s), CronJob(s) and DaemonSet(s)"),
    };
    eprintln!(
        "wasmjob serve: node {node_name} listening on http://{listen}, state in {}{resumed}",
        state_dir.display(),
    );
    let _ = std::io::stderr().flush();
}

/// The token the CLI must present, made on first start (mode 0600).
fn ensure_token(state_dir: &Path) -> Result<String, CliError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = state_dir.join(TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path)
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| other(format!("cannot read /dev/urandom for a token: {e}")))?;
    let token = hex::encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| other(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(token.as_bytes()).map_err(other)?;
    Ok(token)
}

pub use crate::time::parse_duration;

fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, CliError> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| CliError::BadInput(format!("--labels: {pair:?} is not key=value")))?;
        labels.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    crate::manifest::validate::labels(&labels, "--labels")
        .map_err(|e| CliError::BadInput(format!("{}: {}", e.path, e.message)))?;
    Ok(labels)
}

/// A node logs instance ends through tracing (`RUST_LOG=info` shows them).
struct LogObserver;

impl Observer for LogObserver {
    fn instance_ended(
        &mut self,
        job: &str,
        instance: &InstanceRecord,
        attempt: u32,
        _output: &[u8],
    ) {
        tracing::info!(job, instance = %instance.name, attempt, phase = instance.phase.as_str(), reason = ?instance.reason, "instance ended");
    }

    fn job_ended(&mut self, job: &str, status: &JobStatus) {
        tracing::info!(job, status = status.phase(), "job ended");
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_like_kubectl_flags() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn serve_listens_on_loopback_unless_told_otherwise() {
        use clap::Parser;
        let cli = crate::cli::Cli::parse_from(["wasmjob", "serve"]);
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("serve parsed as {:?}", cli.command);
        };
        let address: std::net::SocketAddr = args.listen.parse().unwrap();
        assert!(address.ip().is_loopback(), "{address}");
    }
}
