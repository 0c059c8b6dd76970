//! Node taints and the tolerations of a pod template, by Kubernetes'
//! rules: a node's `NoSchedule` and `NoExecute` taints keep off every
//! instance that does not tolerate them, a `NoExecute` taint also ends
//! the instances already running there that do not (after their
//! `tolerationSeconds`, when they give one). `PreferNoSchedule` is a
//! preference: in a cluster such a node does not claim work another Ready
//! node can take without one (see `runner::cluster::hosting`). Pure
//! functions, pinned by unit tests; the runner applies them.

use serde::{Deserialize, Serialize};

use super::FieldError;
use super::validate;

/// What a taint does to instances that do not tolerate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaintEffect {
    /// No new instance is placed on the node.
    NoSchedule,
    /// The node is used only when no other will do.
    PreferNoSchedule,
    /// No new instance is placed, and running ones are ended.
    NoExecute,
}

impl TaintEffect {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }

    fn parse(text: &str) -> Option<TaintEffect> {
        Some(match text {
            "NoSchedule" => TaintEffect::NoSchedule,
            "PreferNoSchedule" => TaintEffect::PreferNoSchedule,
            "NoExecute" => TaintEffect::NoExecute,
            _ => return None,
        })
    }
}

/// A node's taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    /// A qualified name.
    pub key: String,
    /// A label value; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// What it does.
    pub effect: TaintEffect,
    /// When a `NoExecute` taint was added, in RFC 3339 (for
    /// `tolerationSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
}

