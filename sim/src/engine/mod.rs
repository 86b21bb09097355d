//! The discrete-event engine: pools of replicas, each an iteration-level scheduler with paged
//! KV memory, optionally pipelined over stages, optionally disaggregated into a prefill pool
//! and a decode pool joined by a KV-transfer link.
//!
//! Events are request arrivals, wake-ups (a replica's first pipeline stage becomes free),
//! batch completions, and KV-transfer completions, processed in time order (ties: arrivals
//! first, then events in the order they were created), so runs are deterministic. Requests
//! that arrive at the same instant are all queued before their replicas plan an iteration, so
//! they can share it; so are requests a closed-loop workload issues at the instant a batch
//! completes (the completing replica plans its next iteration after they are queued). A
//! replica decoding a steady batch may run ahead of other replicas' events when they cannot
//! interact before the next arrival ([`steady`]); the results are those of time order.
//!
//! One iteration on a replica ([`schedule`]): the batch policy plans from a read-only view of
//! the replica's idle requests; the engine admits waiting entries while their KV blocks fit,
//! grows the KV of running entries (preempting the most recently admitted idle request on
//! shortage), costs the iteration through the pool's [`CostModel`](crate::CostModel), and
//! books it on the pipeline stages: stage `s` starts when both the previous stage of this
//! micro-batch and stage `s` of the previous micro-batch are done. Tokens are emitted when the
//! last stage finishes. With `pp` stages, up to `pp` micro-batches are in flight.
//!
//! Requests live in a slab while they run (`RequestState::id` is their slot); a finished
//! request's record leaves through the [`RecordSink`] in arrival order, so memory is
//! O(requests in flight), not O(requests).

mod events;
mod live;
mod prefix;
mod schedule;
mod spec;
mod steady;
mod transfer;

use crate::cost::IterationCost;
use crate::error::{Result, SimError};
use crate::kv::{KvPool, PrefixCache, PrefixStats, SharedTier, N_TIERS};
use crate::metrics::IterationTotals;
use crate::pool::Pool;
use crate::request::{Request, RequestRecord};
use crate::router::RouteRequest;
use crate::spec::{KvTransferSpec, Role};
use crate::workload::{Observer, RecordSink, Workload};
use events::{EvKind, Event};
use live::Live;
use prefix::PrefixState;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reallm_plugin_api::{BatchPlan, BatchShape, RequestState};
use std::collections::{BinaryHeap, VecDeque};

/// One iteration (micro-batch) and its cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterationRecord {
    /// Global replica index.
    pub replica: u32,
    /// Start, seconds.
    pub start_s: f64,
    /// End of its last stage, seconds.
    pub end_s: f64,
    /// Prefill tokens in the batch.
    pub prefill_tokens: u32,
    /// Decoding sequences in the batch.
    pub decode_tokens: u32,
    /// Sequences in the batch.
    pub seqs: u32,
    /// KV blocks in use on the replica after admission.
    pub kv_used_blocks: u64,
    /// Prompt tokens of requests admitted in this iteration that the prefix cache served
    /// (not prefilled).
    pub cached_tokens: u32,
    /// Free KV blocks of the replica holding cached (evictable) prefix blocks, after admission.
    pub kv_cached_blocks: u64,
    /// What it cost (without the breakdown by kind, which the run's totals keep).
    pub cost: IterationCost,
}

/// Per-replica facts of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSummary {
    /// Pool index.
    pub pool: u32,
    /// The pool's role.
    pub role: Role,
    /// Requests routed to it.
    pub requests: u64,
    /// KV blocks it holds.
    pub kv_total_blocks: u64,
    /// Most KV blocks in use at once.
    pub kv_peak_used_blocks: u64,
    /// Blocks still allocated when the run ended (0 when every request completed).
    pub kv_used_blocks_at_end: u64,
    /// Seconds of iterations it ran.
    pub busy_s: f64,
    /// Its prefix cache's counters, when the pool caches prefixes.
    pub prefix: Option<PrefixStats>,
}

/// Prefix-cache facts of a run (present when a pool caches prefixes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrefixOutcome {
    /// Tokens per cached block.
    pub block_tokens: u32,
    /// KV bytes of one token (the replica's whole KV: every layer and head).
    pub kv_bytes_per_token: u64,
    /// Eviction policy.
    pub eviction: String,
    /// Tiers enabled below GPU memory (`host`, `ssd`, `cluster`).
    pub tiers: Vec<String>,
    /// Every replica's counters summed, plus the cluster tier's.
    pub totals: PrefixStats,
}

