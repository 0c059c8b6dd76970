//! Kubernetes' value rules: DNS-1123 names, label keys and values, counts.
//!
//! Each check returns `Result<(), String>` with a message that says what the
//! rule is; [`Check::at`] attaches the field path.

use std::collections::BTreeMap;

use super::FieldError;

/// Attaches a field path to a failed check.
pub trait Check<T> {
    /// The check's failure as a [`FieldError`] at `path`.
    fn at(self, path: &str) -> Result<T, FieldError>;
}

impl<T> Check<T> for Result<T, String> {
    fn at(self, path: &str) -> Result<T, FieldError> {
        self.map_err(|message| FieldError::new(path, message))
    }
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// A DNS-1123 label: at most 63 lowercase letters, digits and `-`, starting
/// and ending with a letter or digit.
pub fn dns_label(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.chars().all(|c| is_alnum(c) || c == '-')
        && value.starts_with(is_alnum)
        && value.ends_with(is_alnum);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {value:?}: must be a DNS-1123 label (at most 63 lowercase letters, \
             digits and '-', starting and ending with a letter or digit)"
        ))
    }
}

/// An object name: a DNS-1123 subdomain (labels joined by `.`) of at most
/// `max` characters.
pub fn object_name(value: &str, max: usize) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|part| dns_label(part).is_ok());
    if !ok {
        return Err(format!(
            "invalid name {value:?}: must be a DNS-1123 subdomain (lowercase letters, digits, \
             '-' and '.', starting and ending with a letter or digit)"
        ));
    }
    if value.len() > max {
        return Err(format!(
            "name {value:?} is {} characters long; at most {max} are allowed",
            value.len()
        ));
    }
    Ok(())
}

fn label_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A label or annotation key: an optional DNS subdomain prefix and `/`, then a
/// name of at most 63 letters, digits, `-`, `_` and `.`.
pub fn qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| object_name(p, 253).is_ok());
    if prefix_ok && label_name(name) {
        Ok(())
    } else {
        Err(format!(
            "invalid key {key:?}: must be a name of at most 63 letters, digits, '-', '_' and '.' \
             starting and ending with a letter or digit, optionally after a DNS subdomain and '/'"
        ))
    }
}

/// A label value: empty, or a name of at most 63 letters, digits, `-`, `_`, `.`.
pub fn label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || label_name(value) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value {value:?}: must be empty or at most 63 letters, digits, '-', \
             '_' and '.', starting and ending with a letter or digit"
        ))
    }
}

/// Every key and value of a label map.
pub fn labels(labels: &BTreeMap<String, String>, path: &str) -> Result<(), FieldError> {
    for (key, value) in labels {
        qualified_name(key).at(&format!("{path}[{key}]"))?;
        label_value(value).at(&format!("{path}[{key}]"))?;
    }
    Ok(())
}

/// A count that must not be negative.
pub fn non_negative(value: i64) -> Result<(), String> {
    if value >= 0 {
        Ok(())
    } else {
        Err(format!("must be >= 0, got {value}"))
    }
}

/// A count that must be positive.
pub fn positive(value: i64) -> Result<(), String> {
    if value > 0 {
        Ok(())
    } else {
        Err(format!("must be > 0, got {value}"))
    }
}

/// The error for a Kubernetes field wasmjob recognises but does not implement.
pub fn unsupported(path: &str, why: &str) -> FieldError {
    FieldError::new(path, format!("is not supported by wasmjob: {why}"))
}

/// A named object a field refers to: required, a DNS subdomain.
pub fn required(name: &str, path: &str) -> Result<(), FieldError> {
    if name.is_empty() {
        return Err(FieldError::new(path, "is required"));
    }
    object_name(name, 253).at(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels_follow_rfc_1123() {
        assert!(dns_label("pi").is_ok());
        assert!(dns_label("job-wq-1").is_ok());
        assert!(dns_label("Pi").is_err());
        assert!(dns_label("-pi").is_err());
        assert!(dns_label("pi-").is_err());
        assert!(dns_label(&"a".repeat(64)).is_err());
    }

    #[test]
    fn object_names_may_have_dots_but_respect_the_kind_limit() {
        assert!(object_name("process-item.apple", 63).is_ok());
        assert!(object_name("a..b", 63).is_err());
        let err = object_name(&"a".repeat(60), 52).unwrap_err();
        assert!(err.contains("at most 52"), "{err}");
    }

    #[test]
    fn label_keys_may_have_a_prefix() {
        assert!(qualified_name("batch.kubernetes.io/job-name").is_ok());
        assert!(qualified_name("jobgroup").is_ok());
        assert!(qualified_name("a/b/c").is_err());
        assert!(qualified_name("/x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("Apple_1.x").is_ok());
        assert!(label_value("has space").is_err());
    }
}
