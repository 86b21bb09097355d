//! The core's error type. The host maps each variant to its exit code.

/// Why a simulation could not run to its end.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// A plugin failed or returned an invalid value.
    #[error("plugin `{plugin}`: {message}")]
    Plugin { plugin: String, message: String },
    /// The system cannot serve the workload (the model does not fit, a request can never fit
    /// its replica's KV memory, the policy stalls).
    #[error("infeasible: {0}")]
    Infeasible(String),
    /// The observer asked the run to stop.
    #[error("interrupted")]
    Interrupted,
}

impl SimError {
    /// A plugin's error, with its name.
    pub fn plugin(plugin: impl Into<String>, e: impl std::fmt::Display) -> Self {
        SimError::Plugin { plugin: plugin.into(), message: e.to_string() }
    }
}

/// The core's result type.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