/// What a run produced besides the request records (which went to the sink).
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    /// Requests that arrived or were pending when the run ended (records delivered).
    pub requests: u64,
    /// Every iteration, when kept (see [`SimOptions::keep_iterations`]); otherwise empty.
    pub iterations: Vec<IterationRecord>,
    /// True when more iterations ran than were kept.
    pub iterations_truncated: bool,
    /// Running totals over all iterations (always complete).
    pub totals: IterationTotals,
    /// Per replica, in global order.
    pub replicas: Vec<ReplicaSummary>,
    /// Preemptions.
    pub preemptions: u64,
    /// KV blocks over all replicas.
    pub kv_total_blocks: u64,
    /// Sum of the replicas' peak KV use, blocks.
    pub kv_peak_used_blocks: u64,
    /// Tokens per KV block (of the first pool).
    pub kv_block_tokens: u32,
    /// Simulated time of the last iteration end, seconds.
    pub end_s: f64,
    /// What speculative decoding did (`None` when no pool speculates).
    pub spec_decode: Option<crate::spec_decode::SpecDecodeTotals>,
    /// Prefix caching, when a pool caches prefixes.
    pub prefix: Option<PrefixOutcome>,
    /// Iterations the engine ran as steady decode runs (`docs/performance.md`), without
    /// the event queue.
    pub steady_iterations: u64,
    /// Of those, iterations run while another replica's event was due first (the replicas
    /// were independent until the next arrival).
    pub ahead_iterations: u64,
}

/// A run's request records and outcome, for callers that keep every record.
#[derive(Debug, Clone, Default)]
pub struct SimResult {
    /// Every request's record, in arrival order.
    pub requests: Vec<RequestRecord>,
    /// The rest.
    pub outcome: RunOutcome,
}

/// Simulation options.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimOptions {
    /// Stop when simulated time reaches this (requests then unfinished stay unfinished).
    pub end_time_s: Option<f64>,
    /// Seed of the engine's own sampling (routing seeds, random router).
    pub seed: u64,
    /// Keep at most this many iteration records (beyond it they are dropped and the outcome is
    /// marked truncated; totals stay complete). `None` keeps them all.
    pub keep_iterations: Option<usize>,
    /// Process every event in global time order: no replica runs ahead of other replicas'
    /// events (see `docs/performance.md`). The results are the same either way; this exists to
    /// show it (tests) and to time the difference.
    pub strict_event_order: bool,
}

/// Run `workload` on one pool (colocated) or on a prefill and a decode pool (`pools.len() ==
/// 2`, roles Prefill and Decode) joined by `transfer`. Records go to `sink` in arrival order.
pub fn simulate(
    pools: &mut [Pool],
    transfer: KvTransferSpec,
    workload: &mut dyn Workload,
    sink: &mut dyn RecordSink,
    observer: &mut dyn Observer,
    opts: SimOptions,
) -> Result<RunOutcome> {
    let mut e = Engine::new(pools, transfer, opts);
    e.run(workload, sink, observer)?;
    Ok(e.finish(workload, sink))
}

/// [`simulate`] keeping every record, with no observer.
pub fn simulate_collect(pools: &mut [Pool], transfer: KvTransferSpec, workload: &mut dyn Workload, opts: SimOptions) -> Result<SimResult> {
    let mut requests = Vec::new();
    let outcome = simulate(pools, transfer, workload, &mut requests, &mut crate::workload::NoObserver, opts)?;
    Ok(SimResult { requests, outcome })
}

/// KV tokens a request holds before its next step.
fn held_tokens(q: &RequestState) -> u64 {
    if q.is_decoding() {
        (q.prompt_tokens + q.generated - 1) as u64
    } else {
        q.prefilled as u64
    }
}

pub(super) struct Replica {
    pool: usize,
    waiting: VecDeque<RequestState>,
    /// How many of `waiting` have nothing left to prefill (the policy's hint).
    waiting_decodes: usize,
    /// Admitted requests not in flight.
    running: Vec<RequestState>,
    kv: KvPool,
    stage_free_s: Vec<f64>,
    in_flight: u32,
    wake_pending: bool,
    outstanding: u32,
    /// Prompt tokens its requests (waiting, running or in flight) still have to prefill.
    pending_prefill: i64,
    requests: u64,
    busy_s: f64,
    /// Iterations started (numbers the steps' seeds).
    iterations: u64,
}

