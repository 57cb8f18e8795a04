//! Loading a process's TOML config file.
//!
//! Every config struct derives `Deserialize` with `deny_unknown_fields` and
//! `default`, so a missing file or key means the default, and a misspelt key
//! or a value of the wrong type is a startup error that names the key.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A config file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    /// A semantic check failed for `key`.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// Reads `path` as TOML into `T`; no path means all defaults.
pub fn load<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T, ConfigError> {
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|message| ConfigError::Parse {
        path: path.display().to_string(),
        message,
    })
}

/// Parses TOML text into `T`, with the key named in any error.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Sample {
        port: u16,
        name: String,
    }

    #[test]
    fn defaults_fill_missing_keys() {
        let s: Sample = parse("port = 7").expect("parses");
        assert_eq!(
            s,
            Sample {
                port: 7,
                name: String::new()
            }
        );
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse::<Sample>("prot = 7").expect_err("unknown key");
        assert!(e.contains("prot"), "{e}");
        let e = parse::<Sample>("port = \"x\"").expect_err("wrong type");
        assert!(e.contains("port"), "{e}");
        let e = parse::<Sample>("port = 70000").expect_err("out of range");
        assert!(e.contains("port"), "{e}");
    }
}
