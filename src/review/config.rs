//! `schemashift.toml`: the review settings a project keeps beside its
//! migrations, so CI and every developer review alike.
//!
//! ```toml
//! exclude = ["create-index-non-concurrent"]
//! pg_version = 15
//! assume_in_transaction = true
//! engine = "postgres"
//! fail_on = "warning"
//! allow_unchecked = false
//! ```
//!
//! Input the reviewer could not check (a statement it cannot parse, a Ruby
//! or JavaScript migration) makes the verdict `unchecked`, which fails the
//! run whatever `fail_on` says: a clean run must mean every statement was
//! read. `allow_unchecked = true` (or `--allow-unchecked`) still lists it but
//! lets the run pass; `-- schemashift-ignore unparsed-statement` above a
//! statement you checked by hand silences that one.
//!
//! The file is looked up in the current directory and its parents (or named
//! with `--config`); flags on the command line override it. Unknown keys and
//! unknown rule ids are errors, so a typo never silently disables nothing.

use super::{rules, Review, ReviewOptions, Severity, Verdict};
use crate::context::{Engine, PG_VERSIONS};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The name looked up in the current directory and its parents.
pub const FILE_NAME: &str = "schemashift.toml";

/// The least severe finding that fails the run (exit code 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Warning,
    #[default]
    Error,
}

impl FailOn {
    pub fn threshold(self) -> Severity {
        match self {
            FailOn::Warning => Severity::Warning,
            FailOn::Error => Severity::Error,
        }
    }

    /// Whether a review has a finding at or above the threshold.
    pub fn fails(self, review: &Review) -> bool {
        review
            .findings
            .iter()
            .any(|f| f.severity >= self.threshold())
    }
}

/// The contents of `schemashift.toml`; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Rule ids not to report.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// PostgreSQL major version the migrations run on.
    pub pg_version: Option<u32>,
    /// The migration tool wraps each file in a transaction.
    pub assume_in_transaction: Option<bool>,
    pub engine: Option<Engine>,
    pub fail_on: Option<FailOn>,
    /// Input that could not be checked does not fail the run.
    pub allow_unchecked: Option<bool>,
}

/// The configuration file a review read, as its output names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigUsed {
    /// The file's path.
    pub path: String,
    /// The rule ids the file turns off (the command line's not included).
    pub exclude: Vec<String>,
}

impl ConfigUsed {
    pub fn new(path: &Path, config: &Config) -> ConfigUsed {
        ConfigUsed {
            path: path.display().to_string(),
            exclude: config.exclude.clone(),
        }
    }

    /// One line for people: `config: ./schemashift.toml (excludes: rename-column)`.
    pub fn describe(&self) -> String {
        if self.exclude.is_empty() {
            format!("config: {} (excludes no rules)", self.path)
        } else {
            format!(
                "config: {} (excludes: {})",
                self.path,
                self.exclude.join(", ")
            )
        }
    }
}

/// What the command line says; `None` / `false` / empty leave the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub engine: Option<Engine>,
    pub pg_version: Option<u32>,
    pub assume_in_transaction: bool,
    pub fail_on: Option<FailOn>,
    /// Added to the file's exclusions.
    pub exclude: Vec<String>,
    /// `--allow-unchecked`.
    pub allow_unchecked: bool,
}

/// The settings a review runs with: the file's, then the command line's.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub options: ReviewOptions,
    pub fail_on: FailOn,
    /// An `unchecked` verdict does not fail the run.
    pub allow_unchecked: bool,
}

impl Settings {
    /// Whether the run fails (exit code 1): a finding at or above
    /// `fail_on`, or input that could not be checked unless that is allowed.
    pub fn fails(&self, review: &Review) -> bool {
        self.fail_on.fails(review)
            || (review.verdict == Verdict::Unchecked && !self.allow_unchecked)
    }
}

/// A configuration that cannot be used, with the file it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// Too large, not text, or not readable: the message names the file.
    #[error("{message}")]
    Unreadable { message: String },
}

impl Config {
    /// Parses the text of a configuration file; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            // toml's message already quotes the line; the accepted keys help
            // with the most common mistake, a misspelt key.
            let mut msg = e.to_string().trim_end().to_string();
            if msg.contains("unknown field") {
                msg.push_str(
                    "\nthe keys are: exclude, pg_version, assume_in_transaction, engine, fail_on, allow_unchecked",
                );
            }
            invalid(msg)
        })?;
        check_rule_ids(&config.exclude).map_err(|m| invalid(format!("exclude: {m}")))?;
        if let Some(v) = config.pg_version {
            check_pg_version(v).map_err(|m| invalid(format!("pg_version: {m}")))?;
        }
        Ok(config)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = crate::limits::read_file_text(
            path,
            crate::limits::CONFIG_BYTES,
            "the configuration file",
            "a configuration is a few lines of TOML",
        )
        .map_err(|message| ConfigError::Unreadable { message })?;
        Config::parse(&text, path)
    }

    /// `schemashift.toml` in `dir` or the nearest parent that has one, up
    /// to the repository's root (the folder holding `.git`): a file above
    /// the repository is someone else's and must not turn rules off here.
    pub fn discover(dir: &Path) -> Option<PathBuf> {
        for d in dir.ancestors() {
            let candidate = d.join(FILE_NAME);
            if candidate.is_file() {
                return Some(candidate);
            }
            if d.join(".git").exists() {
                return None;
            }
        }
        None
    }

    /// The file's settings with the command line's on top. Checks the rule
    /// ids and the version given on the command line.
    pub fn resolve(&self, cli: &Overrides) -> Result<Settings, String> {
        check_rule_ids(&cli.exclude).map_err(|m| format!("--exclude: {m}"))?;
        if let Some(v) = cli.pg_version {
            check_pg_version(v).map_err(|m| format!("--pg-version: {m}"))?;
        }
        let mut exclude = self.exclude.clone();
        for id in &cli.exclude {
            if !exclude.contains(id) {
                exclude.push(id.clone());
            }
        }
        let engine = cli.engine.or(self.engine).unwrap_or_default();
        Ok(Settings {
            options: ReviewOptions {
                engine,
                pg_version: cli
                    .pg_version
                    .or(self.pg_version)
                    .unwrap_or(Engine::Postgres.default_version()),
                assume_in_transaction: cli.assume_in_transaction
                    || self.assume_in_transaction.unwrap_or(false),
                exclude,
            },
            fail_on: cli.fail_on.or(self.fail_on).unwrap_or_default(),
            allow_unchecked: cli.allow_unchecked || self.allow_unchecked.unwrap_or(false),
        })
    }
}