#[derive(Default)]
struct Batch {
    replica: usize,
    /// The members' states, and the tokens each runs this step (same order).
    states: Vec<RequestState>,
    tokens: Vec<u32>,
    start_s: f64,
}

struct Transfer {
    state: RequestState,
    from: usize,
}

struct Engine<'a> {
    pools: &'a mut [Pool],
    transfer: KvTransferSpec,
    opts: SimOptions,
    replicas: Vec<Replica>,
    /// Global index of each pool's first replica, and its replica count.
    pool_replicas: Vec<(usize, usize)>,
    rng: ChaCha8Rng,
    live: Live,
    iterations: Vec<IterationRecord>,
    iterations_truncated: bool,
    last_end_s: f64,
    totals: IterationTotals,
    /// (peak FLOP/s, DRAM B/s) per device of each pool, for the totals.
    pool_peaks: Vec<(f64, f64)>,
    heap: BinaryHeap<Event>,
    seq: u64,
    batches: Vec<Batch>,
    free_batches: Vec<usize>,
    transfers: Vec<Option<Transfer>>,
    free_transfers: Vec<usize>,
    preemptions: u64,
    done: u64,
    /// Whether the replicas interact only at arrivals (one pool, arrivals fixed in advance, no
    /// cluster-shared tier). Then each replica numbers its steps' seeds itself, the totals
    /// sum by replica, and a replica in a steady decode run may run ahead of the others'
    /// events (`steady.rs`) once iteration records are no longer kept, unless
    /// [`SimOptions::strict_event_order`]: the results do not depend on the event order.
    order_free: bool,
    /// Run-wide step count (numbers the steps' seeds when not `order_free`).
    iter_no: u64,
    /// See [`RunOutcome::steady_iterations`] and [`RunOutcome::ahead_iterations`].
    steady_iterations: u64,
    ahead_iterations: u64,
    // Scratch buffers reused every iteration.
    plan: BatchPlan,
    shape: BatchShape,
    members: Vec<(usize, u32)>,
    marks: Vec<bool>,
    /// Running requests already in this iteration (by index in `running`).
    in_batch: Vec<bool>,
    /// KV tokens swapped out or in while forming the current iteration.
    swap_tokens: u64,
    stage_s: Vec<f64>,
    /// Speculative decoding's counters.
    spec_totals: crate::spec_decode::SpecDecodeTotals,
    /// Replicas to schedule once every arrival of the current instant is queued, and a flag
    /// per replica: whether it is in that list.
    deferred: Vec<usize>,
    is_deferred: Vec<bool>,
    /// Whether each pool caches prefixes.
    caching: Vec<bool>,
    /// Per pool: up to how many running requests a steady decode iteration (nothing waiting,
    /// every running request decoding) is formed without asking the policy
    /// ([`BatchPolicy::steady_decode_seqs`](reallm_plugin_api::BatchPolicy::steady_decode_seqs));
    /// 0 when the policy promises nothing or the pool speculates (drafts are reserved per plan).
    steady_seqs: Vec<u64>,
    /// Each pool's cluster-shared tier.
    cluster: Vec<Option<SharedTier>>,
    /// Prefix state of each live request, by slot.
    prefix: Vec<PrefixState>,
    /// Scratch: a lookup's blocks.
    walked: Vec<(crate::kv::EntryId, crate::kv::Tier)>,
    /// Tokens loaded from each lower tier while forming the current iteration.
    load_tokens: [u64; N_TIERS],
    /// Prefix-cache hit tokens of the requests admitted in the current iteration.
    hit_tokens: u64,
}

