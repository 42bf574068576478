//! Config errors, shaped like compiler diagnostics: `file:line:column: key.path: reason`.
//!
//! Two kinds: [`ConfigError::Yaml`] when the text does not fit the schema (syntax, unknown key, bad
//! value), whose path and position come from serde_yaml_ng; and [`ConfigError::Invalid`] when the values
//! parse but break a rule, which `validate` raises with a key path and `parse` then places on a line by
//! walking the text again (see `locate.rs`). `validate` alone has no file, so origin and location are
//! filled in afterwards and printed only when known.

use std::fmt;
use std::io;

/// A 1-based line and column in the config text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{origin}: cannot read: {source}")]
    Read {
        origin: String,
        #[source]
        source: io::Error,
    },
    /// The text is not YAML of the expected shape. `message` starts with the key path when there is one.
    #[error("{}{message}", prefix(origin, location))]
    Yaml { origin: String, location: Option<Location>, message: String },
    /// The values break a rule.
    #[error("{}{path}{}: {reason}", prefix(origin, location), quoted(label))]
    Invalid {
        origin: String,
        location: Option<Location>,
        /// Key path such as `services[1].real_servers[0].weight`.
        path: String,
        /// Name of the object at `path`, when it has one (a service or interface name).
        label: Option<String>,
        reason: String,
    },
}

/// `file:line:col: `, `file: ` or nothing, depending on what is known.
fn prefix(origin: &str, location: &Option<Location>) -> String {
    match (origin.is_empty(), location) {
        (true, _) => String::new(),
        (false, Some(at)) => format!("{origin}:{at}: "),
        (false, None) => format!("{origin}: "),
    }
}

/// ` "web2"` after the path, or nothing.
fn quoted(label: &Option<String>) -> String {
    label.as_ref().map(|label| format!(" \"{label}\"")).unwrap_or_default()
}

impl ConfigError {
    /// A rule violation at `path`, before origin and location are known.
    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            origin: String::new(),
            location: None,
            path: path.into(),
            label: None,
            reason: reason.into(),
        }
    }

    /// The same violation, naming the object (`services[1] "web2"`).
    pub(crate) fn labelled(path: impl Into<String>, label: &str, reason: impl Into<String>) -> Self {
        let mut error = Self::invalid(path, reason);
        if let ConfigError::Invalid { label: slot, .. } = &mut error {
            *slot = Some(label.to_string());
        }
        error
    }

    /// Converts a serde_yaml_ng error, moving its trailing `at line L column C` to the front.
    pub(crate) fn from_yaml(origin: &str, error: &serde_yaml_ng::Error) -> Self {
        let location = error.location().map(|at| Location { line: at.line(), column: at.column() });
        let mut message = error.to_string();
        if let Some(at) = location {
            let suffix = format!(" at line {} column {}", at.line, at.column);
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
        }
        ConfigError::Yaml { origin: origin.to_string(), location, message }
    }

    /// Fills in the file name and, for rule violations, a location found by the caller.
    pub(crate) fn at(mut self, file: &str, find: impl FnOnce(&str) -> Option<Location>) -> Self {
        if let ConfigError::Invalid { origin, location, path, .. } = &mut self {
            *origin = file.to_string();
            *location = find(path);
        }
        self
    }

    /// The file the error is about, when known.
    pub fn origin(&self) -> Option<&str> {
        let origin = match self {
            ConfigError::Read { origin, .. }
            | ConfigError::Yaml { origin, .. }
            | ConfigError::Invalid { origin, .. } => origin,
        };
        (!origin.is_empty()).then_some(origin.as_str())
    }

    /// Line and column, when known.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Yaml { location, .. } | ConfigError::Invalid { location, .. } => *location,
        }
    }
}
