//! Test-only plugin library for the boundary's safety checks (`tests/it/dynamic.rs`):
//!
//! - backend `panicky`: logs one record at each level when created and when costing; costs a
//!   GEMM as 1 µs and panics on every other kernel (or already in its constructor with
//!   `panic_in_create: true`);
//! - batch policy `panicky-batch`: panics whenever it is asked to schedule.

use reallm_plugin_api::{
    parse_params, register_plugin, BatchPlan, BatchPolicy, Collective, Constructor, DeviceSpec, Kernel, KernelBackend, PluginError,
    PluginInfo, PluginKind, PluginRegistration, SchedulerView,
};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    panic_in_create: bool,
}

struct Panicky;

impl KernelBackend for Panicky {
    fn kernel_time(&self, k: &Kernel) -> Result<f64, PluginError> {
        log::info!("panicky costs a {}", k.kind_name());
        log::trace!("panicky trace record");
        match k {
            Kernel::Gemm { .. } => Ok(1e-6),
            other => panic!("panicky cannot cost a {}", other.kind_name()),
        }
    }
    fn collective_time(&self, _c: &Collective) -> Result<f64, PluginError> {
        Err(PluginError::unsupported("panicky costs no collectives"))
    }
}

fn create(params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    let p: Params = parse_params("panicky", params)?;
    log::error!("panicky error record");
    log::warn!("panicky warn record");
    log::info!("panicky created on {}", device.name);
    log::debug!("panicky debug record");
    log::trace!("panicky trace record");
    if p.panic_in_create {
        panic!("panicky was asked to panic in its constructor");
    }
    Ok(Box::new(Panicky))
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Backend,
        name: "panicky",
        aliases: &[],
        version: env!("CARGO_PKG_VERSION"),
        summary: "test backend that panics",
        example_params: "panic_in_create: false\n",
        presets: &[],
    },
    ctor: Constructor::Backend(create),
});

struct PanickyBatch;

impl BatchPolicy for PanickyBatch {
    fn schedule(&self, view: &SchedulerView<'_>, _plan: &mut BatchPlan) {
        panic!("panicky-batch refuses to schedule {} waiting requests", view.waiting.len());
    }
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Batching,
        name: "panicky-batch",
        aliases: &[],
        version: env!("CARGO_PKG_VERSION"),
        summary: "test batch policy that panics",
        example_params: "",
        presets: &[],
    },
    ctor: Constructor::Batching(|_| Ok(Box::new(PanickyBatch))),
});

reallm_plugin_api::export_plugin!();
