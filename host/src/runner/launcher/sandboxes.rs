//! The sandboxes of an attempt: what its template refers to, resolved; each
//! container's sandbox over the attempt's directories (one `emptyDir` for
//! all, claims, copied host files); the first container's bound to its
//! queue item, checkpoint and plugin context.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Attempt, Binding, Core};
use crate::egress::Grant;
use crate::egress::limits::Limits;
use crate::executor::pod::{PodPlan, Step};
use crate::executor::references::{self, Missing, Resolved};
use crate::executor::{self, AttemptDir, Identity, Launch, Scratch};
use crate::manifest::downward::PodFacts;
use crate::manifest::well_known::KEYVALUE_URL;
use crate::manifest::well_known::SCHEDULED_ANNOTATION;
use crate::manifest::{Container, Job, PodTemplateSpec};
use crate::runtime::keyvalue::KeyValueStore;
use crate::runtime::{PluginContext, PluginEnv, Prepared, SandboxSpec};
use crate::store::InstanceRecord;

/// An attempt's sandboxes: the first container's, the plan of the others
/// (if any), and the directories removed when it ends.
pub(super) type Built = (SandboxSpec, Option<Box<PodPlan>>, Vec<AttemptDir>);

impl Core {
    /// What `template`'s references are for the instance `record`, if it
    /// has any: one [`Resolved`] per container, init containers first.
    pub(super) fn resolve(
        &self,
        template: &PodTemplateSpec,
        record: &InstanceRecord,
    ) -> Result<Option<Vec<Resolved>>, Missing> {
        if !references::refers_outside(&template.spec) {
            return Ok(None);
        }
        let facts = PodFacts {
            name: &record.name,
            namespace: &record.namespace,
            uid: &record.uid,
            labels: &record.labels,
            annotations: &template.metadata.annotations,
            node_name: &self.node_name,
        };
        let pod = &template.spec;
        let resolved = (pod.all_containers())
            .map(|c| references::resolve(pod, c, &facts, &*self.configs, self.resources))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(resolved))
    }

    /// Where the `persistentVolumeClaim`s of `namespace` are: under the
    /// node's state directory (see [`crate::manifest::ClaimVolume`]).
    pub(super) fn claims_dir(&self, namespace: &str) -> PathBuf {
        let state = self.db_path.parent().unwrap_or(std::path::Path::new("."));
        state.join("volumes").join(namespace)
    }

    /// What an attempt of the instance `record` may reach over the
    /// network: the grant of the NetworkPolicies of its namespace that
    /// select its labels. Nothing when none does, or when they cannot be
    /// read (the sandbox stays closed; the node's log says why).
    pub(super) fn egress(&self, record: &InstanceRecord) -> Arc<Grant> {
        match self.configs.network_policies(&record.namespace) {
            Ok(policies) if policies.is_empty() => Arc::default(),
            Ok(policies) => Arc::new(Grant::of(policies.iter(), &record.labels)),
            Err(e) => {
                tracing::warn!(instance = %record.name, "cannot read the NetworkPolicies: {e}");
                Arc::default()
            }
        }
    }

    /// The sandboxes of an attempt of `template` for `who`, the instance
    /// `record`, whose references resolved to `refs` (one per container,
    /// init containers first): the first container's, the plan of the
    /// others when there are others (see [`executor::pod`]), and the
    /// directories to remove when the attempt ends. Every container has
    /// the instance's network egress, within the template's limits.
    pub(super) fn build(
        &self,
        template: &PodTemplateSpec,
        who: &Identity<'_>,
        record: &InstanceRecord,
        refs: Option<&[Resolved]>,
    ) -> Result<Built, String> {
        let pod = &template.spec;
        let egress = self.egress(record);
        // Checked when the template was applied.
        let limits = Limits::from_annotations(&template.metadata.annotations).unwrap_or_default();
        let mut scratch = Scratch::with_claims(self.claims_dir(&record.namespace));
        let refs_of = |i: usize| refs.and_then(|r| r.get(i));
        let first = pod.init_containers.len();
        let limit = self.output_limit;
        let mut main = executor::sandbox_of(
            pod,
            &pod.containers[0],
            who,
            limit,
            refs_of(first),
            &mut scratch,
        )?;
        main.egress = egress.clone();
        main.egress_limits = limits;
        if !pod.is_multi() {
            return Ok((main, None, scratch.into_dirs()));
        }
        let runtime = self.executor.runtime();
        let mut step = |i: usize, container: &Container| -> Result<Step, String> {
            let prepared = runtime.prepared(&container.image).ok_or_else(|| {
                format!(
                    "the module of container {:?} is not prepared on this node",
                    container.name
                )
            })?;
            let mut spec =
                executor::sandbox_of(pod, container, who, limit, refs_of(i), &mut scratch)?;
            spec.egress = egress.clone();
            spec.egress_limits = limits;
            Ok(Step {
                name: container.name.clone(),
                prepared,
                spec,
                sidecar: container.restart_policy.as_deref() == Some("Always"),
            })
        };
        let mut init = Vec::new();
        for (i, container) in pod.init_containers.iter().enumerate() {
            init.push(step(i, container)?);
        }
        let mut others = Vec::new();
        for (j, container) in pod.containers.iter().enumerate().skip(1) {
            others.push(step(first + j, container)?);
        }
        let plan = PodPlan {
            main: pod.containers[0].name.clone(),
            init,
            others,
        };
        Ok((main, Some(Box::new(plan)), scratch.into_dirs()))
    }

    /// Who an instance of `job` named `instance_name` is.
    pub(super) fn identity<'a>(
        &'a self,
        job: &'a Job,
        instance_name: &'a str,
        index: Option<u32>,
    ) -> Identity<'a> {
        let scheduled_time = job.metadata.annotations.get(SCHEDULED_ANNOTATION);
        Identity {
            job_name: &job.metadata.name,
            instance_name,
            completion_index: index,
            node_name: &self.node_name,
            scheduled_time: scheduled_time.map(String::as_str),
        }
    }

    /// What the executor needs to run an attempt whose references
    /// resolved to `resolved`: its sandbox and module.
    pub(super) fn prepare(
        &self,
        attempt: &Attempt<'_>,
        binding: Binding,
        resolved: Option<&[Resolved]>,
    ) -> Result<Launch, String> {
        let Attempt { job, record, .. } = *attempt;
        let who = self.identity(job, &record.name, record.completion_index);
        let (main, mut plan, scratch) = self.build(&job.spec.template, &who, record, resolved)?;
        let built = (main, scratch);
        let context = || PluginContext {
            job_name: job.metadata.name.clone(),
            instance_name: record.name.clone(),
            completion_index: record.completion_index,
            attempt: attempt.failed_before + record.restart_count,
            node_name: self.node_name.clone(),
            scheduled_time: who.scheduled_time.map(str::to_owned),
        };
        let buckets = self.buckets(keyvalue_scope(job), &job.spec.template);
        let owner = (attempt.job_uid, buckets);
        let (sandbox, scratch) = self.bind(owner, attempt.prepared, context, binding, built)?;
        if let Some(plan) = &mut plan {
            // The other containers know who the instance is and share its
            // key-value buckets; checkpoints, stdin and the queue are the
            // first container's.
            for step in plan.init.iter_mut().chain(&mut plan.others) {
                step.spec.plugin.context = sandbox.plugin.context.clone();
                step.spec.plugin.keyvalue = sandbox.plugin.keyvalue.clone();
            }
        }
        Ok(Launch {
            instance_uid: record.uid.clone(),
            created: record.created_at,
            attempt: attempt.attempt,
            prepared: attempt.prepared.clone(),
            sandbox: executor::Sandbox::Own(Box::new(sandbox)),
            scratch,
            pod: plan,
        })
    }

    /// The key-value buckets of `scope`: in the Redis the template names,
    /// or in the node's file.
    fn buckets(&self, scope: String, template: &PodTemplateSpec) -> Arc<dyn KeyValueStore> {
        match template.metadata.annotations.get(KEYVALUE_URL) {
            Some(url) => crate::store::redis_values(url, scope),
            None => self.keyvalues.bound(scope),
        }
    }

    /// Binds the sandbox to its queue item or queue, its checkpoint, its
    /// key-value buckets (`owner`: the Job's uid, and its buckets), and who
    /// the instance is.
    pub(super) fn bind(
        &self,
        (job_uid, buckets): (&str, Arc<dyn KeyValueStore>),
        prepared: &Prepared,
        context: impl FnOnce() -> PluginContext,
        binding: Binding,
        (mut sandbox, scratch): (SandboxSpec, Vec<AttemptDir>),
    ) -> Result<(SandboxSpec, Vec<AttemptDir>), String> {
        sandbox.stdin = binding.stdin;
        if !matches!(prepared, Prepared::Component(_)) {
            // Core modules cannot import the plugin interfaces: no
            // checkpoint to read from the store on every launch.
            return Ok((sandbox, scratch));
        }
        // Only a component can import the plugin interfaces, so only a
        // component gets the context they report.
        let context = context();
        let index_key = context.completion_index;
        let checkpoint = self
            .checkpoints
            .load(job_uid, index_key)
            .map_err(|e| format!("cannot load the checkpoint: {e}"))?;
        sandbox.plugin = PluginEnv {
            context,
            checkpoint,
            checkpoints: Some(self.checkpoints.sink(job_uid, index_key)),
            queue: binding.queue,
            keyvalue: Some(buckets),
        };
        Ok((sandbox, scratch))
    }

    /// A daemon instance's attempt: `template`'s sandbox, a plugin context
    /// without checkpoint or queue.
    pub(super) fn daemon_launch(
        &self,
        name: &str,
        template: &PodTemplateSpec,
        prepared: &Arc<Prepared>,
        record: &InstanceRecord,
        attempt: u32,
        resolved: Option<Vec<Resolved>>,
    ) -> Result<Launch, String> {
        let who = Identity {
            job_name: name,
            instance_name: &record.name,
            completion_index: None,
            node_name: &self.node_name,
            scheduled_time: None,
        };
        let (mut sandbox, mut plan, scratch) =
            self.build(template, &who, record, resolved.as_deref())?;
        sandbox.plugin = PluginEnv {
            context: PluginContext {
                job_name: name.to_owned(),
                instance_name: record.name.clone(),
                completion_index: None,
                attempt,
                node_name: self.node_name.clone(),
                scheduled_time: None,
            },
            keyvalue: Some(self.buckets(daemon_scope(name, &record.namespace), template)),
            ..PluginEnv::default()
        };
        if let Some(plan) = &mut plan {
            for step in plan.init.iter_mut().chain(&mut plan.others) {
                step.spec.plugin.context = sandbox.plugin.context.clone();
                step.spec.plugin.keyvalue = sandbox.plugin.keyvalue.clone();
            }
        }
        Ok(Launch {
            instance_uid: record.uid.clone(),
            created: record.created_at,
            attempt,
            prepared: prepared.clone(),
            sandbox: executor::Sandbox::Own(Box::new(sandbox)),
            scratch,
            pod: plan,
        })
    }
}

/// Whose key-value buckets an instance of `job` opens: its CronJob's, for
/// a Job a CronJob made (so one run leaves what the next reads), the Job's
/// own otherwise. By name: a Job applied again under the same name finds
/// what the earlier one kept, as a claim's volume does.
fn keyvalue_scope(job: &Job) -> String {
    let namespace = &job.metadata.namespace;
    let references = &job.metadata.owner_references;
    match references.iter().find(|o| o.kind == "CronJob") {
        Some(cron) => format!("CronJob/{namespace}/{}", cron.name),
        None => format!("Job/{namespace}/{}", job.metadata.name),
    }
}

/// The key-value scope of the DaemonSet `name`'s instances.
fn daemon_scope(name: &str, namespace: &str) -> String {
    format!("DaemonSet/{namespace}/{name}")
}
