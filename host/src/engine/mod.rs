//! The discrete-event engine: pools of replicas, each an iteration-level scheduler with
//! paged KV memory, optionally pipelined over stages, optionally disaggregated into a prefill
//! pool and a decode pool joined by a KV-transfer link.
//!
//! Events are request arrivals, wake-ups (a replica's first pipeline stage becomes free),
//! batch completions, and KV-transfer completions, processed in time order (ties: arrivals
//! first, then events in the order they were created), so runs are deterministic.
//!
//! One iteration on a replica: the batch policy plans from a read-only view of the replica's
//! idle requests; the engine admits waiting entries while their KV blocks fit, grows the KV
//! of running entries (preempting the most recently admitted idle request, recompute-style,
//! on shortage), costs the iteration through the pool's [`System`], and books it on the
//! pipeline stages: stage `s` starts when both the previous stage of this micro-batch and
//! stage `s` of the previous micro-batch are done. Tokens are emitted when the last stage
//! finishes. With `pp` stages, up to `pp` micro-batches are in flight, each with different
//! requests.

pub mod kv;
pub mod system;

use crate::config::{KvTransferConfig, Role, Router};
use crate::error::{Error, Result};
use crate::workload::Request;
use kv::KvPool;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reallm_plugin_api::{BatchPlan, BatchShape, KvView, PrefillChunk, RequestState, SchedulerView, Source};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
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
    /// Replica (global index) that ran its prefill.
    pub replica: u32,
    /// Decode replica (global index) in a disaggregated system.
    pub decode_replica: Option<u32>,
    /// Seconds its KV spent in transfer from the prefill to the decode pool.
    pub transfer_s: f64,
}

impl RequestRecord {
    pub fn completed(&self) -> bool {
        self.token_times.len() == self.output_tokens as usize
    }
}

/// One iteration (micro-batch) and its cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationRecord {
    /// Global replica index.
    pub replica: u32,
    pub start_s: f64,
    pub end_s: f64,
    pub prefill_tokens: u32,
    pub decode_tokens: u32,
    pub seqs: u32,
    pub kv_used_blocks: u64,
    pub cost: StepCost,
}

/// Per-replica facts of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSummary {
    pub pool: u32,
    pub role: Role,
    pub requests: u64,
    pub kv_total_blocks: u64,
    pub kv_peak_used_blocks: u64,
    /// Blocks still allocated when the run ended (0 when every request completed).
    pub kv_used_blocks_at_end: u64,
    pub busy_s: f64,
}

/// The outcome of a simulation.
#[derive(Debug, Clone)]
pub struct SimResult {
    pub requests: Vec<RequestRecord>,
    /// Every iteration, when kept (see [`SimOptions::keep_iterations`]); otherwise empty.
    pub iterations: Vec<IterationRecord>,
    /// True when more iterations ran than were kept.
    pub iterations_truncated: bool,
    /// Running totals over all iterations (always complete).
    pub totals: Option<crate::metrics::IterationTotals>,
    pub replicas: Vec<ReplicaSummary>,
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
    /// Seed of the engine's own sampling (routing seeds, random router).
    pub seed: u64,
    /// Show a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Keep at most this many iteration records (beyond it they are dropped and the result is
    /// marked truncated; totals stay complete). `None` keeps them all.
    pub keep_iterations: Option<usize>,
}

/// KV tokens a request holds before its next step.
fn held_tokens(q: &RequestState) -> u64 {
    if q.is_decoding() {
        (q.prompt_tokens + q.generated - 1) as u64
    } else {
        q.prefilled as u64
    }
}

