//! The vsd YAML config: schema, loading, and validation (reference: docs/CONFIG.md).
//!
//! Loading is three steps, each with its own kind of error. serde_yaml_ng turns the text into typed
//! structs (`schema.rs`), refusing unknown keys and bad values; `Config::validate` (`validate.rs`) checks
//! the rules that tie values together; and on a rule violation `locate.rs` finds the offending key's
//! line and column, so that every error reads `file:line:column: key.path: reason`.
//!
//! Why serde_yaml_ng and not serde-saphyr: both report line and column, but serde_yaml_ng's errors also
//! carry the key path (`services[0].vips[0]: invalid IP address "198.18.0.x"`), which is what an
//! operator needs to find a mistake in a long file; serde-saphyr prints a source snippet without the
//! path. (serde_yaml, which serde_yaml_ng forks, is archived.)

mod addr;
pub mod duration;
mod error;
mod health;
mod locate;
mod prefix;
mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::{ConfigError, Location};
pub use prefix::Prefix;
pub use schema::*;

/// Reads, parses and validates a config file; errors name the file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { origin: origin.clone(), source })?;
    parse(&text, &origin)
}

/// Parses and validates config text; `origin` (a file name) prefixes every error message.
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError::Yaml {
            origin: origin.to_string(),
            location: None,
            message: "file is empty".into(),
        });
    }
    let config: Config = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::from_yaml(origin, &e))?;
    config.validate().map_err(|e| e.at(origin, |path| locate::locate(text, path)))?;
    Ok(config)
}

impl Config {
    /// The config as YAML, in the same schema `parse` reads (for `vsadm save`).
    pub fn to_yaml(&self) -> String {
        // Fails only for maps with non-string keys, bytes or nested enums, none of which the schema has.
        serde_yaml_ng::to_string(self).expect("the config schema serializes to YAML")
    }
}
