//! The JSON error body every role returns: `{"error": "<stable_code>", "message": "<safe text>"}`.

use serde::{Deserialize, Serialize};

/// Wire form of an error. `error` is a stable snake_case code clients may match on;
/// `message` is for humans and never carries internal detail or secrets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            message: message.into(),
        }
    }
}
