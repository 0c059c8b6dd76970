//! The field numbers of the Kubernetes types kubectl's typed commands send
//! as protobuf (Job, CronJob, DaemonSet, ConfigMap, Secret, Namespace and
//! what they hold), as `k8s.io/api`'s `generated.proto` numbers them, for
//! the fields wasmjob reads or reports as ignored. A field not listed is
//! skipped (statuses, and `metadata.generation`, which the server sets), as
//! are the Go zero values of numbers that are not optional (a port's
//! `hostPort: 0`).

use super::{Msg, Ty};

pub(super) const JOB: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(JOB_SPEC)),
];
const OBJECT_META: Msg = &[
    (1, "name", Ty::Str),
    (2, "generateName", Ty::Str),
    (3, "namespace", Ty::Str),
    (4, "selfLink", Ty::Str),
    (5, "uid", Ty::Str),
    (6, "resourceVersion", Ty::Str),
    (10, "deletionGracePeriodSeconds", Ty::Int),
    (11, "labels", Ty::MapStr),
    (12, "annotations", Ty::MapStr),
    (13, "ownerReferences", Ty::List(&Ty::Msg(OWNER_REFERENCE))),
    (14, "finalizers", Ty::List(&Ty::Str)),
];
const OWNER_REFERENCE: Msg = &[
    (5, "apiVersion", Ty::Str),
    (1, "kind", Ty::Str),
    (3, "name", Ty::Str),
    (4, "uid", Ty::Str),
    (6, "controller", Ty::Bool),
    (7, "blockOwnerDeletion", Ty::Bool),
];
const JOB_SPEC: Msg = &[
    (1, "parallelism", Ty::Int),
    (2, "completions", Ty::Int),
    (3, "activeDeadlineSeconds", Ty::Int),
    (11, "podFailurePolicy", Ty::Msg(POD_FAILURE_POLICY)),
    (16, "successPolicy", Ty::Msg(SUCCESS_POLICY)),
    (7, "backoffLimit", Ty::Int),
    (12, "backoffLimitPerIndex", Ty::Int),
    (13, "maxFailedIndexes", Ty::Int),
    (4, "selector", Ty::Msg(LABEL_SELECTOR)),
    (5, "manualSelector", Ty::Bool),
    (6, "template", Ty::Msg(POD_TEMPLATE_SPEC)),
    (8, "ttlSecondsAfterFinished", Ty::Int),
    (9, "completionMode", Ty::Str),
    (10, "suspend", Ty::Bool),
    (14, "podReplacementPolicy", Ty::Str),
    (15, "managedBy", Ty::Str),
];
const POD_FAILURE_POLICY: Msg = &[(1, "rules", Ty::List(&Ty::Msg(POD_FAILURE_POLICY_RULE)))];
const POD_FAILURE_POLICY_RULE: Msg = &[
    (1, "action", Ty::Str),
    (
        2,
        "onExitCodes",
        Ty::Msg(POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT),
    ),
    (
        3,
        "onPodConditions",
        Ty::List(&Ty::Msg(POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN)),
    ),
];
const POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: Msg = &[
    (1, "containerName", Ty::Str),
    (2, "operator", Ty::Str),
    (3, "values", Ty::List(&Ty::Int)),
];
const POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: Msg = &[(1, "type", Ty::Str)];
const SUCCESS_POLICY: Msg = &[(1, "rules", Ty::List(&Ty::Msg(SUCCESS_POLICY_RULE)))];
const SUCCESS_POLICY_RULE: Msg = &[
    (1, "succeededIndexes", Ty::Str),
    (2, "succeededCount", Ty::Int),
];
const LABEL_SELECTOR: Msg = &[
    (1, "matchLabels", Ty::MapStr),
    (
        2,
        "matchExpressions",
        Ty::List(&Ty::Msg(LABEL_SELECTOR_REQUIREMENT)),
    ),
];
const LABEL_SELECTOR_REQUIREMENT: Msg = &[
    (1, "key", Ty::Str),
    (2, "operator", Ty::Str),
    (3, "values", Ty::List(&Ty::Str)),
];
const POD_TEMPLATE_SPEC: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(POD_SPEC)),
];
pub(super) const POD_SPEC: Msg = &[
    (1, "volumes", Ty::List(&Ty::Msg(VOLUME))),
    (20, "initContainers", Ty::List(&Ty::Msg(CONTAINER))),
    (2, "containers", Ty::List(&Ty::Msg(CONTAINER))),
    (3, "restartPolicy", Ty::Str),
    (4, "terminationGracePeriodSeconds", Ty::Int),
    (5, "activeDeadlineSeconds", Ty::Int),
    (6, "dnsPolicy", Ty::Str),
    (7, "nodeSelector", Ty::MapStr),
    (8, "serviceAccountName", Ty::Str),
    (9, "serviceAccount", Ty::Str),
    (21, "automountServiceAccountToken", Ty::Bool),
    (10, "nodeName", Ty::Str),
    (11, "hostNetwork", Ty::Bool),
    (12, "hostPID", Ty::Bool),
    (13, "hostIPC", Ty::Bool),
    (27, "shareProcessNamespace", Ty::Bool),
    (
        15,
        "imagePullSecrets",
        Ty::List(&Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    ),
    (16, "hostname", Ty::Str),
    (17, "subdomain", Ty::Str),
    (18, "affinity", Ty::Msg(AFFINITY)),
    (19, "schedulerName", Ty::Str),
    (22, "tolerations", Ty::List(&Ty::Msg(TOLERATION))),
    (24, "priorityClassName", Ty::Str),
    (25, "priority", Ty::Int),
    (29, "runtimeClassName", Ty::Str),
    (30, "enableServiceLinks", Ty::Bool),
    (31, "preemptionPolicy", Ty::Str),
    (32, "overhead", Ty::MapQuantity),
    (35, "setHostnameAsFQDN", Ty::Bool),
    (37, "hostUsers", Ty::Bool),
    (40, "resources", Ty::Msg(RESOURCE_REQUIREMENTS)),
    (41, "hostnameOverride", Ty::Str),
];
const VOLUME: Msg = &[
    (1, "name", Ty::Str),
    (2, "volumeSource", Ty::Inline(VOLUME_SOURCE)),
];
const VOLUME_SOURCE: Msg = &[
    (1, "hostPath", Ty::Msg(HOST_PATH_VOLUME_SOURCE)),
    (2, "emptyDir", Ty::Msg(EMPTY_DIR_VOLUME_SOURCE)),
    (6, "secret", Ty::Msg(SECRET_VOLUME_SOURCE)),
    (
        10,
        "persistentVolumeClaim",
        Ty::Msg(PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE),
    ),
    (16, "downwardAPI", Ty::Msg(DOWNWARD_API_VOLUME_SOURCE)),
    (19, "configMap", Ty::Msg(CONFIG_MAP_VOLUME_SOURCE)),
    (26, "projected", Ty::Msg(PROJECTED_VOLUME_SOURCE)),
];
const HOST_PATH_VOLUME_SOURCE: Msg = &[(1, "path", Ty::Str), (2, "type", Ty::Str)];
const EMPTY_DIR_VOLUME_SOURCE: Msg = &[(1, "medium", Ty::Str), (2, "sizeLimit", Ty::Quantity)];
const SECRET_VOLUME_SOURCE: Msg = &[
    (1, "secretName", Ty::Str),
    (2, "items", Ty::List(&Ty::Msg(KEY_TO_PATH))),
    (3, "defaultMode", Ty::Int),
    (4, "optional", Ty::Bool),
];
const KEY_TO_PATH: Msg = &[
    (1, "key", Ty::Str),
    (2, "path", Ty::Str),
    (3, "mode", Ty::Int),
];
const PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Msg =
    &[(1, "claimName", Ty::Str), (2, "readOnly", Ty::Bool)];
const DOWNWARD_API_VOLUME_SOURCE: Msg = &[
    (1, "items", Ty::List(&Ty::Msg(DOWNWARD_API_VOLUME_FILE))),
    (2, "defaultMode", Ty::Int),
];
const DOWNWARD_API_VOLUME_FILE: Msg = &[
    (1, "path", Ty::Str),
    (2, "fieldRef", Ty::Msg(OBJECT_FIELD_SELECTOR)),
    (3, "resourceFieldRef", Ty::Msg(RESOURCE_FIELD_SELECTOR)),
    (4, "mode", Ty::Int),
];
const OBJECT_FIELD_SELECTOR: Msg = &[(1, "apiVersion", Ty::Str), (2, "fieldPath", Ty::Str)];
const RESOURCE_FIELD_SELECTOR: Msg = &[
    (1, "containerName", Ty::Str),
    (2, "resource", Ty::Str),
    (3, "divisor", Ty::Quantity),
];
const CONFIG_MAP_VOLUME_SOURCE: Msg = &[
    (1, "localObjectReference", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    (2, "items", Ty::List(&Ty::Msg(KEY_TO_PATH))),
    (3, "defaultMode", Ty::Int),
    (4, "optional", Ty::Bool),
];
const LOCAL_OBJECT_REFERENCE: Msg = &[(1, "name", Ty::Str)];
const PROJECTED_VOLUME_SOURCE: Msg = &[
    (1, "sources", Ty::List(&Ty::Msg(VOLUME_PROJECTION))),
    (2, "defaultMode", Ty::Int),
];
const VOLUME_PROJECTION: Msg = &[
    (1, "secret", Ty::Msg(SECRET_PROJECTION)),
    (2, "downwardAPI", Ty::Msg(DOWNWARD_API_PROJECTION)),
    (3, "configMap", Ty::Msg(CONFIG_MAP_PROJECTION)),
];
const SECRET_PROJECTION: Msg = &[
    (1, "localObjectReference", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    (2, "items", Ty::List(&Ty::Msg(KEY_TO_PATH))),
    (4, "optional", Ty::Bool),
];
const DOWNWARD_API_PROJECTION: Msg = &[(1, "items", Ty::List(&Ty::Msg(DOWNWARD_API_VOLUME_FILE)))];
const CONFIG_MAP_PROJECTION: Msg = &[
    (1, "localObjectReference", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    (2, "items", Ty::List(&Ty::Msg(KEY_TO_PATH))),
    (4, "optional", Ty::Bool),
];
const CONTAINER: Msg = &[
    (1, "name", Ty::Str),
    (2, "image", Ty::Str),
    (3, "command", Ty::List(&Ty::Str)),
    (4, "args", Ty::List(&Ty::Str)),
    (5, "workingDir", Ty::Str),
    (6, "ports", Ty::List(&Ty::Msg(CONTAINER_PORT))),
    (19, "envFrom", Ty::List(&Ty::Msg(ENV_FROM_SOURCE))),
    (7, "env", Ty::List(&Ty::Msg(ENV_VAR))),
    (8, "resources", Ty::Msg(RESOURCE_REQUIREMENTS)),
    (24, "restartPolicy", Ty::Str),
    (9, "volumeMounts", Ty::List(&Ty::Msg(VOLUME_MOUNT))),
    (13, "terminationMessagePath", Ty::Str),
    (20, "terminationMessagePolicy", Ty::Str),
    (14, "imagePullPolicy", Ty::Str),
    (16, "stdin", Ty::Bool),
    (17, "stdinOnce", Ty::Bool),
    (18, "tty", Ty::Bool),
];
const CONTAINER_PORT: Msg = &[
    (1, "name", Ty::Str),
    (2, "hostPort", Ty::IntOmitZero),
    (3, "containerPort", Ty::IntOmitZero),
    (4, "protocol", Ty::Str),
    (5, "hostIP", Ty::Str),
];
const ENV_FROM_SOURCE: Msg = &[
    (1, "prefix", Ty::Str),
    (2, "configMapRef", Ty::Msg(CONFIG_MAP_ENV_SOURCE)),
    (3, "secretRef", Ty::Msg(SECRET_ENV_SOURCE)),
];
const CONFIG_MAP_ENV_SOURCE: Msg = &[
    (1, "localObjectReference", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    (2, "optional", Ty::Bool),
];
const SECRET_ENV_SOURCE: Msg = &[
    (1, "localObjectReference", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    (2, "optional", Ty::Bool),
];
const ENV_VAR: Msg = &[
    (1, "name", Ty::Str),
    (2, "value", Ty::Str),
    (3, "valueFrom", Ty::Msg(ENV_VAR_SOURCE)),
];
const ENV_VAR_SOURCE: Msg = &[
    (1, "fieldRef", Ty::Msg(OBJECT_FIELD_SELECTOR)),
    (2, "resourceFieldRef", Ty::Msg(RESOURCE_FIELD_SELECTOR)),
    (3, "configMapKeyRef", Ty::Msg(CONFIG_MAP_KEY_SELECTOR)),
    (4, "secretKeyRef", Ty::Msg(SECRET_KEY_SELECTOR)),
];
const CONFIG_MAP_KEY_SELECTOR: Msg = &[
    (1, "localObjectReference", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    (2, "key", Ty::Str),
    (3, "optional", Ty::Bool),
];
const SECRET_KEY_SELECTOR: Msg = &[
    (1, "localObjectReference", Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    (2, "key", Ty::Str),
    (3, "optional", Ty::Bool),
];
const RESOURCE_REQUIREMENTS: Msg = &[
    (1, "limits", Ty::MapQuantity),
    (2, "requests", Ty::MapQuantity),
];
const VOLUME_MOUNT: Msg = &[
    (1, "name", Ty::Str),
    (2, "readOnly", Ty::Bool),
    (7, "recursiveReadOnly", Ty::Str),
    (3, "mountPath", Ty::Str),
    (4, "subPath", Ty::Str),
    (5, "mountPropagation", Ty::Str),
    (6, "subPathExpr", Ty::Str),
];
const AFFINITY: Msg = &[(1, "nodeAffinity", Ty::Msg(NODE_AFFINITY))];
const NODE_AFFINITY: Msg = &[
    (
        1,
        "requiredDuringSchedulingIgnoredDuringExecution",
        Ty::Msg(NODE_SELECTOR),
    ),
    (
        2,
        "preferredDuringSchedulingIgnoredDuringExecution",
        Ty::List(&Ty::Msg(PREFERRED_SCHEDULING_TERM)),
    ),
];
const NODE_SELECTOR: Msg = &[(
    1,
    "nodeSelectorTerms",
    Ty::List(&Ty::Msg(NODE_SELECTOR_TERM)),
)];
const NODE_SELECTOR_TERM: Msg = &[
    (
        1,
        "matchExpressions",
        Ty::List(&Ty::Msg(NODE_SELECTOR_REQUIREMENT)),
    ),
    (
        2,
        "matchFields",
        Ty::List(&Ty::Msg(NODE_SELECTOR_REQUIREMENT)),
    ),
];
const NODE_SELECTOR_REQUIREMENT: Msg = &[
    (1, "key", Ty::Str),
    (2, "operator", Ty::Str),
    (3, "values", Ty::List(&Ty::Str)),
];
const PREFERRED_SCHEDULING_TERM: Msg = &[
    (1, "weight", Ty::Int),
    (2, "preference", Ty::Msg(NODE_SELECTOR_TERM)),
];
const TOLERATION: Msg = &[
    (1, "key", Ty::Str),
    (2, "operator", Ty::Str),
    (3, "value", Ty::Str),
    (4, "effect", Ty::Str),
    (5, "tolerationSeconds", Ty::Int),
];
pub(super) const CRON_JOB: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(CRON_JOB_SPEC)),
];
const CRON_JOB_SPEC: Msg = &[
    (1, "schedule", Ty::Str),
    (8, "timeZone", Ty::Str),
    (2, "startingDeadlineSeconds", Ty::Int),
    (3, "concurrencyPolicy", Ty::Str),
    (4, "suspend", Ty::Bool),
    (5, "jobTemplate", Ty::Msg(JOB_TEMPLATE_SPEC)),
    (6, "successfulJobsHistoryLimit", Ty::Int),
    (7, "failedJobsHistoryLimit", Ty::Int),
];
const JOB_TEMPLATE_SPEC: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(JOB_SPEC)),
];
pub(super) const DAEMON_SET: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(DAEMON_SET_SPEC)),
];
const DAEMON_SET_SPEC: Msg = &[
    (1, "selector", Ty::Msg(LABEL_SELECTOR)),
    (2, "template", Ty::Msg(POD_TEMPLATE_SPEC)),
    (3, "updateStrategy", Ty::Msg(DAEMON_SET_UPDATE_STRATEGY)),
    (4, "minReadySeconds", Ty::Int),
    (6, "revisionHistoryLimit", Ty::Int),
];
const DAEMON_SET_UPDATE_STRATEGY: Msg = &[
    (1, "type", Ty::Str),
    (2, "rollingUpdate", Ty::Msg(ROLLING_UPDATE_DAEMON_SET)),
];
const ROLLING_UPDATE_DAEMON_SET: Msg = &[
    (1, "maxUnavailable", Ty::IntOrString),
    (2, "maxSurge", Ty::IntOrString),
];
pub(super) const CONFIG_MAP: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (4, "immutable", Ty::Bool),
    (2, "data", Ty::MapStr),
    (3, "binaryData", Ty::MapBytes),
];
pub(super) const SECRET: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (5, "immutable", Ty::Bool),
    (2, "data", Ty::MapBytes),
    (4, "stringData", Ty::MapStr),
    (3, "type", Ty::Str),
];
pub(super) const NAMESPACE: Msg = &[(1, "metadata", Ty::Msg(OBJECT_META))];
pub(super) const SERVICE_ACCOUNT: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "secrets", Ty::List(&Ty::Msg(OBJECT_REFERENCE))),
    (
        3,
        "imagePullSecrets",
        Ty::List(&Ty::Msg(LOCAL_OBJECT_REFERENCE)),
    ),
    (4, "automountServiceAccountToken", Ty::Bool),
];
const OBJECT_REFERENCE: Msg = &[
    (1, "kind", Ty::Str),
    (2, "namespace", Ty::Str),
    (3, "name", Ty::Str),
    (4, "uid", Ty::Str),
    (5, "apiVersion", Ty::Str),
];
/// A Role or a ClusterRole (whose `aggregationRule`, 3, is not read).
pub(super) const ROLE: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "rules", Ty::List(&Ty::Msg(POLICY_RULE))),
];
const POLICY_RULE: Msg = &[
    (1, "verbs", Ty::List(&Ty::Text)),
    (3, "apiGroups", Ty::List(&Ty::Text)),
    (4, "resources", Ty::List(&Ty::Text)),
    (5, "resourceNames", Ty::List(&Ty::Text)),
    (6, "nonResourceURLs", Ty::List(&Ty::Text)),
];
/// A RoleBinding or a ClusterRoleBinding.
pub(super) const ROLE_BINDING: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "subjects", Ty::List(&Ty::Msg(SUBJECT))),
    (3, "roleRef", Ty::Msg(ROLE_REF)),
];
const SUBJECT: Msg = &[
    (1, "kind", Ty::Str),
    (2, "apiGroup", Ty::Str),
    (3, "name", Ty::Str),
    (4, "namespace", Ty::Str),
];
const ROLE_REF: Msg = &[
    (1, "apiGroup", Ty::Str),
    (2, "kind", Ty::Str),
    (3, "name", Ty::Str),
];
pub(super) const TOKEN_REQUEST: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(TOKEN_REQUEST_SPEC)),
];
const TOKEN_REQUEST_SPEC: Msg = &[
    (1, "audiences", Ty::List(&Ty::Text)),
    (4, "expirationSeconds", Ty::Int),
    (3, "boundObjectRef", Ty::Msg(BOUND_OBJECT_REFERENCE)),
];
const BOUND_OBJECT_REFERENCE: Msg = &[
    (1, "kind", Ty::Str),
    (2, "apiVersion", Ty::Str),
    (3, "name", Ty::Str),
    (4, "uid", Ty::Str),
];
pub(super) const SELF_SUBJECT_ACCESS_REVIEW: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(SELF_SUBJECT_ACCESS_REVIEW_SPEC)),
];
const SELF_SUBJECT_ACCESS_REVIEW_SPEC: Msg = &[
    (1, "resourceAttributes", Ty::Msg(RESOURCE_ATTRIBUTES)),
    (2, "nonResourceAttributes", Ty::Msg(NON_RESOURCE_ATTRIBUTES)),
];
const RESOURCE_ATTRIBUTES: Msg = &[
    (1, "namespace", Ty::Str),
    (2, "verb", Ty::Str),
    (3, "group", Ty::Str),
    (4, "version", Ty::Str),
    (5, "resource", Ty::Str),
    (6, "subresource", Ty::Str),
    (7, "name", Ty::Str),
];
const NON_RESOURCE_ATTRIBUTES: Msg = &[(1, "path", Ty::Str), (2, "verb", Ty::Str)];
pub(super) const SELF_SUBJECT_RULES_REVIEW: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (2, "spec", Ty::Msg(&[(1, "namespace", Ty::Str)])),
];
/// Asks nothing: who is asking is the answer.
pub(super) const SELF_SUBJECT_REVIEW: Msg = &[(1, "metadata", Ty::Msg(OBJECT_META))];
pub(super) const RESOURCE_QUOTA: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Ty::Msg(&[
            (1, "hard", Ty::MapQuantity),
            (2, "scopes", Ty::List(&Ty::Str)),
        ]),
    ),
];
pub(super) const LIMIT_RANGE: Msg = &[
    (1, "metadata", Ty::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Ty::Msg(&[(1, "limits", Ty::List(&Ty::Msg(LIMIT_RANGE_ITEM)))]),
    ),
];
const LIMIT_RANGE_ITEM: Msg = &[
    (1, "type", Ty::Str),
    (2, "max", Ty::MapQuantity),
    (3, "min", Ty::MapQuantity),
    (4, "default", Ty::MapQuantity),
    (5, "defaultRequest", Ty::MapQuantity),
    (6, "maxLimitRequestRatio", Ty::MapQuantity),
];
