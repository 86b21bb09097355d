//! The discrete-event engine of one replica.
//!
//! Events are request arrivals and iteration completions. Each iteration: the batch policy
//! plans from a read-only view; the engine admits, allocates KV blocks (preempting the most
//! recently admitted request, recompute-style, when decode growth exhausts memory), costs the
//! iteration through the [`System`], advances time to its end, and emits tokens. Per-token
//! timestamps are the iteration end times.

pub mod kv;
pub mod system;

use crate::error::{Error, Result};
use crate::workload::Request;
use kv::KvPool;
use reallm_plugin_api::{BatchPlan, BatchShape, KvView, PrefillChunk, RequestState, SchedulerView, Source};
use std::collections::VecDeque;
pub use system::{StepCost, System};

/// What happened to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// The trace's request id.
    pub id: u64,
    pub arrival_s: f64,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    /// When it was first scheduled (start of its first iteration).
    pub first_scheduled_s: Option<f64>,
    /// Completion time of each output token, in order.
    pub token_times: Vec<f64>,
    pub preemptions: u32,
}

impl RequestRecord {
    pub fn completed(&self) -> bool {
        self.token_times.len() == self.output_tokens as usize
    }
}

/// One iteration's composition and cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationRecord {
    pub start_s: f64,
    pub end_s: f64,
    pub prefill_tokens: u32,
    pub decode_tokens: u32,
    pub seqs: u32,
    pub kv_used_blocks: u64,
    pub cost: StepCost,
}

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub struct SimResult {
    pub requests: Vec<RequestRecord>,
    pub iterations: Vec<IterationRecord>,
    pub preemptions: u64,
    pub kv_total_blocks: u64,
    pub kv_peak_used_blocks: u64,
    pub kv_block_tokens: u32,
    /// Simulated time when the run stopped, seconds.
    pub end_s: f64,
}

/// Simulation options.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimOptions {
    /// Stop when simulated time reaches this (requests then unfinished stay unfinished).
    pub end_time_s: Option<f64>,
    /// Seed mixed into each iteration's routing seed.
    pub seed: u64,
}

