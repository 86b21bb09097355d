//! `reallm` on Python: the extension module `reallm._reallm` (built by maturin from
//! `python/pyproject.toml`) and, without the `python` feature, its Python-free core ([`api`]).
//!
//! The package's user-facing layer (argument handling, pandas, docstrings) is Python code in
//! `python/reallm/`; see `docs/python.md`.

pub mod api;
#[cfg(feature = "python")]
mod py;
