//! Test-only: a library built "against reallm-plugin-api 2.0.0". It exports an abi_stable
//! root module with the same module name as ReaLLM's but version 2.0.0, which is what a
//! plugin built against a future major version looks like to a 1.x host. The host must
//! report it as incompatible (and skip it) without calling into it.

// `#[derive(StableAbi)]` on a prefix type expands to impls this lint flags on rustc ≥ 1.80.
#![allow(non_local_definitions)]

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::RStr;
use abi_stable::{declare_root_module_statics, export_root_module, StableAbi};

/// A stand-in for the 2.0 root module.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FutureLibRef)))]
#[sabi(missing_field(panic))]
pub struct FutureLib {
    #[sabi(last_prefix_field)]
    pub describe: extern "C" fn() -> RStr<'static>,
}

impl RootModule for FutureLibRef {
    declare_root_module_statics! {FutureLibRef}
    const BASE_NAME: &'static str = "reallm_plugin";
    const NAME: &'static str = "reallm plugin library";
    const VERSION_STRINGS: VersionStrings = VersionStrings { version: RStr::from_str("2.0.0") };
}

extern "C" fn describe() -> RStr<'static> {
    RStr::from_str("a plugin library from the future")
}

/// The root module.
#[export_root_module]
pub fn future_root_module() -> FutureLibRef {
    FutureLib { describe }.leak_into_prefix()
}
