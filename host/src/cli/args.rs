//! The command line's grammar: clap definitions of every verb, its flags
//! and their help (each verb's `--help` has an example).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use super::node_args::{PoolArgs, RunArgs, ServeArgs};

/// Kubernetes-style Jobs that run as sandboxed WebAssembly instances.
#[derive(Debug, Parser)]
#[command(name = "wasmjob", version, about, long_about = None)]
pub struct Cli {
    /// Where history, modules and the compiled-module cache live
    /// [default: the platform data directory, e.g. ~/.local/share/wasmjob].
    #[arg(long, global = true, env = "WASMJOB_HOME", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The server the client verbs talk to [default: 127.0.0.1:7433].
    #[arg(long, global = true, env = "WASMJOB_SERVER", value_name = "ADDRESS")]
    pub server: Option<String>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
// Each verb's arguments are defined only when that verb is used: clap
// otherwise defines every verb's arguments at every start, which took a
// sixth of a millisecond of each `wasmjob run`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Run the Jobs of manifest files to their end, in this process.
    ///
    /// Each Job's instances run in a Wasm sandbox; their output is shown as
    /// each ends, then a summary. History and logs go to the state directory.
    /// Exit code: 0 every Job Complete, 1 a Job Failed, 2 bad input.
    ///
    /// Example: wasmjob run -f examples/pi-job.yaml
    #[command(verbatim_doc_comment)]
    Run(RunArgs),

    /// Run a node: controllers, executor and the HTTP API.
    ///
    /// Listens on 127.0.0.1:7433 unless --listen says otherwise; the bearer
    /// token the clients need is written to <state dir>/token (mode 0600) on
    /// first start. SIGTERM or SIGINT: no new work, running instances get
    /// --shutdown-grace to finish, the rest are recorded as interrupted and
    /// resume at the next start.
    ///
    /// Example: wasmjob serve --node-name edge-1 --labels disk=nvme
    #[command(verbatim_doc_comment)]
    Serve(Box<ServeArgs>),

    /// Create or update objects from files, a directory, or - for stdin.
    ///
    /// Prints job.batch/NAME created, configured or unchanged.
    ///
    /// Example: wasmjob apply -f examples/pi-job.yaml
    #[command(verbatim_doc_comment)]
    Apply(FileArgs),

    /// Create objects from files (an existing one is an error), a Job
    /// from a CronJob's template, run now, or a token for a ServiceAccount
    /// (printed, or as a kubeconfig of its own with --write-kubeconfig).
    ///
    /// Examples: wasmjob create -f ./jobs
    ///           wasmjob create job hello-manual --from=cronjob/hello
    ///           wasmjob create token viewer -n team --duration 8h
    ///           wasmjob create token ci -n team --write-kubeconfig ci.kubeconfig
    #[command(verbatim_doc_comment)]
    Create(CreateArgs),

    /// List objects in kubectl's columns, or print them as JSON or YAML.
    ///
    /// KIND: jobs, cronjobs (cj), daemonsets (ds), instances (pods, po),
    /// nodes, events.
    ///
    /// Example: wasmjob get jobs -l jobgroup=jobexample
    #[command(verbatim_doc_comment)]
    Get(GetArgs),

    /// Show one object in detail, with its instance counts and events.
    ///
    /// Example: wasmjob describe jobs/job-wq-1
    #[command(verbatim_doc_comment)]
    Describe(DescribeArgs),

    /// Print the logs of an instance, of job/NAME, ds/NAME, or of -l SELECTOR.
    ///
    /// Example: wasmjob logs job/pi --all-attempts
    ///          wasmjob logs -f ds/node-monitor --timestamps --since 5m
    #[command(verbatim_doc_comment)]
    Logs(LogsArgs),

    /// Delete objects and their instances (running ones are stopped).
    ///
    /// Example: wasmjob delete job -l jobgroup=jobexample
    #[command(verbatim_doc_comment)]
    Delete(DeleteArgs),

    /// Set or remove labels of a running node, as kubectl label nodes.
    ///
    /// KEY=VALUE sets a label (--overwrite to change a value), KEY- removes
    /// one. DaemonSets gain or lose the node's instance at once. The change
    /// lasts until the node restarts; serve --labels sets the start labels.
    ///
    /// Example: wasmjob label node edge-3 disk=nvme
    #[command(verbatim_doc_comment)]
    Label(LabelArgs),

