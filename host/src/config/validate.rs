//! Validation of a resolved [`Experiment`] (both forms).

use super::*;
use crate::error::{Error, Result};

/// Checks shared by both forms. Plugin-specific checks (heads divisible by TP, ...) happen
/// when the plugins are built.
fn validate_pool(p: &PoolConfig, o: &str, engine: bool) -> Result<()> {
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
    let autos = [
        ("usable_fraction", m.usable_fraction),
        ("activation_reserve_gib", m.activation_reserve_gib),
        ("framework_reserve_gib", m.framework_reserve_gib),
    ];
    for (key, v) in autos {
        if v == schema::AutoOr::Auto && !engine {
            return Err(Error::config(
                o,
                format!("key `memory.{key}` = auto: `auto` is derived from an engine profile's data; set `engine: vllm | sglang | trtllm` or give a number"),
            ));
        }
    }
    if let Some(f) = m.usable_fraction.value() {
        if !(f > 0.0 && f <= 1.0) {
            return Err(Error::config(o, format!("key `memory.usable_fraction` = {f}: expected a fraction in (0, 1]")));
        }
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
    for (key, v) in [("activation_reserve_gib", m.activation_reserve_gib), ("framework_reserve_gib", m.framework_reserve_gib)] {
        if let Some(x) = v.value() {
            if !(x >= 0.0 && x.is_finite()) {
                return Err(Error::config(o, format!("key `memory.{key}` = {x}: expected a non-negative number of GiB")));
            }
        }
    }
    validate_prefix_cache(p, o)?;
    let k = &p.kv_router;
    for (key, v) in [("overlap_score_weight", k.overlap_score_weight), ("load_weight", k.load_weight), ("temperature", k.temperature)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::config(o, format!("{role} pool: key `kv_router.{key}` = {v}: expected a non-negative number")));
        }
    }
    Ok(())
}

fn validate_prefix_cache(p: &PoolConfig, o: &str) -> Result<()> {
    let pc = &p.memory.prefix_cache;
    let key = "memory.prefix_cache";
    if reallm_sim::Eviction::parse(&pc.eviction).is_none() {
        return Err(Error::config(o, format!("key `{key}.eviction`: unknown policy `{}`; expected lru, lfu or fifo", pc.eviction)));
    }
    if let Some(c) = pc.block_tokens {
        let b = p.memory.block_tokens;
        if c == 0 || c % b != 0 {
            return Err(Error::config(
                o,
                format!("key `{key}.block_tokens` = {c}: expected a positive multiple of `memory.block_tokens` ({b})"),
            ));
        }
    }
    if pc.enabled && p.role == Role::Decode {
        return Err(Error::config(
            o,
            format!(
                "key `disaggregated.decode.{key}.enabled`: prefix caching applies to pools that prefill; enable it on the prefill pool"
            ),
        ));
    }
    for (name, t) in [("host", pc.host), ("ssd", pc.ssd), ("cluster", pc.cluster)] {
        let Some(t) = t else { continue };
        if !(t.capacity_gib.is_finite() && t.capacity_gib >= 0.0) {
            return Err(Error::config(o, format!("key `{key}.{name}.capacity_gib` = {}: expected a non-negative number", t.capacity_gib)));
        }
        if let Some(b) = t.bandwidth_bytes_per_s {
            if !(b.is_finite() && b > 0.0) {
                return Err(Error::config(o, format!("key `{key}.{name}.bandwidth_bytes_per_s` = {b}: expected a positive number")));
            }
        }
        if let Some(l) = t.latency_s {
            if !(l.is_finite() && l >= 0.0) {
                return Err(Error::config(o, format!("key `{key}.{name}.latency_s` = {l}: expected a non-negative number of seconds")));
            }
        }
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
        validate_pool(p, o, e.engine.is_some())?;
    }
    validate_workload(&e.workload, o)?;
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
    let w = &e.workload;
    if !(w.time_scale.is_finite() && w.time_scale > 0.0) {
        return Err(Error::config(o, format!("key `workload.time_scale` = {}: expected a positive factor", w.time_scale)));
    }
    if w.hash_block_tokens == 0 {
        return Err(Error::config(o, "key `workload.hash_block_tokens`: expected at least 1 token per block"));
    }
    if let Some(sp) = &w.system_prompt {
        if sp.groups == 0 || sp.tokens == 0 || sp.block_tokens == 0 {
            return Err(Error::config(o, "key `workload.system_prompt`: groups, tokens and block_tokens must be at least 1"));
        }
    }
    if let Some(c) = &w.conversations {
        let key = "workload.conversations";
        if c.count == 0 || c.count > crate::workload::trace::MAX_REQUESTS as u64 {
            return Err(Error::config(
                o,
                format!("key `{key}.count` = {}: expected 1 to {}", c.count, crate::workload::trace::MAX_REQUESTS),
            ));
        }
        if !(c.rate.is_finite() && c.rate > 0.0) {
            return Err(Error::config(o, format!("key `{key}.rate` = {}: expected a positive number of conversations per second", c.rate)));
        }
        if !(c.turns.is_finite() && c.turns >= 1.0 && c.turns <= 10_000.0) {
            return Err(Error::config(o, format!("key `{key}.turns` = {}: expected a mean of 1 to 10,000 turns", c.turns)));
        }
        if !(c.think_time_s.is_finite() && c.think_time_s >= 0.0) {
            return Err(Error::config(
                o,
                format!("key `{key}.think_time_s` = {}: expected a non-negative number of seconds", c.think_time_s),
            ));
        }
        if crate::workload::azure::Task::parse(&c.task).is_none() {
            return Err(Error::config(o, format!("key `{key}.task`: unknown task `{}`; expected `code` or `conv`", c.task)));
        }
        if c.block_tokens == 0 {
            return Err(Error::config(o, format!("key `{key}.block_tokens`: expected at least 1 token per block")));
        }
    }
    if e.kernel.prefill_blocks.contains(&0) || e.kernel.decode_ctx.contains(&0) || e.kernel.decode_batches.contains(&0) {
        return Err(Error::config(o, "kernel: prefill_blocks, decode_ctx and decode_batches must be positive"));
    }
    Ok(())
}

/// Closed-loop and warm-up settings: degenerate numbers are errors naming the key.
fn validate_workload(w: &SimWorkload, o: &str) -> Result<()> {
    for &c in &w.concurrency {
        if c == 0 {
            return Err(Error::config(o, "key `workload.concurrency` = 0: a closed loop needs at least 1 client"));
        }
        if c > MAX_CLIENTS {
            return Err(Error::config(o, format!("key `workload.concurrency` = {c}: at most {MAX_CLIENTS} clients")));
        }
    }
    if !(w.think_time_s.is_finite() && w.think_time_s >= 0.0) {
        return Err(Error::config(
            o,
            format!("key `workload.think_time_s` = {}: expected a non-negative number of seconds", w.think_time_s),
        ));
    }
    if let Some(d) = w.duration_s {
        if !(d.is_finite() && d > 0.0) {
            return Err(Error::config(o, format!("key `workload.duration_s` = {d}: expected a positive number of seconds")));
        }
    }
    if let Some(s) = &w.synthetic {
        if w.warmup_requests >= s.requests {
            return Err(Error::config(
                o,
                format!(
                    "key `workload.warmup_requests` = {}: leaves none of the {} synthetic requests to measure",
                    w.warmup_requests, s.requests
                ),
            ));
        }
    }
    Ok(())
}

/// Most closed-loop clients (each holds one request in flight).
pub const MAX_CLIENTS: u32 = 1_000_000;