impl<'a> Engine<'a> {
    fn new(pools: &'a mut [Pool], transfer: KvTransferSpec, opts: SimOptions) -> Self {
        let mut replicas = Vec::new();
        let mut pool_replicas = Vec::new();
        let mut caching = Vec::new();
        let mut cluster = Vec::new();
        for (pi, p) in pools.iter().enumerate() {
            let m = &p.spec.memory;
            let blocks = p.memory.kv_token_capacity / m.block_tokens as u64;
            pool_replicas.push((replicas.len(), p.spec.replicas as usize));
            let pc = p.spec.prefix_cache;
            let on = p.caches_prefixes();
            caching.push(on);
            let c = p.cache_block_tokens() as u64;
            // Tier capacities in cached blocks of the model's whole KV.
            let tier_blocks =
                |t: Option<crate::spec::TierSpec>| t.map_or(0, |t| t.capacity_bytes / (c * p.cost.info.kv_bytes_per_token.max(1)));
            cluster.push(pc.cluster.filter(|_| on).map(|t| SharedTier::new(tier_blocks(Some(t)))));
            for _ in 0..p.spec.replicas {
                let mut kv = KvPool::new(blocks, m.block_tokens, m.watermark_fraction);
                let info = &p.cost.info;
                if info.kv_window_tokens > 0 && info.kv_windowed_layers > 0 && !on {
                    // Windowed layers keep at most the window (prefix caching maps context
                    // blocks one to one, so it keeps the whole context: conservative).
                    kv.window =
                        Some((info.kv_window_tokens, info.kv_windowed_layers.min(info.n_layers) as u64, info.n_layers.max(1) as u64));
                }
                if on {
                    kv.prefix = Some(PrefixCache::new(
                        c as u32,
                        c / m.block_tokens as u64,
                        p.new_eviction_policy(),
                        tier_blocks(pc.host),
                        tier_blocks(pc.ssd),
                        pc.cluster.is_some(),
                    ));
                }
                replicas.push(Replica {
                    pool: pi,
                    waiting: VecDeque::new(),
                    waiting_decodes: 0,
                    running: Vec::new(),
                    kv,
                    stage_free_s: vec![0.0; p.stages()],
                    in_flight: 0,
                    wake_pending: false,
                    outstanding: 0,
                    pending_prefill: 0,
                    requests: 0,
                    busy_s: 0.0,
                    iterations: 0,
                });
            }
        }
        let pool_peaks = pools.iter().map(|p| (p.peak_flops_per_device(), p.device.mem_bw_bytes_per_s)).collect();
        let n_replicas = replicas.len();
        let steady_seqs =
            pools.iter().map(|p| if p.spec.spec_decode.is_some() { 0 } else { p.policy.steady_decode_seqs(&p.spec.limits) }).collect();
        Engine {
            pools,
            transfer,
            opts,
            replicas,
            pool_replicas,
            rng: ChaCha8Rng::seed_from_u64(opts.seed ^ 0x005E_ED0F_C1A5_7E55),
            live: Live::default(),
            iterations: Vec::new(),
            iterations_truncated: false,
            last_end_s: 0.0,
            totals: IterationTotals::default(),
            pool_peaks,
            heap: BinaryHeap::new(),
            seq: 0,
            batches: Vec::new(),
            free_batches: Vec::new(),
            transfers: Vec::new(),
            free_transfers: Vec::new(),
            preemptions: 0,
            done: 0,
            order_free: false,
            iter_no: 0,
            steady_iterations: 0,
            ahead_iterations: 0,
            plan: BatchPlan::default(),
            shape: BatchShape::default(),
            members: Vec::new(),
            marks: Vec::new(),
            in_batch: Vec::new(),
            swap_tokens: 0,
            stage_s: Vec::new(),
            spec_totals: Default::default(),
            deferred: Vec::new(),
            is_deferred: vec![false; n_replicas],
            caching,
            steady_seqs,
            cluster,
            prefix: Vec::new(),
            walked: Vec::new(),
            load_tokens: [0; N_TIERS],
            hit_tokens: 0,
        }
    }

    fn push(&mut self, t: f64, kind: EvKind) {
        self.seq += 1;
        self.heap.push(Event { t, seq: self.seq, kind });
    }