/// Every id must name a rule; the message names the closest one.
pub fn check_rule_ids(ids: &[String]) -> Result<(), String> {
    for id in ids {
        if rules::get(id).is_none() {
            let mut msg = format!("unknown rule id `{id}`");
            if let Some(close) = closest_rule(id) {
                msg.push_str(&format!(" (did you mean `{close}`?)"));
            }
            msg.push_str("; `schemashift rules` lists every rule");
            return Err(msg);
        }
    }
    Ok(())
}

pub fn check_pg_version(v: u32) -> Result<(), String> {
    if PG_VERSIONS.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "PostgreSQL {v} is not supported; give a major version from {} to {}",
            PG_VERSIONS.start(),
            PG_VERSIONS.end()
        ))
    }
}

/// The rule id nearest to a misspelt one, if any is near enough to be meant.
pub fn closest_rule(id: &str) -> Option<&'static str> {
    rules::ALL
        .iter()
        .map(|r| (edit_distance(id, r.id), r.id))
        .filter(|(d, r)| *d <= 3.max(r.len() / 4))
        .min()
        .map(|(_, r)| r)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("schemashift.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_key() {
        let c = parse(
            "exclude = [\"rename-column\"]\npg_version = 12\nassume_in_transaction = true\nengine = \"postgres\"\nfail_on = \"warning\"\n",
        )
        .unwrap();
        assert_eq!(c.exclude, ["rename-column"]);
        assert_eq!(c.pg_version, Some(12));
        assert_eq!(c.assume_in_transaction, Some(true));
        assert_eq!(c.engine, Some(Engine::Postgres));
        assert_eq!(c.fail_on, Some(FailOn::Warning));
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_values_and_rules_are_errors() {
        let e = parse("pg-version = 15").unwrap_err();
        assert!(
            e.contains("pg-version") && e.contains("the keys are"),
            "{e}"
        );
        let e = parse("exclude = [\"rename-colum\"]").unwrap_err();
        assert!(
            e.contains("unknown rule id `rename-colum`") && e.contains("`rename-column`"),
            "{e}"
        );
        let e = parse("engine = \"oracle\"").unwrap_err();
        assert!(e.contains("oracle"), "{e}");
        let e = parse("fail_on = \"info\"").unwrap_err();
        assert!(e.contains("info"), "{e}");
        let e = parse("pg_version = 9").unwrap_err();
        assert!(e.contains("from 10 to 19"), "{e}");
        assert_eq!(parse("pg_version = 19").unwrap().pg_version, Some(19));
        assert!(parse("pg_version = 20").is_err());
        assert!(parse("exclude = \"rename-column\"").is_err());
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let c =
            parse("pg_version = 12\nfail_on = \"warning\"\nexclude = [\"rename-column\"]").unwrap();
        let s = c
            .resolve(&Overrides {
                pg_version: Some(16),
                exclude: vec!["create-index-non-concurrent".into()],
                ..Overrides::default()
            })
            .unwrap();
        assert_eq!(s.options.pg_version, 16);
        assert_eq!(s.fail_on, FailOn::Warning);
        assert_eq!(
            s.options.exclude,
            ["rename-column", "create-index-non-concurrent"]
        );
        let s = c
            .resolve(&Overrides {
                fail_on: Some(FailOn::Error),
                ..Overrides::default()
            })
            .unwrap();
        assert_eq!((s.options.pg_version, s.fail_on), (12, FailOn::Error));
        let d = Config::default().resolve(&Overrides::default()).unwrap();
        assert_eq!(d.options, ReviewOptions::default());
        assert_eq!(d.fail_on, FailOn::Error);
        assert!(Config::default()
            .resolve(&Overrides {
                exclude: vec!["nope".into()],
                ..Overrides::default()
            })
            .unwrap_err()
            .contains("unknown rule id `nope`"));
    }

    #[test]
    fn discovers_the_file_in_a_parent_directory() {
        let root = std::env::temp_dir().join(format!("schemashift-config-{}", std::process::id()));
        let nested = root.join("db").join("migrate");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(root.join(FILE_NAME), "pg_version = 14\n").unwrap();
        let found = Config::discover(&nested).expect("found in a parent");
        assert_eq!(found, root.join(FILE_NAME));
        assert_eq!(Config::load(&found).unwrap().pg_version, Some(14));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
