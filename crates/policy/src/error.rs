//! Typed errors of the policy crate.

/// A policy file could not be loaded. `Display` reads `FILE:LINE:COLUMN: rule "NAME": message`.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: cannot read the policy file: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {}{message}", rule.as_ref().map(|r| format!("rule \"{r}\": ")).unwrap_or_default())]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        /// The `name` of the rule at fault (`#N` when the rule has no name), if any.
        rule: Option<String>,
        message: String,
    },
}

impl PolicyError {
    /// The 1-based line of the error, when it has one.
    pub fn line(&self) -> Option<usize> {
        match self {
            PolicyError::Invalid { line, .. } => Some(*line),
            PolicyError::Io { .. } => None,
        }
    }
    /// The rule at fault, when there is one.
    pub fn rule(&self) -> Option<&str> {
        match self {
            PolicyError::Invalid { rule, .. } => rule.as_deref(),
            PolicyError::Io { .. } => None,
        }
    }
}

/// An input file for `policy check` could not be read or parsed. Always names the file and,
/// where there is one, the line.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
}