/// Run `requests` (sorted by arrival) on one pool (colocated).
pub fn simulate(system: &mut System, requests: &[Request], opts: SimOptions) -> Result<SimResult> {
    simulate_pools(std::slice::from_mut(system), KvTransferConfig::default(), requests, opts)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EvKind {
    Wake(usize),
    BatchDone(usize),
    /// A request's KV has reached the decode pool (slot in `transfers`).
    TransferDone(usize),
}

#[derive(Debug, Clone, Copy)]
struct Event {
    t: f64,
    seq: u64,
    kind: EvKind,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    // Reversed: BinaryHeap is a max-heap and we want the earliest (then first-created) event.
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.total_cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

struct Replica {
    pool: usize,
    waiting: VecDeque<RequestState>,
    /// Admitted requests not in flight.
    running: Vec<RequestState>,
    kv: KvPool,
    stage_free_s: Vec<f64>,
    in_flight: u32,
    wake_pending: bool,
    outstanding: u32,
    requests: u64,
    busy_s: f64,
}

#[derive(Default)]
struct Batch {
    replica: usize,
    /// (request state, tokens this step).
    members: Vec<(RequestState, u32)>,
    start_s: f64,
}

struct Transfer {
    state: RequestState,
    from: usize,
}

struct Engine<'a> {
    systems: &'a mut [System],
    transfer: KvTransferConfig,
    requests: &'a [Request],
    opts: SimOptions,
    replicas: Vec<Replica>,
    /// Global index of each pool's first replica, and its replica count.
    pool_replicas: Vec<(usize, usize)>,
    rr_next: Vec<usize>,
    rng: ChaCha8Rng,
    records: Vec<RequestRecord>,
    iterations: Vec<IterationRecord>,
    iterations_truncated: bool,
    last_end_s: f64,
    totals: crate::metrics::IterationTotals,
    /// (peak FLOP/s, DRAM B/s) per device of each pool, for the totals.
    pool_peaks: Vec<(f64, f64)>,
    heap: BinaryHeap<Event>,
    seq: u64,
    batches: Vec<Batch>,
    free_batches: Vec<usize>,
    transfers: Vec<Option<Transfer>>,
    free_transfers: Vec<usize>,
    preemptions: u64,
    iter_no: u64,
    done: usize,
    // Scratch buffers reused every iteration.
    plan: BatchPlan,
    shape: BatchShape,
    members: Vec<(usize, u32)>,
    marks: Vec<bool>,
    /// Running requests already in this iteration (by index in `running`).
    in_batch: Vec<bool>,
    /// Requests whose KV sits in host memory after a swap preemption (by request index).
    swapped: Vec<bool>,
    /// KV tokens swapped out or in while forming the current iteration.
    swap_tokens: u64,
    stage_s: Vec<f64>,
}

/// Run `requests` on one pool (`systems.len() == 1`) or a prefill and a decode pool
/// (`systems.len() == 2`, roles Prefill and Decode) joined by `transfer`.
pub fn simulate_pools(systems: &mut [System], transfer: KvTransferConfig, requests: &[Request], opts: SimOptions) -> Result<SimResult> {
    let mut replicas = Vec::new();
    let mut pool_replicas = Vec::new();
    for (pi, sys) in systems.iter().enumerate() {
        let m = &sys.pool.memory;
        let blocks = sys.memory.kv_token_capacity / m.block_tokens as u64;
        let stages = sys.plan.attention.pp.max(1) as usize;
        pool_replicas.push((replicas.len(), sys.pool.replicas as usize));
        for _ in 0..sys.pool.replicas {
            replicas.push(Replica {
                pool: pi,
                waiting: VecDeque::new(),
                running: Vec::new(),
                kv: KvPool::new(blocks, m.block_tokens, m.watermark_fraction),
                stage_free_s: vec![0.0; stages],
                in_flight: 0,
                wake_pending: false,
                outstanding: 0,
                requests: 0,
                busy_s: 0.0,
            });
        }
    }
    let records = requests
        .iter()
        .map(|r| RequestRecord {
            id: r.id,
            arrival_s: r.arrival_s,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
            first_scheduled_s: None,
            token_times: Vec::new(),
            preemptions: 0,
            replica: 0,
            decode_replica: None,
            transfer_s: 0.0,
        })
        .collect();
    let n_pools = systems.len();
    let mut e = Engine {
        systems,
        transfer,
        requests,
        opts,
        replicas,
        pool_replicas,
        rr_next: vec![0; n_pools],
        rng: ChaCha8Rng::seed_from_u64(opts.seed ^ 0x005E_ED0F_C1A5_7E55),
        records,
        iterations: Vec::new(),
        iterations_truncated: false,
        last_end_s: 0.0,
        totals: crate::metrics::IterationTotals::default(),
        pool_peaks: Vec::new(),
        heap: BinaryHeap::new(),
        seq: 0,
        batches: Vec::new(),
        free_batches: Vec::new(),
        transfers: Vec::new(),
        free_transfers: Vec::new(),
        preemptions: 0,
        iter_no: 0,
        done: 0,
        plan: BatchPlan::default(),
        shape: BatchShape::default(),
        members: Vec::new(),
        marks: Vec::new(),
        in_batch: Vec::new(),
        swapped: vec![false; requests.len()],
        swap_tokens: 0,
        stage_s: Vec::new(),
    };
    e.pool_peaks =
        e.systems.iter().map(|s| (s.device.spec.peak_matmul_flops_for(s.info.weight_dtype), s.device.spec.mem_bw_bytes_per_s)).collect();
    e.run()?;
    Ok(e.finish())
}

impl Engine<'_> {
    fn push(&mut self, t: f64, kind: EvKind) {
        self.seq += 1;
        self.heap.push(Event { t, seq: self.seq, kind });
    }

    fn run(&mut self) -> Result<()> {
        let mut next = 0usize;
        let end = self.opts.end_time_s.unwrap_or(f64::INFINITY);
        let mut progress = crate::report::Progress::new(self.requests.len() as u64, self.opts.progress);
        loop {
            let next_arrival = self.requests.get(next).map(|r| r.arrival_s);
            let next_event = self.heap.peek().map(|e| e.t);
            let arrival_first = match (next_arrival, next_event) {
                (None, None) => break,
                (Some(a), Some(t)) => a <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if arrival_first {
                let now = next_arrival.expect("checked");
                if now >= end {
                    break;
                }
                let i = next;
                next += 1;
                self.arrive(i, now)?;
            } else {
                let ev = self.heap.pop().expect("checked");
                if ev.t >= end {
                    break;
                }
                match ev.kind {
                    EvKind::Wake(r) => {
                        self.replicas[r].wake_pending = false;
                        self.try_schedule(r, ev.t)?;
                    }
                    EvKind::BatchDone(b) => {
                        self.batch_done(b, ev.t)?;
                        progress.update(ev.t, self.done as u64);
                    }
                    EvKind::TransferDone(x) => self.transfer_done(x, ev.t)?,
                }
            }
        }
        progress.finish();
        if self.opts.end_time_s.is_none() && self.done < self.requests.len() {
            let waiting: usize = self.replicas.iter().map(|r| r.waiting.len()).sum();
            let running: usize = self.replicas.iter().map(|r| r.running.len()).sum();
            let pool = &self.systems[0].pool;
            return Err(Error::Infeasible(format!(
                "the simulation stalled with {} of {} requests unfinished ({waiting} waiting, {running} admitted): batch policy `{}` scheduled nothing more; \
                 check max_batch_tokens / max_batch_seqs against the longest prompts and the KV capacity",
                self.requests.len() - self.done,
                self.requests.len(),
                pool.batching.name
            )));
        }
        Ok(())
    }

    /// Pick a replica of `pool` for a new request.
    fn route(&mut self, pool: usize) -> usize {
        let (first, n) = self.pool_replicas[pool];
        if n == 1 {
            return first;
        }
        let idx = match self.systems[pool].pool.router {
            Router::RoundRobin => {
                let i = self.rr_next[pool];
                self.rr_next[pool] = (i + 1) % n;
                i
            }
            Router::LeastOutstanding => (0..n).min_by_key(|&i| (self.replicas[first + i].outstanding, i)).expect("n > 0"),
            Router::LeastKv => (0..n)
                .min_by_key(|&i| {
                    let r = &self.replicas[first + i];
                    // Most free blocks, counting what queued requests will need.
                    let queued: u64 = r.waiting.iter().map(|q| r.kv.blocks_for(q.context_after(1) as u64)).sum();
                    (u64::MAX - r.kv.free_blocks.saturating_sub(queued), i)
                })
                .expect("n > 0"),
            Router::Random => self.rng.random_range(0..n),
        };
        first + idx
    }

    fn arrive(&mut self, i: usize, now: f64) -> Result<()> {
        let r = &self.requests[i];
        let rep = self.route(0);
        self.records[i].replica = rep as u32;
        self.records[i].token_times.reserve_exact(r.output_tokens as usize);
        let replica = &mut self.replicas[rep];
        replica.waiting.push_back(RequestState::new(i as u64, r.arrival_s, r.prompt_tokens, r.output_tokens));
        replica.outstanding += 1;
        replica.requests += 1;
        self.try_schedule(rep, now)
    }

    fn wake_at(&mut self, r: usize, t: f64) {
        if !self.replicas[r].wake_pending {
            self.replicas[r].wake_pending = true;
            self.push(t, EvKind::Wake(r));
        }
    }

    /// Form and book the next micro-batch of replica `r` if it can start now.
    fn try_schedule(&mut self, r: usize, now: f64) -> Result<()> {
        let pool = self.replicas[r].pool;
        let stages = self.replicas[r].stage_free_s.len() as u32;
        {
            let rep = &self.replicas[r];
            if rep.in_flight >= stages || (rep.waiting.is_empty() && rep.running.is_empty()) {
                return Ok(());
            }
            if rep.stage_free_s[0] > now {
                let t = rep.stage_free_s[0];
                self.wake_at(r, t);
                return Ok(());
            }
        }
        let limits = self.systems[pool].pool.limits;
        // 1. Plan.
        self.plan.clear();
        {
            let rep = &mut self.replicas[r];
            let view = SchedulerView {
                now_s: now,
                waiting: rep.waiting.make_contiguous(),
                running: &rep.running,
                kv: KvView {
                    total_blocks: rep.kv.total_blocks,
                    free_blocks: rep.kv.free_blocks,
                    block_tokens: rep.kv.block_tokens,
                    watermark_blocks: rep.kv.watermark_blocks,
                },
                limits,
            };
            self.systems[pool].policy.schedule(&view, &mut self.plan);
        }
        // 2. Admit waiting entries in plan order while their blocks fit.
        let rep = &mut self.replicas[r];
        self.members.clear();
        self.marks.clear();
        self.marks.resize(rep.waiting.len(), false);
        self.in_batch.clear();
        self.in_batch.resize(rep.running.len(), false);
        self.swap_tokens = 0;
        let mut admitted = false;
        for e in &self.plan.entries {
            let idx = e.index as usize;
            match e.source {
                Source::Running => {
                    // A policy naming a request twice gets it once.
                    if idx < self.in_batch.len() && e.tokens > 0 && !self.in_batch[idx] {
                        self.in_batch[idx] = true;
                        self.members.push((idx, e.tokens));
                    }
                }
                Source::Waiting => {
                    if idx >= rep.waiting.len() || self.marks[idx] || e.tokens == 0 {
                        continue;
                    }
                    let mut q = rep.waiting[idx];
                    let tokens = if q.is_decoding() { 1 } else { e.tokens.min(q.prefill_remaining()) };
                    let need = rep.kv.blocks_for(q.context_after(tokens) as u64);
                    let alone = rep.running.is_empty() && rep.in_flight == 0;
                    if need > rep.kv.free_blocks.saturating_sub(rep.kv.watermark_blocks) && !(alone && need <= rep.kv.free_blocks) {
                        continue;
                    }
                    if !rep.kv.try_alloc(need) {
                        continue;
                    }
                    self.marks[idx] = true;
                    admitted = true;
                    if self.swapped[q.id as usize] {
                        // Swap its KV back in from host memory.
                        self.swapped[q.id as usize] = false;
                        self.swap_tokens += held_tokens(&q);
                    }
                    q.kv_blocks = need as u32;
                    rep.running.push(q);
                    self.members.push((rep.running.len() - 1, tokens));
                }
            }
        }
        if admitted {
            let mut i = 0;
            let marks = &self.marks;
            rep.waiting.retain(|_| {
                let keep = !marks[i];
                i += 1;
                keep
            });
        }
        // 3. Grow KV for the members; preempt the most recently admitted idle request on shortage.
        loop {
            let need: u64 = self
                .members
                .iter()
                .map(|&(i, t)| {
                    let q = &rep.running[i];
                    rep.kv.blocks_for(q.context_after(t) as u64).saturating_sub(q.kv_blocks as u64)
                })
                .sum();
            if need <= rep.kv.free_blocks {
                for &(i, t) in &self.members {
                    let q = &mut rep.running[i];
                    let want = rep.kv.blocks_for(q.context_after(t) as u64);
                    let extra = want.saturating_sub(q.kv_blocks as u64);
                    let ok = rep.kv.try_alloc(extra);
                    debug_assert!(ok, "checked above");
                    q.kv_blocks = want.max(q.kv_blocks as u64) as u32;
                }
                break;
            }
            if rep.running.len() <= 1 {
                if rep.in_flight > 0 {
                    // Others hold KV; retry when a micro-batch completes.
                    self.members.clear();
                    break;
                }
                let q = rep.running[0];
                return Err(Error::Infeasible(format!(
                    "request {} needs {} KV tokens but a replica holds only {} ({} blocks of {}): add memory or devices, or shorten the context",
                    self.records[q.id as usize].id,
                    q.context_after(1),
                    rep.kv.total_blocks * rep.kv.block_tokens as u64,
                    rep.kv.total_blocks,
                    rep.kv.block_tokens
                )));
            }
            let victim_idx = rep.running.len() - 1;
            let mut victim = rep.running.pop().expect("len > 1");
            self.members.retain(|m| m.0 != victim_idx);
            rep.kv.free(victim.kv_blocks as u64);
            victim.kv_blocks = 0;
            if self.systems[pool].pool.memory.preemption == crate::config::schema::Preemption::Swap {
                // Its KV goes to host memory: progress kept, costed on this iteration.
                self.swapped[victim.id as usize] = true;
                self.swap_tokens += held_tokens(&victim);
            } else {
                victim.prefilled = 0;
                victim.recompute_tokens = victim.generated.saturating_sub(1);
            }
            victim.preemptions += 1;
            self.records[victim.id as usize].preemptions += 1;
            self.preemptions += 1;
            rep.waiting.push_front(victim);
        }
        if self.members.is_empty() {
            return Ok(());
        }

        // 4. Shape and cost.
        let shape = &mut self.shape;
        shape.prefills.clear();
        shape.decode_seqs = 0;
        shape.decode_ctx_sum = 0;
        let (mut pf, mut dec) = (0u32, 0u32);
        for &(i, t) in &self.members {
            let q = &rep.running[i];
            if q.is_decoding() {
                shape.decode_seqs += 1;
                shape.decode_ctx_sum += q.context_after(1) as u64;
                dec += 1;
            } else {
                let t = t.min(q.prefill_remaining());
                shape.prefills.push(PrefillChunk {
                    tokens: t as u64,
                    prefix: q.prefilled as u64,
                    last: q.prefilled + t == q.prefill_target(),
                });
                pf += t;
            }
        }
        // CUDA graphs: a decode-only batch runs padded to the next captured size; each padding
        // row is a dummy sequence attending over one token.
        if shape.prefills.is_empty() {
            if let Some(&g) = self.systems[pool].cuda_graph_batch_sizes.iter().find(|&&g| g as u64 >= shape.decode_seqs) {
                shape.decode_ctx_sum += g as u64 - shape.decode_seqs;
                shape.decode_seqs = g as u64;
            }
        }
        self.iter_no += 1;
        shape.seed = self.opts.seed ^ self.iter_no.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut cost = self.systems[pool].step_cost_stages(&self.shape, &mut self.stage_s)?;
        if self.swap_tokens > 0 {
            // Swaps move every device's KV shard over its own host link, before the step.
            let sys = &self.systems[pool];
            let swap_s = self.swap_tokens as f64 * sys.memory.kv_bytes_per_token_per_device as f64 / sys.pool.memory.host_link_bytes_per_s;
            cost.total_s += swap_s;
            cost.comm_s += swap_s;
            if let Some(last) = cost.by_kind_s.last_mut() {
                *last += swap_s;
            }
            if let Some(s0) = self.stage_s.first_mut() {
                *s0 += swap_s;
            }
        }

        // 5. Book the stages.
        let rep = &mut self.replicas[r];
        let mut t = now;
        for (s, dur) in self.stage_s.iter().enumerate() {
            let start = t.max(rep.stage_free_s[s]);
            t = start + dur;
            rep.stage_free_s[s] = t;
        }
        let end = t;
        rep.in_flight += 1;
        rep.busy_s += cost.total_s;

        // 6. Move the members into a batch.
        let slot = self.free_batches.pop().unwrap_or_else(|| {
            self.batches.push(Batch::default());
            self.batches.len() - 1
        });
        let b = &mut self.batches[slot];
        b.replica = r;
        b.start_s = now;
        b.members.clear();
        self.marks.clear();
        self.marks.resize(rep.running.len(), false);
        for &(i, tok) in &self.members {
            b.members.push((rep.running[i], tok));
            self.marks[i] = true;
        }
        let mut i = 0;
        let marks = &self.marks;
        rep.running.retain(|_| {
            let keep = !marks[i];
            i += 1;
            keep
        });
        let record = IterationRecord {
            replica: r as u32,
            start_s: now,
            end_s: end,
            prefill_tokens: pf,
            decode_tokens: dec,
            seqs: b.members.len() as u32,
            kv_used_blocks: rep.kv.used_blocks(),
            cost,
        };
        let (peak_flops, mem_bw) = self.pool_peaks[pool];
        self.totals.add(&record, rep.kv.total_blocks, peak_flops, mem_bw);
        self.last_end_s = self.last_end_s.max(end);
        let keep = !self.iterations_truncated && self.opts.keep_iterations.map_or(true, |cap| self.iterations.len() < cap);
        if keep {
            self.iterations.push(record);
        } else if !self.iterations_truncated {
            self.iterations_truncated = true;
            self.iterations = Vec::new();
        }
        let next_free = rep.stage_free_s[0];
        let more = rep.in_flight < stages && !(rep.waiting.is_empty() && rep.running.is_empty());
        self.push(end, EvKind::BatchDone(slot));
        if more {
            self.wake_at(r, next_free);
        }
        Ok(())
    }

    fn batch_done(&mut self, slot: usize, now: f64) -> Result<()> {
        let mut b = std::mem::take(&mut self.batches[slot]);
        let r = b.replica;
        let pool = self.replicas[r].pool;
        let role = self.systems[pool].pool.role;
        for (mut q, tok) in b.members.drain(..) {
            let rec = &mut self.records[q.id as usize];
            if rec.first_scheduled_s.is_none() {
                rec.first_scheduled_s = Some(b.start_s);
            }
            if q.is_decoding() {
                q.generated += 1;
                rec.token_times.push(now);
            } else {
                let t = tok.min(q.prefill_remaining());
                q.prefilled += t;
                if q.prefill_remaining() == 0 && q.generated == 0 {
                    q.generated = 1;
                    rec.token_times.push(now);
                }
            }
            let rep = &mut self.replicas[r];
            if q.generated >= q.output_tokens {
                rep.kv.free(q.kv_blocks as u64);
                rep.outstanding -= 1;
                self.done += 1;
            } else if role == Role::Prefill && q.is_decoding() {
                // Prefill done: ship the KV to the decode pool.
                let dt = self.transfer_time(pool, &q, now - b.start_s);
                self.records[q.id as usize].transfer_s = dt;
                let x = self.free_transfers.pop().unwrap_or_else(|| {
                    self.transfers.push(None);
                    self.transfers.len() - 1
                });
                self.transfers[x] = Some(Transfer { state: q, from: r });
                self.push(now + dt, EvKind::TransferDone(x));
            } else {
                rep.running.push(q);
            }
        }
        self.batches[slot] = b;
        self.free_batches.push(slot);
        self.replicas[r].in_flight -= 1;
        self.try_schedule(r, now)
    }

    /// Seconds a finished prefill's KV takes to reach the decode pool.
    fn transfer_time(&self, pool: usize, q: &RequestState, prefill_s: f64) -> f64 {
        let sys = &self.systems[pool];
        let bytes = sys.info.kv_bytes_per_token as f64 * q.prompt_tokens as f64;
        let a = sys.plan.attention;
        let shards = (a.tp as u64).min(sys.info.n_kv_heads.max(1)) * a.pp as u64 * a.cp as u64;
        let bw = self.transfer.bandwidth_bytes_per_s.unwrap_or(sys.device.spec.scale_out.bw_per_device_bytes_per_s * shards as f64);
        let lat = self.transfer.latency_s.unwrap_or(sys.device.spec.scale_out.latency_s);
        let full = bytes / bw;
        if self.transfer.layerwise_overlap {
            // Layer l's KV moves while layers l+1.. are prefilled: only the last layer's share
            // and whatever the link could not hide behind the prefill remain.
            let per_layer = full / sys.info.n_layers.max(1) as f64;
            lat + per_layer + (full - per_layer - prefill_s).max(0.0)
        } else {
            lat + full
        }
    }

    fn transfer_done(&mut self, x: usize, now: f64) -> Result<()> {
        let Transfer { mut state, from } = self.transfers[x].take().expect("live transfer");
        self.free_transfers.push(x);
        let src = &mut self.replicas[from];
        src.kv.free(state.kv_blocks as u64);
        src.outstanding -= 1;
        state.kv_blocks = 0;
        let to = self.route(1);
        self.records[state.id as usize].decode_replica = Some(to as u32);
        let dst = &mut self.replicas[to];
        dst.waiting.push_back(state);
        dst.outstanding += 1;
        dst.requests += 1;
        self.try_schedule(from, now)?;
        self.try_schedule(to, now)
    }

    fn finish(self) -> SimResult {
        let end = self.last_end_s;
        let replicas: Vec<ReplicaSummary> = self
            .replicas
            .iter()
            .map(|r| ReplicaSummary {
                pool: r.pool as u32,
                role: self.systems[r.pool].pool.role,
                requests: r.requests,
                kv_total_blocks: r.kv.total_blocks,
                kv_peak_used_blocks: r.kv.peak_used_blocks,
                kv_used_blocks_at_end: r.kv.used_blocks(),
                busy_s: r.busy_s,
            })
            .collect();
        SimResult {
            requests: self.records,
            iterations: if self.iterations_truncated { Vec::new() } else { self.iterations },
            iterations_truncated: self.iterations_truncated,
            totals: Some(self.totals),
            preemptions: self.preemptions,
            kv_total_blocks: self.replicas.iter().map(|r| r.kv.total_blocks).sum(),
            kv_peak_used_blocks: replicas.iter().map(|r| r.kv_peak_used_blocks).sum(),
            kv_block_tokens: self.replicas.first().map(|r| r.kv.block_tokens).unwrap_or(16),
            replicas,
            end_s: end,
        }
    }
}
