//! The one error type of manifest loading: where the problem is and what it is.

use std::fmt;

/// Where an object came from, so that errors about it name the user's
/// file and document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// The file as the user named it.
    pub file: String,
    /// 1-based document index.
    pub document: usize,
}

/// A problem at one field of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, as `spec.template.spec.containers[0].image`; empty for
    /// the document as a whole.
    pub path: String,
    /// What is wrong, and where it helps, what to do instead.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A manifest that cannot be used, with the file and document it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The file as the user named it (or `<stdin>`).
    pub file: String,
    /// 1-based index of the YAML document in the file; `None` for problems of
    /// the file as a whole (unreadable, not YAML at all).
    pub document: Option<usize>,
    /// The field and the problem.
    pub error: FieldError,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(doc) = self.document {
            write!(f, "document {doc}: ")?;
        }
        if !self.error.path.is_empty() {
            write!(f, "{}: ", self.error.path)?;
        }
        f.write_str(&self.error.message)
    }
}