/// `tolerations[]` of a pod template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toleration {
    /// The taint's key; empty with `Exists` tolerates every taint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` (the default) or `Exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The taint's value, for `Equal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The effect tolerated; every effect when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// For `NoExecute`: how long an instance may run on after the taint
    /// is added (for ever when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Checks the toleration by the API server's rules.
    pub fn validate(&self, path: &str) -> Result<(), FieldError> {
        let key = self.key.as_deref().unwrap_or("");
        if !key.is_empty() {
            validate::qualified_name(key).map_err(|e| FieldError::new(format!("{path}.key"), e))?;
        }
        match self.operator.as_deref().unwrap_or("Equal") {
            "Equal" if key.is_empty() => {
                return Err(FieldError::new(
                    format!("{path}.operator"),
                    "must be Exists when key is empty, which means \"match all values and all keys\"",
                ));
            }
            "Equal" => {
                if let Some(value) = &self.value {
                    validate::label_value(value)
                        .map_err(|e| FieldError::new(format!("{path}.value"), e))?;
                }
            }
            "Exists" => {
                if self.value.as_deref().is_some_and(|v| !v.is_empty()) {
                    return Err(FieldError::new(
                        format!("{path}.operator"),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => {
                return Err(FieldError::new(
                    format!("{path}.operator"),
                    format!("unsupported value {other:?}: supported values: \"Equal\", \"Exists\""),
                ));
            }
        }
        let effect = self.effect.as_deref().unwrap_or("");
        if !effect.is_empty() && TaintEffect::parse(effect).is_none() {
            return Err(FieldError::new(
                format!("{path}.effect"),
                format!(
                    "unsupported value {effect:?}: supported values: \"NoExecute\", \
                     \"NoSchedule\", \"PreferNoSchedule\""
                ),
            ));
        }
        if self.toleration_seconds.is_some() && effect != "NoExecute" {
            return Err(FieldError::new(
                format!("{path}.effect"),
                "must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        Ok(())
    }

    /// Whether this toleration tolerates `taint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        let effect = self.effect.as_deref().unwrap_or("");
        if !effect.is_empty() && effect != taint.effect.as_str() {
            return false;
        }
        let key = self.key.as_deref().unwrap_or("");
        if !key.is_empty() && key != taint.key {
            return false;
        }
        match self.operator.as_deref().unwrap_or("Equal") {
            "Exists" => true,
            _ => self.value.as_deref().unwrap_or("") == taint.value,
        }
    }
}

/// The first of `taints` with an effect that keeps new instances off the
/// node (`NoSchedule`, `NoExecute`) that `tolerations` do not tolerate.
pub fn repels<'a>(tolerations: &[Toleration], taints: &'a [Taint]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect != TaintEffect::PreferNoSchedule)
        .find(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// Whether a `PreferNoSchedule` taint of the node is not tolerated (the
/// node is then used only when no other will do).
pub fn prefers_not(tolerations: &[Toleration], taints: &[Taint]) -> bool {
    taints
        .iter()
        .filter(|t| t.effect == TaintEffect::PreferNoSchedule)
        .any(|t| !tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// How a running instance stands with its node's `NoExecute` taints: kept,
/// or to be ended at a time (microseconds; `now` or later) because of a
/// taint, as Kubernetes' taint manager decides. A taint tolerated without
/// `tolerationSeconds` keeps it for ever; with several tolerations the
/// shortest time counts; a taint without `timeAdded` counts from `now`.
pub fn evict_at<'a>(
    tolerations: &[Toleration],
    taints: &'a [Taint],
    now: i64,
) -> Option<(i64, &'a Taint)> {
    let mut at: Option<(i64, &Taint)> = None;
    for taint in taints.iter().filter(|t| t.effect == TaintEffect::NoExecute) {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| t.tolerates(taint)).collect();
        let when = if matching.is_empty() {
            now
        } else if matching.iter().all(|t| t.toleration_seconds.is_some()) {
            let seconds = matching
                .iter()
                .filter_map(|t| t.toleration_seconds)
                .min()
                .unwrap_or(0)
                .max(0);
            let added = taint
                .time_added
                .as_deref()
                .and_then(crate::time::parse_rfc3339)
                .unwrap_or(now);
            (added + seconds * 1_000_000).max(now)
        } else {
            continue;
        };
        if at.is_none_or(|(earliest, _)| when < earliest) {
            at = Some((when, taint));
        }
    }
    at
}

/// One change of `taint node`, in kubectl's syntax: `KEY=VALUE:EFFECT` or
/// `KEY:EFFECT` adds, `KEY:EFFECT-` or `KEY-` removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaintChange {
    /// Add (or, with the same key and effect, replace).
    Add(Taint),
    /// Remove the taints of this key (and effect, when given).
    Remove {
        /// The key.
        key: String,
        /// Only this effect; every effect when `None`.
        effect: Option<TaintEffect>,
    },
}

/// Parses one `taint node` argument.
pub fn parse_change(text: &str) -> Result<TaintChange, String> {
    let usage = || {
        format!(
            "{text:?}: expected KEY=VALUE:EFFECT or KEY:EFFECT to add a taint, KEY:EFFECT- or \
             KEY- to remove one (EFFECT is NoSchedule, PreferNoSchedule or NoExecute)"
        )
    };
    if let Some(rest) = text.strip_suffix('-') {
        let (key, effect) = match rest.split_once(':') {
            Some((key, effect)) => (key, Some(TaintEffect::parse(effect).ok_or_else(usage)?)),
            None => (rest, None),
        };
        validate::qualified_name(key).map_err(|e| format!("{text:?}: {e}"))?;
        return Ok(TaintChange::Remove {
            key: key.to_owned(),
            effect,
        });
    }
    let (pair, effect) = text.rsplit_once(':').ok_or_else(usage)?;
    let effect = TaintEffect::parse(effect).ok_or_else(usage)?;
    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
    validate::qualified_name(key).map_err(|e| format!("{text:?}: {e}"))?;
    validate::label_value(value).map_err(|e| format!("{text:?}: {e}"))?;
    Ok(TaintChange::Add(Taint {
        key: key.to_owned(),
        value: value.to_owned(),
        effect,
        time_added: None,
    }))
}

/// A node's taints after `changes`, or why they are refused: as kubectl,
/// adding a taint whose key and effect exist needs `overwrite`, and
/// removing one that does not exist is an error. A `NoExecute` taint added
/// gets its `timeAdded` (`now`, RFC 3339).
pub fn retainted(
    taints: &[Taint],
    changes: &[TaintChange],
    overwrite: bool,
    now: &str,
) -> Result<Vec<Taint>, String> {
    let mut taints = taints.to_vec();
    for change in changes {
        match change {
            TaintChange::Add(taint) => {
                let same = |t: &Taint| t.key == taint.key && t.effect == taint.effect;
                if let Some(old) = taints.iter().find(|t| same(t)) {
                    if !overwrite && old.value != taint.value {
                        return Err(format!(
                            "node already has a taint with key ({}) and effect ({}), and \
                             --overwrite is false",
                            taint.key,
                            taint.effect.as_str()
                        ));
                    }
                    taints.retain(|t| !same(t));
                }
                let mut taint = taint.clone();
                if taint.effect == TaintEffect::NoExecute {
                    taint.time_added = Some(now.to_owned());
                }
                taints.push(taint);
            }
            TaintChange::Remove { key, effect } => {
                let gone = |t: &Taint| &t.key == key && effect.is_none_or(|e| e == t.effect);
                if !taints.iter().any(gone) {
                    let what = effect.map_or(key.clone(), |e| format!("{key}:{}", e.as_str()));
                    return Err(format!("taint {what:?} not found"));
                }
                taints.retain(|t| !gone(t));
            }
        }
    }
    Ok(taints)
}

/// Parses `serve --taints KEY=VALUE:EFFECT,…`.
pub fn parse_list(text: &str) -> Result<Vec<Taint>, String> {
    let mut taints = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match parse_change(part)? {
            TaintChange::Add(taint) => taints.push(taint),
            TaintChange::Remove { .. } => {
                return Err(format!(
                    "{part:?}: --taints adds taints; remove one with taint node"
                ));
            }
        }
    }
    Ok(taints)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
            time_added: None,
        }
    }

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Toleration {
            key: some(key),
            operator: some(op),
            value: some(value),
            effect: some(effect),
            toleration_seconds: None,
        }
    }

    #[test]
    fn a_toleration_matches_by_key_value_operator_and_effect() {
        let gpu = taint("gpu", "yes", TaintEffect::NoSchedule);
        assert!(toleration("gpu", "Equal", "yes", "NoSchedule").tolerates(&gpu));
        assert!(toleration("gpu", "", "yes", "").tolerates(&gpu));
        assert!(!toleration("gpu", "Equal", "no", "NoSchedule").tolerates(&gpu));
        assert!(toleration("gpu", "Exists", "", "").tolerates(&gpu));
        assert!(!toleration("gpu", "Exists", "", "NoExecute").tolerates(&gpu));
        // An empty key with Exists tolerates everything.
        assert!(toleration("", "Exists", "", "").tolerates(&gpu));
        assert!(!toleration("other", "Exists", "", "").tolerates(&gpu));
    }

    #[test]
    fn no_schedule_and_no_execute_repel_prefer_no_schedule_only_prefers() {
        let taints = vec![
            taint("soft", "", TaintEffect::PreferNoSchedule),
            taint("gpu", "yes", TaintEffect::NoSchedule),
        ];
        assert_eq!(repels(&[], &taints).map(|t| t.key.as_str()), Some("gpu"));
        let tolerate_gpu = [toleration("gpu", "Equal", "yes", "")];
        assert_eq!(repels(&tolerate_gpu, &taints), None);
        assert!(prefers_not(&tolerate_gpu, &taints));
        assert!(!prefers_not(&[toleration("", "Exists", "", "")], &taints));
    }

    #[test]
    fn no_execute_evicts_now_or_after_the_toleration_seconds_since_the_taint() {
        let mut drain = taint("drain", "", TaintEffect::NoExecute);
        drain.time_added = Some("2026-12-06T10:00:00Z".into());
        let added = crate::time::parse_rfc3339("2026-12-06T10:00:00Z").unwrap();
        let now = added + 2_000_000;
        let taints = [drain];
        assert_eq!(evict_at(&[], &taints, now).map(|(at, _)| at), Some(now));
        let mut wait = toleration("drain", "Exists", "", "NoExecute");
        wait.toleration_seconds = Some(30);
        assert_eq!(
            evict_at(std::slice::from_ref(&wait), &taints, now).map(|(at, _)| at),
            Some(added + 30_000_000)
        );
        let forever = toleration("drain", "Exists", "", "");
        assert_eq!(evict_at(&[forever], &taints, now), None);
        let no_schedule = [taint("x", "", TaintEffect::NoSchedule)];
        assert_eq!(evict_at(&[], &no_schedule, now), None);
    }

    #[test]
    fn taint_changes_parse_and_apply_as_kubectl_taint() {
        let add = parse_change("dedicated=gpu:NoSchedule").unwrap();
        let bare = parse_change("maintenance:NoExecute").unwrap();
        let taints = retainted(&[], &[add, bare], false, "2026-12-06T10:00:00Z").unwrap();
        assert_eq!(taints.len(), 2);
        assert_eq!(taints[0].value, "gpu");
        assert_eq!(
            taints[1].time_added.as_deref(),
            Some("2026-12-06T10:00:00Z")
        );
        let again = parse_change("dedicated=cpu:NoSchedule").unwrap();
        let err = retainted(&taints, std::slice::from_ref(&again), false, "t").unwrap_err();
        assert!(err.contains("--overwrite is false"), "{err}");
        assert_eq!(
            retainted(&taints, &[again], true, "t").unwrap()[1].value,
            "cpu"
        );
        let remove = parse_change("dedicated:NoSchedule-").unwrap();
        assert_eq!(retainted(&taints, &[remove], false, "t").unwrap().len(), 1);
        let all = parse_change("maintenance-").unwrap();
        assert_eq!(retainted(&taints, &[all], false, "t").unwrap().len(), 1);
        let missing = parse_change("absent-").unwrap();
        assert!(retainted(&taints, &[missing], false, "t").is_err());
        for bad in [
            "dedicated",
            "a=b:Sometimes",
            "=x:NoSchedule",
            "a b:NoSchedule",
        ] {
            assert!(parse_change(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tolerations_are_validated_as_the_api_server_does() {
        let ok = toleration("gpu", "Exists", "", "NoSchedule");
        assert!(ok.validate("t").is_ok());
        let err = toleration("", "Equal", "x", "").validate("t").unwrap_err();
        assert!(err.message.contains("must be Exists"), "{err:?}");
        let err = toleration("gpu", "Exists", "x", "")
            .validate("t")
            .unwrap_err();
        assert!(err.message.contains("value must be empty"), "{err:?}");
        let err = toleration("gpu", "Equal", "", "Sometimes")
            .validate("t")
            .unwrap_err();
        assert_eq!(err.path, "t.effect");
        let mut seconds = toleration("gpu", "Exists", "", "NoSchedule");
        seconds.toleration_seconds = Some(5);
        assert!(seconds.validate("t").is_err());
    }
}