    /// Add or remove taints of a running node, as kubectl taint nodes.
    ///
    /// KEY=VALUE:EFFECT or KEY:EFFECT adds a taint (EFFECT is NoSchedule,
    /// PreferNoSchedule or NoExecute; --overwrite to change a value),
    /// KEY:EFFECT- or KEY- removes. Only instances that tolerate a node's
    /// NoSchedule and NoExecute taints are placed there; NoExecute also
    /// ends the instances running there that do not tolerate it (after
    /// their tolerationSeconds). The change lasts until the node restarts;
    /// serve --taints sets the start taints.
    ///
    /// Example: wasmjob taint node edge-3 dedicated=gpu:NoSchedule
    #[command(verbatim_doc_comment)]
    Taint(TaintArgs),

    /// Push a Wasm module to an OCI registry (the CNCF Wasm artifact
    /// layout); prints the pinned reference (…@sha256:). Credentials come
    /// from ~/.docker/config.json (docker login); a registry on the loopback
    /// address is spoken to over plain HTTP.
    ///
    /// Example: wasmjob push target/wasm32-wasip2/release/report.wasm registry.example.com/team/report:1.4
    #[command(verbatim_doc_comment)]
    Push(super::registry::PushArgs),

    /// Pull a Wasm module from an OCI registry into a file; prints the file
    /// and the pinned reference.
    ///
    /// Example: wasmjob pull registry.example.com/team/report:1.4 -o report.wasm
    #[command(verbatim_doc_comment)]
    Pull(super::registry::PullArgs),

    /// Make a plugin: source, WIT, Job and CronJob manifests, a README.
    ///
    /// Example: wasmjob new plugin report --lang python
    #[command(verbatim_doc_comment)]
    New(super::new::NewArgs),

    /// The modules pulled from registries on this machine (the state
    /// directory's cache): reference, digest, size, last used; `images
    /// prune` removes those no stored object uses.
    Images(super::registry::ImagesArgs),

    /// CronJobs and schedules: a schedule's next fire times; pause and
    /// resume a CronJob with a note; trigger a run now; backfill a past range.
    #[command(subcommand, alias = "cronjob")]
    Cron(super::cron::CronCommand),

    /// The embedded work queue (in the state directory's database; no
    /// server needed): push items, list queues, show counts, purge.
    ///
    /// Example: wasmjob queue push job1 apple banana cherry
    #[command(subcommand, verbatim_doc_comment)]
    Queue(QueueCommand),

    /// Change one object in place with a patch, through the Kubernetes API.
    ///
    /// Example: wasmjob patch cronjob hello -p '{"spec":{"suspend":true}}'
    #[command(verbatim_doc_comment)]
    Patch(super::changing::PatchArgs),

    /// Wait until objects have a condition, or are deleted.
    ///
    /// Exit code 1 when --timeout passes first.
    ///
    /// Example: wasmjob wait --for=condition=complete job/pi --timeout=60s
    #[command(verbatim_doc_comment)]
    Wait(super::changing::WaitArgs),

    /// Follow, restart, list or undo the rollouts of a DaemonSet's template.
    ///
    /// Examples: wasmjob rollout status ds/node-monitor
    ///           wasmjob rollout restart ds/node-monitor
    ///           wasmjob rollout history ds/node-monitor
    ///           wasmjob rollout undo ds/node-monitor --to-revision=1
    #[command(verbatim_doc_comment, subcommand)]
    Rollout(super::rollout::RolloutCommand),

    /// Print a shell completion script.
    ///
    /// Example: wasmjob completions bash > /etc/bash_completion.d/wasmjob
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),
}

// The argument structs of the verbs carry plain comments, not doc
// comments: their arguments are defined when the verb is used (see
// `Command`), and clap would then show a struct's doc comment as the
// verb's help instead of the verb's own.

// `-f` for apply and create.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct FileArgs {
    /// Manifest files or directories, or - for stdin; .jinja2 and .j2 files
    /// are rendered as Jinja2 templates first.
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// `--set` and `--expand`.
    #[command(flatten)]
    pub templates: TemplateArgs,
}

