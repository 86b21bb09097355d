//! Memory footprint of a model replica under a parallel plan.

use crate::error::{Result, SimError};
use crate::spec::{MemoryRule, MemorySpec};
use reallm_plugin_api::{ModelInfo, ParallelPlan};

/// Memory footprint of the model on one device of a pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryPlan {
    /// Device memory, bytes.
    pub capacity_bytes_per_device: u64,
    /// Weights held by one device, bytes.
    pub weight_bytes_per_device: u64,
    /// Activation workspace reserved per device, bytes.
    pub activation_reserve_bytes: u64,
    /// Framework memory (CUDA context, communicators, graphs) reserved per device, bytes.
    pub framework_reserve_bytes: u64,
    /// What is left for KV per device, bytes.
    pub kv_bytes_per_device: u64,
    /// KV bytes one token occupies on one device.
    pub kv_bytes_per_token_per_device: u64,
    /// Tokens of KV one replica holds.
    pub kv_token_capacity: u64,
}

/// Weights, reserve and KV capacity per device of `info` under `plan` on a device of
/// `capacity_bytes` (named `device` in errors).
///
/// Attention weights split over attention TP (replicated over DP/CP); FFN over FFN TP; routed
/// experts over EP·TP; embedding and LM head vocab-parallel over TP; layers over PP. KV heads
/// split over attention TP up to the number of KV heads (beyond that they are replicated); MLA's
/// latent cache (one shared head) is replicated across TP. With `R` the activation and
/// framework reserves, KV bytes per device follow the spec's [`MemoryRule`]:
/// `capacity × usable_fraction − weights − R` (of the total), or
/// `(capacity − weights − R) × usable_fraction` (of the free memory); each product is rounded
/// down to whole bytes, and the token capacity to whole tokens.
pub fn memory_plan(info: &ModelInfo, plan: &ParallelPlan, mem: &MemorySpec, device: &str, capacity_bytes: u64) -> Result<MemoryPlan> {
    let w = &info.weights;
    let (a, f) = (plan.attention, plan.ffn);
    let pp = a.pp.max(1) as u64;
    let per_dev = w.attention / a.tp as u64
        + (w.dense_ffn + w.shared_experts) / f.tp as u64
        + w.routed_experts / (f.ep as u64 * f.tp as u64)
        + w.router
        + w.norms;
    let per_dev = per_dev / pp + w.embedding / a.tp as u64 + w.lm_head / f.tp as u64;
    let reserve = mem.activation_reserve_bytes;
    let framework = mem.framework_reserve_bytes;
    let shown = |b: u64| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64);
    let reserves = if framework > 0 {
        format!("an activation reserve of {} and a framework reserve of {}", shown(reserve), shown(framework))
    } else {
        format!("an activation reserve of {}", shown(reserve))
    };
    let needed = per_dev.saturating_add(reserve).saturating_add(framework);
    let kv_bytes = match mem.rule {
        MemoryRule::FractionOfTotal => {
            let usable = (capacity_bytes as f64 * mem.usable_fraction) as u64;
            if needed >= usable {
                return Err(SimError::Infeasible(format!(
                    "{} does not fit: weights need {} per device under attention `{}` / ffn `{}` on {} devices, plus {}, but each {} offers {} usable ({} × {})",
                    info.name,
                    shown(per_dev),
                    a,
                    f,
                    plan.devices,
                    reserves,
                    device,
                    shown(usable),
                    shown(capacity_bytes),
                    mem.usable_fraction
                )));
            }
            usable - needed
        }
        MemoryRule::FractionOfFree => {
            let kv = (capacity_bytes.saturating_sub(needed) as f64 * mem.usable_fraction) as u64;
            if needed >= capacity_bytes || kv == 0 {
                return Err(SimError::Infeasible(format!(
                    "{} does not fit: weights need {} per device under attention `{}` / ffn `{}` on {} devices, plus {}, but each {} holds {}",
                    info.name,
                    shown(per_dev),
                    a,
                    f,
                    plan.devices,
                    reserves,
                    device,
                    shown(capacity_bytes)
                )));
            }
            kv
        }
    };
    let kv_split = (a.tp as u64).min(info.n_kv_heads.max(1)) * pp * a.cp as u64;
    let per_tok = info.kv_bytes_per_token.div_ceil(kv_split).max(1);
    let tokens = kv_bytes / per_tok * a.dp as u64;
    Ok(MemoryPlan {
        capacity_bytes_per_device: capacity_bytes,
        weight_bytes_per_device: per_dev,
        activation_reserve_bytes: reserve,
        framework_reserve_bytes: framework,
        kv_bytes_per_device: kv_bytes,
        kv_bytes_per_token_per_device: per_tok,
        kv_token_capacity: tokens,
    })
}
