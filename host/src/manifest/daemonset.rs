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
    /// Nodes that may be without an available instance during an update:
    /// a number or a percentage of the nodes that should run one; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
    /// Nodes that may run an extra instance during an update; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrPercent>,
}

/// Kubernetes' IntOrString for counts: `2` or `"25%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    /// A number.
    Int(i32),
    /// A percentage of a total, rounded up when applied.
    Percent(i32),
}

impl IntOrPercent {
    /// The number it stands for out of `total` (a percentage rounded up,
    /// as Kubernetes' DaemonSet controller rounds it).
    pub fn scaled(self, total: u32) -> u32 {
        match self {
            IntOrPercent::Int(n) => n.max(0) as u32,
            IntOrPercent::Percent(p) => {
                let p = p.max(0) as u64;
                (p * u64::from(total)).div_ceil(100) as u32
            }
        }
    }

    fn value(self) -> i32 {
        match self {
            IntOrPercent::Int(n) | IntOrPercent::Percent(n) => n,
        }
    }
}

impl Serialize for IntOrPercent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            IntOrPercent::Int(n) => serializer.serialize_i32(*n),
            IntOrPercent::Percent(p) => serializer.serialize_str(&format!("{p}%")),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrPercent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = IntOrPercent;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number or a percentage such as 25%")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IntOrPercent, E> {
                i32::try_from(v)
                    .map(IntOrPercent::Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IntOrPercent, E> {
                i32::try_from(v)
                    .map(IntOrPercent::Int)
                    .map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IntOrPercent, E> {
                v.strip_suffix('%')
                    .and_then(|n| n.parse::<i32>().ok())
                    .map(IntOrPercent::Percent)
                    .ok_or_else(|| {
                        E::custom(format!(
                            "invalid value {v:?}: a valid percent string must be a numeric \
                             string followed by an ending '%'"
                        ))
                    })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
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
                let unavailable = *rolling.max_unavailable.get_or_insert(IntOrPercent::Int(1));
                let surge = *rolling.max_surge.get_or_insert(IntOrPercent::Int(0));
                let at = format!("{path}.updateStrategy.rollingUpdate");
                for (value, field) in [(unavailable, "maxUnavailable"), (surge, "maxSurge")] {
                    validate::non_negative(value.value().into()).at(&format!("{at}.{field}"))?;
                    if matches!(value, IntOrPercent::Percent(p) if p > 100) {
                        let message = "must not be greater than 100%";
                        return Err(FieldError::new(format!("{at}.{field}"), message));
                    }
                }
                if unavailable.value() == 0 && surge.value() == 0 {
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

#[cfg(test)]
mod tests {
    use super::IntOrPercent;

    #[test]
    fn a_count_is_a_number_or_a_percentage_rounded_up() {
        let read = |yaml: &str| serde_yaml_ng::from_str::<IntOrPercent>(yaml);
        assert_eq!(read("2").unwrap(), IntOrPercent::Int(2));
        assert_eq!(read("'25%'").unwrap(), IntOrPercent::Percent(25));
        let err = read("'25'").unwrap_err().to_string();
        assert!(err.contains("a valid percent string"), "{err}");
        assert_eq!(IntOrPercent::Percent(25).scaled(3), 1);
        assert_eq!(IntOrPercent::Percent(25).scaled(8), 2);
        assert_eq!(IntOrPercent::Percent(25).scaled(0), 0);
        assert_eq!(IntOrPercent::Int(3).scaled(1), 3);
        assert_eq!(
            serde_json::to_value(IntOrPercent::Percent(10)).unwrap(),
            serde_json::json!("10%")
        );
    }
}