// `wasmjob create`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// `job`, to create a Job from a CronJob with --from; `token`, to make
    /// a token for a ServiceAccount.
    pub kind: Option<String>,
    /// The new Job's name, or the ServiceAccount's.
    pub name: Option<String>,
    /// token: how long the token lasts (10m to 8760h; default 1h).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// token: an audience the token is for (repeatable; a token for
    /// another audience than the API's is not accepted by the API).
    #[arg(long = "audience", value_name = "AUDIENCE")]
    pub audiences: Vec<String>,
    /// token: write a kubeconfig for the account (mode 0600) to FILE
    /// instead of printing the token.
    #[arg(long, value_name = "FILE")]
    pub write_kubeconfig: Option<PathBuf>,
    /// `cronjob/NAME`: the CronJob whose template to use.
    #[arg(long, value_name = "cronjob/NAME")]
    pub from: Option<String>,
    /// Manifest files or directories, or - for stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The namespace of the CronJob and the new Job.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,
    /// `--set` and `--expand`.
    #[command(flatten)]
    pub templates: TemplateArgs,
}

// Templates, expansion and --strict, for every verb that reads manifests.
#[allow(missing_docs)]
#[derive(Debug, Clone, clap::Args)]
pub struct TemplateArgs {
    /// A variable for .jinja2/.j2 templates (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// One copy of each manifest per value, with $VAR replaced, as in
    /// --expand ITEM=apple,banana,cherry.
    #[arg(long, value_name = "VAR=V1,V2,…")]
    pub expand: Option<String>,
    /// Refuse a manifest that would get a warning (a field a Wasm sandbox
    /// ignores, a retired apiVersion) instead of taking it without.
    #[arg(long)]
    pub strict: bool,
}

// `wasmjob get`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The namespace of the objects named.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,

    /// The kind, such as jobs or pods.
    pub kind: String,
    /// Names; all objects of the kind when none.
    pub names: Vec<String>,
    /// Label selector: a=b, a!=b, a in (x,y), !a, a.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Output format: wide, json, yaml, name, jsonpath=TEMPLATE, or
    /// custom-columns=HEADER:PATH,….
    #[arg(short = 'o', long = "output", value_parser = GetFormat::parse, value_name = "FORMAT")]
    pub output: Option<GetFormat>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// After listing, print a row again each time an object changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Sort the list by the value at this JSONPath (.metadata.name).
    #[arg(long, value_name = "JSONPATH")]
    pub sort_by: Option<String>,
    /// Only objects whose fields match (status.phase=Failed,spec.nodeName!=x).
    #[arg(long, value_name = "SELECTOR")]
    pub field_selector: Option<String>,
    /// A LABELS column.
    #[arg(long)]
    pub show_labels: bool,
}

/// `-o` formats of `get`.
#[derive(Debug, Clone, PartialEq)]
pub enum GetFormat {
    /// More columns.
    Wide,
    /// Kubernetes JSON.
    Json,
    /// Kubernetes YAML.
    Yaml,
    /// kind/name per line.
    Name,
    /// `jsonpath=TEMPLATE`: the template applied to the object or `List`.
    JsonPath(super::jsonpath::Template),
    /// `custom-columns=HEADER:PATH,…`.
    CustomColumns(Vec<(String, super::jsonpath::Template)>),
}

impl GetFormat {
    /// Reads `-o`'s value.
    pub fn parse(text: &str) -> Result<GetFormat, String> {
        use super::jsonpath::Template;
        if let Some(template) = text.strip_prefix("jsonpath=") {
            return Template::parse(template)
                .map(GetFormat::JsonPath)
                .map_err(|e| e.to_string());
        }
        if let Some(spec) = text.strip_prefix("custom-columns=") {
            let mut columns = Vec::new();
            for column in spec.split(',') {
                let (header, path) = column.split_once(':').ok_or_else(|| {
                    format!("custom-columns column {column:?} is not HEADER:JSONPATH")
                })?;
                let path = Template::relaxed(path).map_err(|e| e.to_string())?;
                columns.push((header.to_owned(), path));
            }
            return Ok(GetFormat::CustomColumns(columns));
        }
        Ok(match text {
            "wide" => GetFormat::Wide,
            "json" => GetFormat::Json,
            "yaml" => GetFormat::Yaml,
            "name" => GetFormat::Name,
            other => {
                return Err(format!(
                    "unknown output format {other:?}: use wide, json, yaml, name, \
                     jsonpath=TEMPLATE or custom-columns=HEADER:PATH,…"
                ));
            }
        })
    }
}

