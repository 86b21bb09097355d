//! The built-in `roofline` backend as a dynamic plugin library (`libreallm_roofline_cdylib.so`):
//! the same code as the static plugin, exported through the stable ABI. Useful for a host
//! built without it, and as the reference for the dynamic path (its results must be
//! bit-identical to the static plugin's; `tests/it/dynamic.rs` checks that).

// Name the crate so the linker keeps its `inventory` registration.
use reallm_roofline as _;

reallm_plugin_api::export_plugin!();
