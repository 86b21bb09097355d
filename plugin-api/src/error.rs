//! The one error type plugins return.

/// An error raised by a plugin. The host adds the plugin's name and origin when reporting it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugin's parameters were malformed (unknown field, wrong type, bad value).
    #[error("invalid parameters for plugin `{plugin}`: {message}")]
    Params {
        /// The plugin's name.
        plugin: String,
        /// What was wrong, naming the field.
        message: String,
    },
    /// The request cannot be served by this plugin (e.g. a kernel kind a backend does not cost).
    #[error("{0}")]
    Unsupported(String),
    /// The configuration is inconsistent (e.g. a parallel degree that does not divide the heads).
    #[error("{0}")]
    Invalid(String),
}

impl PluginError {
    /// An [`PluginError::Invalid`] error.
    pub fn invalid(msg: impl Into<String>) -> Self {
        PluginError::Invalid(msg.into())
    }
    /// An [`PluginError::Unsupported`] error.
    pub fn unsupported(msg: impl Into<String>) -> Self {
        PluginError::Unsupported(msg.into())
    }
}