// `wasmjob describe`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The namespace of the objects named.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,

    /// KIND/NAME, or KIND followed by NAME.
    pub target: String,
    /// The name, when the kind is given alone.
    pub name: Option<String>,
}

// `wasmjob logs`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The namespace of the objects named.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,

    /// An instance name, instance/NAME, pods/NAME, job/NAME or ds/NAME.
    pub target: Option<String>,
    /// Label selector of the instances.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Every attempt of each instance, oldest first.
    #[arg(long)]
    pub all_attempts: bool,
    /// The attempt before the last (kubectl's --previous).
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Keep printing the output as it is written (running attempts' too,
    /// and later attempts'), until the selected instances' Jobs have
    /// finished; a DaemonSet's, until interrupted.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Prefix each line with the time it was written (RFC 3339 with
    /// nanoseconds, as kubectl prints them).
    #[arg(long)]
    pub timestamps: bool,
    /// Only lines written in the last DURATION (5s, 2m, 3h).
    #[arg(long, value_name = "DURATION", conflicts_with = "since_time")]
    pub since: Option<String>,
    /// Only lines written at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub since_time: Option<String>,
    /// Only the last N lines of each attempt (-1: all).
    #[arg(long, value_name = "N", default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Only the structured records (wasmjob:plugin/log) at this level or
    /// above: trace, debug, info, warn, error.
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,
    /// Only the structured records with this field; repeat to require several.
    #[arg(long = "field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
    /// Only this container's output, of instances of several containers
    /// (init containers and sidecars included).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
}

/// `wasmjob queue …`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum QueueCommand {
    /// Append items to queue NAME: the ITEMs given, or one item per line of
    /// --file (- for stdin).
    ///
    /// Example: printf 'apple\nbanana\n' | wasmjob queue push job2 -f -
    #[command(verbatim_doc_comment)]
    Push {
        /// The queue.
        name: String,
        /// Items, one per argument.
        items: Vec<String>,
        /// Read items from this file, one per line (- for stdin).
        #[arg(short = 'f', long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// List the queues that hold items, with waiting and leased counts.
    Ls,
    /// Show the waiting and leased counts of queue NAME.
    Stats {
        /// The queue.
        name: String,
        /// json or yaml instead of a table.
        #[arg(short = 'o', long, value_name = "FORMAT")]
        output: Option<String>,
    },
    /// Delete every item of queue NAME, leased or not.
    Purge {
        /// The queue.
        name: String,
    },
}

// `wasmjob completions`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

// `wasmjob label`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct LabelArgs {
    /// `node` (the only kind whose labels change outside a manifest).
    pub kind: String,
    /// The node's name.
    pub name: String,
    /// KEY=VALUE to set, KEY- to remove.
    #[arg(required = true, value_name = "KEY=VALUE|KEY-")]
    pub changes: Vec<String>,
    /// Allow changing the value of an existing label.
    #[arg(long)]
    pub overwrite: bool,
}

// `wasmjob taint`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct TaintArgs {
    /// `node`.
    pub kind: String,
    /// The node's name.
    pub name: String,
    /// KEY=VALUE:EFFECT to add, KEY:EFFECT- or KEY- to remove.
    #[arg(required = true, value_name = "KEY=VALUE:EFFECT|KEY:EFFECT-")]
    pub changes: Vec<String>,
    /// Allow changing the value of an existing taint.
    #[arg(long)]
    pub overwrite: bool,
}

// `wasmjob delete`.
#[allow(missing_docs)]
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The namespace of the objects named.
    #[arg(short = 'n', long, default_value = "default", value_name = "NAMESPACE")]
    pub namespace: String,

    /// The kind, unless -f.
    pub kind: Option<String>,
    /// Names.
    pub names: Vec<String>,
    /// Label selector.
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Delete the objects of these manifests.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `-o` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A Kubernetes `List` as JSON.
    Json,
    /// A Kubernetes `List` as YAML.
    Yaml,
}
