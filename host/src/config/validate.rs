//! Validation of a resolved [`Experiment`] (both forms).

use super::*;
use crate::error::{Error, Result};

/// Checks shared by both forms. Plugin-specific checks (heads divisible by TP, ...) happen
/// when the plugins are built.
fn validate_pool(p: &PoolConfig, o: &str) -> Result<()> {
    let role = p.role.name();
    if p.num_devices == 0 {
        return Err(Error::config(o, format!("{role} pool: num_devices is 0; expected at least 1")));
    }
    if p.num_devices > 1_000_000 {
        return Err(Error::config(
            o,
            format!("{role} pool: {} devices is beyond what one replica can model (limit 1,000,000)", p.num_devices),
        ));
    }
    if p.replicas == 0 || p.replicas > 100_000 {
        return Err(Error::config(o, format!("{role} pool: replicas = {}; expected 1 to 100,000", p.replicas)));
    }
    for (what, d) in [("attention", p.attention), ("ffn", p.ffn)] {
        if d.product() != p.num_devices as u64 {
            return Err(Error::config(
                o,
                format!("{role} pool: {what} parallelism `{d}` spans {} devices but the system has num_devices = {}; the degrees must multiply to the device count", d.product(), p.num_devices),
            ));
        }
    }
    if p.attention.pp != p.ffn.pp {
        return Err(Error::config(
            o,
            format!(
                "{role} pool: pipeline degree differs between attention (pp{}) and ffn (pp{}); stages hold whole layers",
                p.attention.pp, p.ffn.pp
            ),
        ));
    }
    if p.limits.max_batch_seqs == 0 || p.limits.max_batch_tokens == 0 {
        return Err(Error::config(o, format!("{role} pool: batching max_batch_seqs and max_batch_tokens must be at least 1")));
    }
    let m = &p.memory;
    if !(m.usable_fraction > 0.0 && m.usable_fraction <= 1.0) {
        return Err(Error::config(o, format!("key `memory.usable_fraction` = {}: expected a fraction in (0, 1]", m.usable_fraction)));
    }
    if !(0.0..1.0).contains(&m.watermark_fraction) {
        return Err(Error::config(o, format!("key `memory.watermark_fraction` = {}: expected a fraction in [0, 1)", m.watermark_fraction)));
    }
    if !(m.host_link_bytes_per_s.is_finite() && m.host_link_bytes_per_s > 0.0) {
        return Err(Error::config(
            o,
            format!("key `memory.host_link_bytes_per_s` = {}: expected a positive number of bytes per second", m.host_link_bytes_per_s),
        ));
    }
    if m.block_tokens == 0 {
        return Err(Error::config(o, "key `memory.block_tokens`: expected at least 1 token per block"));
    }
    if !(m.activation_reserve_gib >= 0.0 && m.activation_reserve_gib.is_finite()) {
        return Err(Error::config(o, "key `memory.activation_reserve_gib`: expected a non-negative number"));
    }
    Ok(())
}

pub fn validate(e: &Experiment) -> Result<()> {
    let o = &e.origin;
    if e.sim.cuda_graph_batch_sizes.contains(&0) {
        return Err(Error::config(o, "key `sim.cuda_graph_batch_sizes`: sizes must be at least 1"));
    }
    e.slo.validate().map_err(|m| Error::config(o, format!("key `slo`: {m}")))?;
    for p in e.pools() {
        validate_pool(p, o)?;
    }
    if let Some(b) = e.kv_transfer.bandwidth_bytes_per_s {
        if !(b.is_finite() && b > 0.0) {
            return Err(Error::config(
                o,
                format!("kv_transfer.bandwidth_bytes_per_s = {b}: expected a positive number of bytes per second"),
            ));
        }
    }
    if let Some(l) = e.kv_transfer.latency_s {
        if !(l.is_finite() && l >= 0.0) {
            return Err(Error::config(o, format!("kv_transfer.latency_s = {l}: expected a non-negative number of seconds")));
        }
    }
    for r in e.trace_gen.request_rates.iter().chain(&e.workload.request_rates) {
        if !(r.is_finite() && *r > 0.0) {
            return Err(Error::config(o, format!("request rate {r}: expected a positive number of requests per second")));
        }
    }
    for t in e.trace_gen.tasks.iter().chain(&e.workload.tasks) {
        if crate::workload::azure::Task::parse(t).is_none() {
            return Err(Error::config(o, format!("task `{t}`: expected `code` or `conv`")));
        }
    }
    if e.trace_gen.max_requests == 0 {
        return Err(Error::config(o, "trace generation: max_requests must be at least 1"));
    }
    if !(e.trace_gen.end_time_s > 0.0) {
        return Err(Error::config(o, format!("trace generation: end time {} s must be positive", e.trace_gen.end_time_s)));
    }
    if let Some(t) = e.sim.end_time_s {
        if !(t > 0.0) {
            return Err(Error::config(o, format!("key `sim.end_time_s` = {t}: expected a positive time in seconds")));
        }
    }
    if !(e.sim.iteration_overhead_s >= 0.0 && e.sim.iteration_overhead_s.is_finite()) {
        return Err(Error::config(o, "key `sim.iteration_overhead_s`: expected a non-negative number of seconds"));
    }
    if e.kernel.prefill_blocks.contains(&0) || e.kernel.decode_ctx.contains(&0) || e.kernel.decode_batches.contains(&0) {
        return Err(Error::config(o, "kernel: prefill_blocks, decode_ctx and decode_batches must be positive"));
    }
    Ok(())
}