/// Run `requests` (sorted by arrival) through `system`.
pub fn simulate(system: &mut System, requests: &[Request], opts: SimOptions) -> Result<SimResult> {
    let mut kv = KvPool::new(
        system.memory.kv_token_capacity / system.pool.memory.block_tokens as u64,
        system.pool.memory.block_tokens,
        system.pool.memory.watermark_fraction,
    );
    let limits = system.pool.limits;
    let mut records: Vec<RequestRecord> = requests
        .iter()
        .map(|r| RequestRecord {
            id: r.id,
            arrival_s: r.arrival_s,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
            first_scheduled_s: None,
            token_times: Vec::new(),
            preemptions: 0,
        })
        .collect();
    let mut waiting: VecDeque<RequestState> = VecDeque::new();
    let mut running: Vec<RequestState> = Vec::new();
    let mut iterations: Vec<IterationRecord> = Vec::new();
    let mut plan = BatchPlan::default();
    let mut shape = BatchShape::default();
    // (running index, tokens) of this iteration's members.
    let mut members: Vec<(usize, u32)> = Vec::new();
    let mut admitted_mark: Vec<bool> = Vec::new();
    let mut next = 0usize;
    let mut now = requests.first().map(|r| r.arrival_s).unwrap_or(0.0);
    let mut preemptions = 0u64;
    let mut iter_no: u64 = 0;

    loop {
        if let Some(end) = opts.end_time_s {
            if now >= end {
                break;
            }
        }
        while next < requests.len() && requests[next].arrival_s <= now {
            let r = &requests[next];
            records[next].token_times.reserve_exact(r.output_tokens as usize);
            waiting.push_back(RequestState::new(next as u64, r.arrival_s, r.prompt_tokens, r.output_tokens));
            next += 1;
        }
        if waiting.is_empty() && running.is_empty() {
            if next == requests.len() {
                break;
            }
            now = requests[next].arrival_s;
            continue;
        }

        // 1. Plan.
        plan.clear();
        {
            let view = SchedulerView {
                now_s: now,
                waiting: waiting.make_contiguous(),
                running: &running,
                kv: KvView {
                    total_blocks: kv.total_blocks,
                    free_blocks: kv.free_blocks,
                    block_tokens: kv.block_tokens,
                    watermark_blocks: kv.watermark_blocks,
                },
                limits,
            };
            system.policy.schedule(&view, &mut plan);
        }

        // 2. Admit waiting entries (in plan order) while their blocks fit.
        members.clear();
        admitted_mark.clear();
        admitted_mark.resize(waiting.len(), false);
        for e in &plan.entries {
            let idx = e.index as usize;
            match e.source {
                Source::Running => {
                    if idx < running.len() && e.tokens > 0 && !members.iter().any(|m| m.0 == idx) {
                        members.push((idx, e.tokens));
                    }
                }
                Source::Waiting => {
                    if idx >= waiting.len() || admitted_mark[idx] || e.tokens == 0 {
                        continue;
                    }
                    let r = waiting[idx];
                    let tokens = e.tokens.min(r.prefill_remaining().max(1));
                    let need = kv.blocks_for(r.context_after(tokens) as u64);
                    if need > kv.free_blocks.saturating_sub(kv.watermark_blocks)
                        && !(running.is_empty() && members.is_empty() && need <= kv.free_blocks)
                    {
                        continue;
                    }
                    if !kv.try_alloc(need) {
                        continue;
                    }
                    admitted_mark[idx] = true;
                    let mut r = r;
                    r.kv_blocks = need as u32;
                    running.push(r);
                    members.push((running.len() - 1, tokens));
                }
            }
        }
        if admitted_mark.iter().any(|m| *m) {
            let mut i = 0;
            waiting.retain(|_| {
                let keep = !admitted_mark[i];
                i += 1;
                keep
            });
        }

        // 3. Grow KV for running members; preempt the most recently admitted on shortage.
        loop {
            let need: u64 = members
                .iter()
                .map(|&(i, t)| {
                    let r = &running[i];
                    kv.blocks_for(r.context_after(t) as u64).saturating_sub(r.kv_blocks as u64)
                })
                .sum();
            if need <= kv.free_blocks {
                for &(i, t) in &members {
                    let r = &mut running[i];
                    let want = kv.blocks_for(r.context_after(t) as u64);
                    let extra = want.saturating_sub(r.kv_blocks as u64);
                    let ok = kv.try_alloc(extra);
                    debug_assert!(ok);
                    r.kv_blocks = want.max(r.kv_blocks as u64) as u32;
                }
                break;
            }
            // Preempt the last running request (recompute: drop its KV, requeue at the front).
            let victim_idx = running.len() - 1;
            if running.len() == 1 {
                let r = &running[0];
                return Err(Error::Infeasible(format!(
                    "request {} needs {} KV tokens but the replica holds only {} ({} blocks of {}): raise memory, devices or lower the context",
                    records[r.id as usize].id,
                    r.context_after(1),
                    kv.total_blocks * kv.block_tokens as u64,
                    kv.total_blocks,
                    kv.block_tokens
                )));
            }
            let mut victim = running.pop().expect("non-empty");
            members.retain(|m| m.0 != victim_idx);
            kv.free(victim.kv_blocks as u64);
            victim.kv_blocks = 0;
            victim.prefilled = 0;
            victim.recompute_tokens = victim.generated.saturating_sub(1);
            victim.preemptions += 1;
            records[victim.id as usize].preemptions += 1;
            preemptions += 1;
            waiting.push_front(victim);
        }

        if members.is_empty() {
            // Nothing runnable: wait for the next arrival, or fail if none will come.
            if next < requests.len() {
                now = now.max(requests[next].arrival_s);
                continue;
            }
            return Err(Error::Infeasible(format!(
                "batch policy `{}` scheduled nothing with {} waiting and {} running requests and no arrivals left (KV {} of {} blocks free)",
                system.pool.batching.name,
                waiting.len(),
                running.len(),
                kv.free_blocks,
                kv.total_blocks
            )));
        }

        // 4. Cost the iteration.
        shape.prefills.clear();
        shape.decode_seqs = 0;
        shape.decode_ctx_sum = 0;
        let (mut pf_tokens, mut dec_tokens) = (0u32, 0u32);
        for &(i, t) in &members {
            let r = &running[i];
            if r.is_decoding() {
                shape.decode_seqs += 1;
                shape.decode_ctx_sum += r.context_after(1) as u64;
                dec_tokens += 1;
            } else {
                let t = t.min(r.prefill_remaining());
                shape.prefills.push(PrefillChunk {
                    tokens: t as u64,
                    prefix: r.prefilled as u64,
                    last: r.prefilled + t == r.prefill_target(),
                });
                pf_tokens += t;
            }
        }
        iter_no += 1;
        shape.seed = opts.seed ^ iter_no.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let cost = system.step_cost(&shape)?;
        let start = now;
        let end = now + cost.total_s;

        // 5. Apply progress and emit tokens.
        for &(i, t) in &members {
            let r = &mut running[i];
            let rec = &mut records[r.id as usize];
            if rec.first_scheduled_s.is_none() {
                rec.first_scheduled_s = Some(start);
            }
            if r.is_decoding() {
                r.generated += 1;
                rec.token_times.push(end);
            } else {
                let t = t.min(r.prefill_remaining());
                r.prefilled += t;
                if r.prefill_remaining() == 0 && r.generated == 0 {
                    r.generated = 1;
                    rec.token_times.push(end);
                }
            }
        }
        iterations.push(IterationRecord {
            start_s: start,
            end_s: end,
            prefill_tokens: pf_tokens,
            decode_tokens: dec_tokens,
            seqs: members.len() as u32,
            kv_used_blocks: kv.used_blocks(),
            cost,
        });
        // Completions.
        running.retain(|r| {
            if r.generated >= r.output_tokens {
                kv.free(r.kv_blocks as u64);
                false
            } else {
                true
            }
        });
        now = end;
    }
    Ok(SimResult {
        requests: records,
        iterations,
        preemptions,
        kv_total_blocks: kv.total_blocks,
        kv_peak_used_blocks: kv.peak_used_blocks,
        kv_block_tokens: kv.block_tokens,
        end_s: now,
    })
}
