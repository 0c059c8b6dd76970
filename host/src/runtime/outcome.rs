//! How an instance ended, in Kubernetes' words.

use serde::{Deserialize, Serialize};

/// The end of one instance run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Exit code 0.
    Succeeded,
    /// A non-zero exit code (reason `Error`).
    Failed {
        /// The guest's exit code.
        exit_code: i32,
    },
    /// The guest trapped (reason `Trapped`); no exit code.
    Trapped {
        /// The trap's text.
        message: String,
    },
    /// The guest asked for more memory than `resources.limits.memory`.
    OomKilled {
        /// What the limiter refused.
        message: String,
    },
    /// The wall-clock deadline passed and the guest was stopped.
    DeadlineExceeded {
        /// Which deadline.
        message: String,
    },
    /// The instance could not be started at all.
    StartError {
        /// Why.
        message: String,
    },
}

impl Outcome {
    /// Whether the instance succeeded.
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Succeeded)
    }

    /// Kubernetes' `reason` for a failed instance.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Outcome::Succeeded => None,
            Outcome::Failed { .. } => Some("Error"),
            Outcome::Trapped { .. } => Some("Trapped"),
            Outcome::OomKilled { .. } => Some("OOMKilled"),
            Outcome::DeadlineExceeded { .. } => Some("DeadlineExceeded"),
            Outcome::StartError { .. } => Some("StartError"),
        }
    }

    /// The exit code, when the guest exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Outcome::Succeeded => Some(0),
            Outcome::Failed { exit_code } => Some(*exit_code),
            _ => None,
        }
    }

    /// The human-readable detail.
    pub fn message(&self) -> Option<String> {
        match self {
            Outcome::Succeeded => None,
            Outcome::Failed { exit_code } => Some(format!("exited with code {exit_code}")),
            Outcome::Trapped { message }
            | Outcome::OomKilled { message }
            | Outcome::DeadlineExceeded { message }
            | Outcome::StartError { message } => Some(message.clone()),
        }
    }
}