    fn run(&mut self, workload: &mut dyn Workload, sink: &mut dyn RecordSink, observer: &mut dyn Observer) -> Result<()> {
        let end = self.opts.end_time_s.unwrap_or(f64::INFINITY);
        let expected = workload.expected_requests();
        // Replicas of one pool interact only through arrivals (routing) and a cluster-shared
        // tier; a second pool (KV transfers) or a closed loop (completions issue arrivals)
        // makes the event order matter.
        self.order_free = self.pools.len() == 1 && workload.arrivals_fixed() && self.cluster.iter().all(|c| c.is_none());
        self.totals.by_replica = self.order_free;
        loop {
            let next_arrival = workload.peek_arrival_s();
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
                let r = workload.next_request().expect("peeked");
                self.arrive(r, now);
                self.schedule_deferred(workload, now)?;
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
                        if self.steady_run(b, ev.t, workload, observer, expected)? {
                            continue;
                        }
                        self.batch_done(b, ev.t, workload, sink)?;
                        self.schedule_deferred(workload, ev.t)?;
                        if !observer.progress(ev.t, self.done, expected) {
                            return Err(SimError::Interrupted);
                        }
                    }
                    EvKind::TransferDone(x) => self.transfer_done(x, ev.t)?,
                }
            }
        }
        if self.opts.end_time_s.is_none() && self.live.len() > 0 {
            let waiting: usize = self.replicas.iter().map(|r| r.waiting.len()).sum();
            let running: usize = self.replicas.iter().map(|r| r.running.len()).sum();
            return Err(SimError::Infeasible(format!(
                "the simulation stalled with {} of {} requests unfinished ({waiting} waiting, {running} admitted): batch policy `{}` scheduled nothing more; \
                 check max_batch_tokens / max_batch_seqs against the longest prompts and the KV capacity",
                self.live.len(),
                self.live.arrived(),
                self.pools[0].policy_name
            )));
        }
        Ok(())
    }

    /// Queue an arrival on its replica (routed now, prefix hits looked up); the replica is
    /// scheduled by [`schedule_deferred`](Self::schedule_deferred).
    fn arrive(&mut self, r: Request, _now: f64) {
        let seq = self.live.arrived();
        let slot = self.live.admit(&r, 0);
        let caching = self.caching[0];
        if caching {
            if self.prefix.len() <= slot {
                self.prefix.resize_with(slot + 1, PrefixState::default);
            }
            self.prefix[slot].set(&r, seq);
        }
        let rep = self.route(0, RouteRequest { seq, prompt_tokens: r.prompt_tokens, session: r.session }, caching.then_some(slot));
        self.live.record_mut(slot as u64).replica = rep as u32;
        let mut q = RequestState::new(slot as u64, r.arrival_s, r.prompt_tokens, r.output_tokens);
        if caching {
            q.prefilled = self.hint(rep, slot, &q);
        }
        let replica = &mut self.replicas[rep];
        replica.pending_prefill += q.prefill_remaining() as i64;
        replica.waiting_decodes += q.is_decoding() as usize;
        replica.waiting.push_back(q);
        replica.outstanding += 1;
        replica.requests += 1;
        self.defer(rep);
    }

    fn defer(&mut self, r: usize) {
        if !self.is_deferred[r] {
            self.is_deferred[r] = true;
            self.deferred.push(r);
        }
    }

    /// Schedule the deferred replicas (in the order they were deferred) unless another
    /// arrival is due at `now`: simultaneous arrivals are all queued first.
    fn schedule_deferred(&mut self, workload: &dyn Workload, now: f64) -> Result<()> {
        if workload.peek_arrival_s() == Some(now) {
            return Ok(());
        }
        let mut list = std::mem::take(&mut self.deferred);
        for &r in &list {
            self.is_deferred[r] = false;
            self.try_schedule(r, now)?;
        }
        list.clear();
        self.deferred = list;
        Ok(())
    }

    fn wake_at(&mut self, r: usize, t: f64) {
        if !self.replicas[r].wake_pending {
            self.replicas[r].wake_pending = true;
            self.push(t, EvKind::Wake(r));
        }
    }

    fn batch_done(&mut self, slot: usize, now: f64, workload: &mut dyn Workload, sink: &mut dyn RecordSink) -> Result<()> {
        let mut b = std::mem::take(&mut self.batches[slot]);
        let r = b.replica;
        let pool = self.replicas[r].pool;
        let role = self.pools[pool].spec.role;
        // Members that stay admitted are compacted to the front of `states`, then appended to
        // `running` (moved wholesale when nothing else is running: the common case).
        let mut states = std::mem::take(&mut b.states);
        let mut kept = 0;
        for k in 0..states.len() {
            let (mut q, tok) = (states[k], b.tokens[k]);
            let emit = self.spec_emit(r, &q);
            let rec = self.live.record_mut(q.id);
            if rec.first_scheduled_s.is_none() {
                rec.first_scheduled_s = Some(b.start_s);
            }
            if q.is_decoding() {
                // One token, or 1 + accepted drafts under speculative decoding (same time).
                q.generated += emit;
                rec.token_times.extend(std::iter::repeat_n(now, emit as usize));
                self.spec_release(r, &mut q);
            } else {
                let t = tok.min(q.prefill_remaining());
                q.prefilled += t;
                self.replicas[r].pending_prefill -= t as i64;
                if q.prefill_remaining() == 0 && q.generated == 0 {
                    q.generated = 1;
                    rec.token_times.push(now);
                }
            }
            let rep = &mut self.replicas[r];
            if q.generated >= q.output_tokens {
                prefix::release(&mut rep.kv, self.prefix.get_mut(q.id as usize).filter(|_| self.caching[pool]), &mut q);
                rep.outstanding -= 1;
                self.done += 1;
                let rec = self.live.complete(q.id);
                workload.on_complete(&rec, now);
                self.live.emit(rec, sink);
            } else if role == Role::Prefill && q.is_decoding() {
                // Prefill done: ship the KV to the decode pool.
                let dt = self.transfer_time(pool, &q, now - b.start_s);
                self.live.record_mut(q.id).transfer_s = dt;
                let x = self.free_transfers.pop().unwrap_or_else(|| {
                    self.transfers.push(None);
                    self.transfers.len() - 1
                });
                self.transfers[x] = Some(Transfer { state: q, from: r });
                self.push(now + dt, EvKind::TransferDone(x));
            } else {
                states[kept] = q;
                kept += 1;
            }
        }
        states.truncate(kept);
        let running = &mut self.replicas[r].running;
        if running.is_empty() {
            std::mem::swap(running, &mut states);
        } else {
            running.extend_from_slice(&states);
            states.clear();
        }
        b.states = states;
        b.tokens.clear();
        self.batches[slot] = b;
        self.free_batches.push(slot);
        self.replicas[r].in_flight -= 1;
        // Scheduled once the requests a closed-loop workload issued at `now` are queued.
        self.defer(r);
        Ok(())
    }

    fn finish(self, workload: &mut dyn Workload, sink: &mut dyn RecordSink) -> RunOutcome {
        let Engine {
            pools,
            replicas,
            mut live,
            iterations,
            iterations_truncated,
            mut totals,
            preemptions,
            last_end_s,
            cluster,
            spec_totals,
            steady_iterations,
            ahead_iterations,
            ..
        } = self;
        let spec_decode = pools.iter().any(|p| p.spec.spec_decode.is_some()).then_some(spec_totals);
        let summaries: Vec<ReplicaSummary> = replicas
            .iter()
            .map(|r| ReplicaSummary {
                pool: r.pool as u32,
                role: pools[r.pool].spec.role,
                requests: r.requests,
                kv_total_blocks: r.kv.total_blocks,
                kv_peak_used_blocks: r.kv.peak_used_blocks,
                kv_used_blocks_at_end: r.kv.used_blocks(),
                busy_s: r.busy_s,
                prefix: r.kv.prefix.as_ref().map(|c| c.stats.clone()),
            })
            .collect();
        let prefix = pools.iter().position(|p| p.caches_prefixes()).map(|pi| {
            let p = &pools[pi];
            let pc = &p.spec.prefix_cache;
            let mut t = PrefixStats::default();
            for s in summaries.iter().filter_map(|r| r.prefix.as_ref()) {
                t.add(s);
            }
            if let Some(c) = &cluster[pi] {
                t.add(&c.stats);
            }
            let tiers = [("host", pc.host.is_some()), ("ssd", pc.ssd.is_some()), ("cluster", pc.cluster.is_some())];
            PrefixOutcome {
                block_tokens: p.cache_block_tokens(),
                kv_bytes_per_token: p.cost.info.kv_bytes_per_token,
                eviction: pc.eviction.name().to_string(),
                tiers: tiers.iter().filter(|x| x.1).map(|x| x.0.to_string()).collect(),
                totals: t,
            }
        });
        debug_assert!(
            live.len() > 0 || replicas.iter().all(|r| r.pending_prefill == 0),
            "pending prefill tokens left with no live request"
        );
        // Unfinished requests, then those that never arrived, in arrival order.
        live.flush_unfinished(sink);
        totals.close();
        while let Some(r) = workload.next_request() {
            live.emit_unarrived(&r, sink);
        }
        RunOutcome {
            requests: live.arrived(),
            iterations: if iterations_truncated { Vec::new() } else { iterations },
            iterations_truncated,
            totals,
            preemptions,
            kv_total_blocks: replicas.iter().map(|r| r.kv.total_blocks).sum(),
            kv_peak_used_blocks: summaries.iter().map(|r| r.kv_peak_used_blocks).sum(),
            kv_block_tokens: replicas.first().map(|r| r.kv.block_tokens).unwrap_or(16),
            replicas: summaries,
            end_s: last_end_s,
            spec_decode,
            prefix,
            steady_iterations,
            ahead_iterations,
        }
    }
}
