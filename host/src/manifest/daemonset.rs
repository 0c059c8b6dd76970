//! `apps/v1` DaemonSet spec. Its shape is checked here; placement on nodes
//! belongs to the DaemonSet controller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::disconnect::Disconnect;
use super::validate::{self, Check};
use super::{FieldError, PodTemplateSpec, RestartPolicy};

/// `spec` of a DaemonSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DaemonSetSpec {
    /// Must match the template's labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The per-node instance's template.
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// `RollingUpdate` (default) or `OnDelete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
    /// Seconds an instance must run before it counts as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Old template revisions kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// wasmjob extension: what the cluster does with the instances of a
    /// node that is away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect: Option<Disconnect>,
}

/// A label selector with `matchLabels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must all be present with these values.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// `updateStrategy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateStrategy {
    /// `RollingUpdate` or `OnDelete`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Only with `RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdate>,
}

/// `updateStrategy.rollingUpdate`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollingUpdate {
    /// Instances that may be down during an update; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<i32>,
    /// Extra instances during an update; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<i32>,
}

impl DaemonSetSpec {
    /// Fills defaults and checks the values.
    pub fn normalize(&mut self, path: &str) -> Result<(), FieldError> {
        self.template.normalize(
            &format!("{path}.template"),
            &[RestartPolicy::Always],
            RestartPolicy::Always,
            "DaemonSet",
        )?;
        self.validate_selector(path)?;
        self.normalize_strategy(path)?;
        if let Some(secs) = self.min_ready_seconds {
            validate::non_negative(secs.into()).at(&format!("{path}.minReadySeconds"))?;
        }
        if let Some(limit) = self.revision_history_limit {
            validate::non_negative(limit.into()).at(&format!("{path}.revisionHistoryLimit"))?;
        }
        if let Some(disconnect) = &self.disconnect {
            disconnect.validate(&format!("{path}.disconnect"))?;
        }
        Ok(())
    }

    /// `selector.matchLabels` must select the template's labels.
    fn validate_selector(&self, path: &str) -> Result<(), FieldError> {
        let Some(selector) = &self.selector else {
            return Ok(());
        };
        let at = format!("{path}.selector.matchLabels");
        validate::labels(&selector.match_labels, &at)?;
        for (key, value) in &selector.match_labels {
            if self.template.metadata.labels.get(key) != Some(value) {
                return Err(FieldError::new(
                    format!("{path}.selector"),
                    format!(
                        "selects {key}={value}, which spec.template.metadata.labels \
                         does not have"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `updateStrategy`, `RollingUpdate` (maxUnavailable 1, maxSurge 0) by
    /// default.
    fn normalize_strategy(&mut self, path: &str) -> Result<(), FieldError> {
        let strategy = self.update_strategy.get_or_insert_with(Default::default);
        let kind = strategy
            .kind
            .get_or_insert_with(|| "RollingUpdate".to_owned())
            .clone();
        match kind.as_str() {
            "RollingUpdate" => {
                let rolling = strategy.rolling_update.get_or_insert_with(Default::default);
                let unavailable = *rolling.max_unavailable.get_or_insert(1);
                let surge = *rolling.max_surge.get_or_insert(0);
                let at = format!("{path}.updateStrategy.rollingUpdate");
                validate::non_negative(unavailable.into()).at(&format!("{at}.maxUnavailable"))?;
                validate::non_negative(surge.into()).at(&format!("{at}.maxSurge"))?;
                if unavailable == 0 && surge == 0 {
                    let message = "maxUnavailable and maxSurge cannot both be 0";
                    return Err(FieldError::new(at, message));
                }
                Ok(())
            }
            "OnDelete" if strategy.rolling_update.is_some() => Err(FieldError::new(
                format!("{path}.updateStrategy.rollingUpdate"),
                "may only be set when type is RollingUpdate",
            )),
            "OnDelete" => Ok(()),
            other => Err(FieldError::new(
                format!("{path}.updateStrategy.type"),
                format!("unsupported value {other:?}: use RollingUpdate or OnDelete"),
            )),
        }
    }
}
