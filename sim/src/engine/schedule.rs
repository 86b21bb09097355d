//! Forming and booking one micro-batch on a replica, in named steps:
//! [`plan`](Engine::plan) → [`admit`](Engine::admit) → [`grow_kv`](Engine::grow_kv) →
//! [`shape_batch`](Engine::shape_batch) → [`cost_step`](Engine::cost_step) →
//! [`launch`](Engine::launch).

use super::prefix::{self, max_hit_blocks, register_upto, take_hit, walk, Hit};
use super::transfer::{overlapped_s, serial_s};
use super::{held_tokens, Batch, Engine, EvKind, IterationRecord};
use crate::cost::{StepCost, COMM_KIND};
use crate::error::{Result, SimError};
use crate::metrics::IterationTokens;
use crate::spec::Preemption;
use reallm_plugin_api::{KvView, PrefillChunk, RequestState, ScheduleHints, SchedulerView, Source};

/// Whether the members' KV could be grown.
enum Growth {
    Grown,
    /// Others hold KV; retry when a micro-batch completes.
    Wait,
}

/// Give request `q` the blocks of its context after a step of `tokens` (the caller checked that
/// the free blocks cover the growth) and, when it caches prefixes (`prefix`), register the full
/// cached blocks (of `c` tokens) that context reaches.
pub(super) fn grow_one(
    kv: &mut crate::kv::KvPool,
    prefix: Option<&mut super::prefix::PrefixState>,
    c: u64,
    q: &mut RequestState,
    tokens: u32,
) {
    grow_to(kv, prefix, c, q, q.context_after(tokens) as u64);
}

/// [`grow_one`] given the context `ctx` the step leaves `q` with.
#[inline]
pub(super) fn grow_to(kv: &mut crate::kv::KvPool, prefix: Option<&mut super::prefix::PrefixState>, c: u64, q: &mut RequestState, ctx: u64) {
    let want = kv.blocks_for(ctx);
    if want > q.kv_blocks as u64 {
        let ok = kv.try_alloc(want - q.kv_blocks as u64);
        debug_assert!(ok, "growth checked against the free blocks");
        q.kv_blocks = want as u32;
    }
    if let Some(ps) = prefix {
        register_upto(kv, ps, c, ctx);
    }
}

impl Engine<'_> {
    /// Form and book the next micro-batch of replica `r` if it can start now.
    pub(super) fn try_schedule(&mut self, r: usize, now: f64) -> Result<()> {
        {
            let rep = &self.replicas[r];
            if rep.in_flight >= rep.stage_free_s.len() as u32 || (rep.waiting.is_empty() && rep.running.is_empty()) {
                return Ok(());
            }
            if rep.stage_free_s[0] > now {
                let t = rep.stage_free_s[0];
                self.wake_at(r, t);
                return Ok(());
            }
        }
        if self.steady_decode(r) {
            if let Some((prefill_tokens, decode_tokens)) = self.steady_grow_and_shape(r) {
                if self.caching[self.replicas[r].pool] {
                    self.drain_spill(r);
                }
                let mut cost = StepCost::default();
                self.cost_step(r, &mut cost)?;
                self.launch(r, now, &cost, prefill_tokens, decode_tokens);
                return Ok(());
            }
        } else {
            self.plan(r, now)?;
            self.admit(r);
            self.spec_reserve(r);
        }
        let growth = self.grow_kv(r);
        if self.caching[self.replicas[r].pool] {
            self.drain_spill(r);
        }
        if let Growth::Wait = growth? {
            return Ok(());
        }
        if self.members.is_empty() {
            return Ok(());
        }
        let (prefill_tokens, decode_tokens) = self.shape_batch(r);
        let mut cost = StepCost::default();
        self.cost_step(r, &mut cost)?;
        self.launch(r, now, &cost, prefill_tokens, decode_tokens);
        Ok(())
    }

    /// Steps 1 and 2 of a steady decode: when no request waits and every running request is
    /// decoding, within what the policy promised to plan in full
    /// (`BatchPolicy::steady_decode_seqs`), the members are every running request, one token
    /// each, in admission order: exactly what the policy and admission would give, without
    /// asking. Returns false (nothing touched) otherwise.
    fn steady_decode(&mut self, r: usize) -> bool {
        let rep = &self.replicas[r];
        let n = rep.running.len();
        if !rep.waiting.is_empty() || n as u64 > self.steady_seqs[rep.pool] || !rep.running.iter().all(|q| q.is_decoding()) {
            return false;
        }
        self.members.clear();
        self.members.extend((0..n).map(|i| (i, 1)));
        self.swap_tokens = 0;
        self.load_tokens = [0; crate::kv::N_TIERS];
        self.hit_tokens = 0;
        true
    }

    /// Steps 3 and 4 of a steady decode in one pass over the members (every running request,
    /// one token each): grow their KV and set the batch shape, exactly as
    /// [`grow_kv`](Self::grow_kv) and [`shape_batch`](Self::shape_batch) would. Returns `None`
    /// (nothing touched) when the growth does not fit the free blocks: the general steps then
    /// preempt.
    pub(super) fn steady_grow_and_shape(&mut self, r: usize) -> Option<(u32, u32)> {
        let pool = self.replicas[r].pool;
        let caching = self.caching[pool];
        let c = self.pools[pool].cache_block_tokens() as u64;
        let rep = &mut self.replicas[r];
        let (mut need, mut ctx_sum) = (0u64, 0u64);
        for q in &rep.running {
            let ctx = q.context_after(1) as u64;
            ctx_sum += ctx;
            need += rep.kv.blocks_for(ctx).saturating_sub(q.kv_blocks as u64);
        }
        if need > rep.kv.free_blocks {
            return None;
        }
        if need > 0 || caching {
            for q in rep.running.iter_mut() {
                grow_one(&mut rep.kv, caching.then(|| &mut self.prefix[q.id as usize]), c, q, 1);
            }
        }
        let n = rep.running.len() as u64;
        let shape = &mut self.shape;
        shape.prefills.clear();
        shape.decode_seqs = n;
        shape.decode_ctx_sum = ctx_sum;
        self.finish_shape(r);
        Some((0, n as u32))
    }

    /// Step 1: The batch policy plans from a read-only view of the replica.
    fn plan(&mut self, r: usize, now: f64) -> Result<()> {
        let pool = self.replicas[r].pool;
        self.plan.clear();
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
            limits: self.pools[pool].spec.limits,
        };
        let p = &self.pools[pool];
        debug_assert_eq!(
            rep.waiting_decodes,
            view.waiting.iter().filter(|q| q.is_decoding()).count(),
            "waiting_decodes out of step with the queue"
        );
        let hints = ScheduleHints::new(rep.waiting_decodes);
        p.policy.try_schedule_hinted(&view, &hints, &mut self.plan).map_err(|e| SimError::plugin(&p.policy_name, e))
    }

    /// Step 2: Take running entries as planned; admit waiting entries in plan order while their
    /// blocks fit (above the watermark, unless the replica is otherwise idle).
    ///
    /// With prefix caching, a waiting request holding no KV first looks the cache up: it starts
    /// with the hit as prefill progress, holds the hit blocks (bringing lower-tier ones back),
    /// and needs free blocks only for the rest (plus hit blocks that were evictable).
    fn admit(&mut self, r: usize) {
        let pool = self.replicas[r].pool;
        let caching = self.caching[pool];
        let c = self.pools[pool].cache_block_tokens() as u64;
        let rep = &mut self.replicas[r];
        self.members.clear();
        self.marks.clear();
        self.marks.resize(rep.waiting.len(), false);
        self.in_batch.clear();
        self.in_batch.resize(rep.running.len(), false);
        self.swap_tokens = 0;
        self.load_tokens = [0; crate::kv::N_TIERS];
        self.hit_tokens = 0;
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
                    let was_decoding = q.is_decoding();
                    let remaining_before = q.prefill_remaining() as i64;
                    let lookup = caching && q.kv_blocks == 0 && !q.is_decoding() && !self.live.is_swapped(q.id);
                    let mut hit = Hit::default();
                    if lookup {
                        let cache = rep.kv.prefix.as_ref().expect("caching pool");
                        let ps = &self.prefix[q.id as usize];
                        hit = walk(cache, self.cluster[pool].as_ref(), ps, c, max_hit_blocks(q.prefill_target(), c), &mut self.walked);
                        q.prefilled = (hit.blocks * c) as u32;
                    }
                    let tokens = if q.is_decoding() { 1 } else { e.tokens.min(q.prefill_remaining()) };
                    let need = rep.kv.blocks_for(q.context_after(tokens) as u64);
                    // Blocks taken from the free count: new ones, and hit ones that were free.
                    let kpb = rep.kv.prefix.as_ref().map_or(1, |p| p.kv_per_block());
                    let new_blocks = need - hit.gpu * kpb;
                    let take = new_blocks + hit.gpu_evictable * kpb;
                    let alone = rep.running.is_empty() && rep.in_flight == 0;
                    if take > rep.kv.free_blocks.saturating_sub(rep.kv.watermark_blocks) && !(alone && take <= rep.kv.free_blocks) {
                        continue;
                    }
                    if lookup {
                        let ps = &mut self.prefix[q.id as usize];
                        take_hit(&mut rep.kv, self.cluster[pool].as_mut(), ps, &self.walked, c, new_blocks, &mut self.load_tokens);
                        let stats = &mut rep.kv.prefix.as_mut().expect("caching pool").stats;
                        stats.lookups += 1;
                        stats.lookup_tokens += q.prefill_target() as u64;
                        stats.lookup_blocks += max_hit_blocks(q.prefill_target(), c);
                        for &(_, t) in &self.walked {
                            stats.hit_blocks[t.index()] += 1;
                            stats.hit_tokens[t.index()] += c;
                        }
                        self.hit_tokens += hit.blocks * c;
                    } else if !rep.kv.try_alloc(need) {
                        continue;
                    }
                    if caching {
                        register_upto(&mut rep.kv, &mut self.prefix[q.id as usize], c, q.context_after(tokens) as u64);
                    }
                    rep.pending_prefill += q.prefill_remaining() as i64 - remaining_before;
                    self.marks[idx] = true;
                    rep.waiting_decodes -= was_decoding as usize;
                    admitted = true;
                    if self.live.set_swapped(q.id, false) {
                        // Swap its KV back in from host memory.
                        self.swap_tokens += held_tokens(&q);
                    }
                    q.kv_blocks = need as u32;
                    rep.running.push(q);
                    self.members.push((rep.running.len() - 1, tokens));
                }
            }
        }
        if admitted {
            // Admissions in FCFS order take a prefix of the queue: drop it from the front
            // (O(admitted)); otherwise keep the unmarked in order.
            let lead = self.marks.iter().take_while(|&&m| m).count();
            if self.marks[lead..].iter().all(|&m| !m) {
                rep.waiting.drain(..lead);
            } else {
                let mut i = 0;
                let marks = &self.marks;
                rep.waiting.retain(|_| {
                    let keep = !marks[i];
                    i += 1;
                    keep
                });
            }
        }
    }

    /// Step 3: Grow the members' KV; on shortage preempt the most recently admitted idle request
    /// (recompute: progress dropped; swap: KV to host memory, costed on this iteration).
    fn grow_kv(&mut self, r: usize) -> Result<Growth> {
        let pool = self.replicas[r].pool;
        let preemption = self.pools[pool].spec.memory.preemption;
        let caching = self.caching[pool];
        let c = self.pools[pool].cache_block_tokens() as u64;
        let rep = &mut self.replicas[r];
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
                if need == 0 && !caching {
                    // Nothing grows (most decode steps): the pass below would change nothing.
                    return Ok(Growth::Grown);
                }
                for &(i, t) in &self.members {
                    let q = &mut rep.running[i];
                    grow_one(&mut rep.kv, caching.then(|| &mut self.prefix[q.id as usize]), c, q, t);
                }
                return Ok(Growth::Grown);
            }
            if rep.running.len() <= 1 {
                if rep.in_flight > 0 {
                    self.members.clear();
                    return Ok(Growth::Wait);
                }
                let q = rep.running[0];
                return Err(SimError::Infeasible(format!(
                    "request {} needs {} KV tokens but a replica holds only {} ({} blocks of {}): add memory or devices, or shorten the context",
                    self.live.record_mut(q.id).id,
                    q.context_after(1),
                    rep.kv.total_blocks * rep.kv.block_tokens as u64,
                    rep.kv.total_blocks,
                    rep.kv.block_tokens
                )));
            }
            let victim_idx = rep.running.len() - 1;
            let mut victim = rep.running.pop().expect("len > 1");
            self.members.retain(|m| m.0 != victim_idx);
            prefix::release(&mut rep.kv, self.prefix.get_mut(victim.id as usize).filter(|_| caching), &mut victim);
            if preemption == Preemption::Swap {
                self.live.set_swapped(victim.id, true);
                self.swap_tokens += held_tokens(&victim);
            } else {
                let before = victim.prefill_remaining() as i64;
                victim.prefilled = 0;
                victim.recompute_tokens = victim.generated.saturating_sub(1);
                rep.pending_prefill += victim.prefill_remaining() as i64 - before;
            }
            victim.preemptions += 1;
            self.live.record_mut(victim.id).preemptions += 1;
            self.preemptions += 1;
            rep.waiting_decodes += victim.is_decoding() as usize;
            rep.waiting.push_front(victim);
        }
    }

    /// The rest of step 4, once the members' tokens are in `self.shape`: CUDA-graph padding
    /// (a decode-only batch runs padded to the next captured size; each padding row is a dummy
    /// sequence attending over one token), the step's seed, and the speculative width.
    pub(super) fn finish_shape(&mut self, r: usize) {
        let pool = self.replicas[r].pool;
        let shape = &mut self.shape;
        if shape.prefills.is_empty() {
            if let Some(&g) = self.pools[pool].spec.cuda_graph_batch_sizes.iter().find(|&&g| g as u64 >= shape.decode_seqs) {
                shape.decode_ctx_sum += g as u64 - shape.decode_seqs;
                shape.decode_seqs = g as u64;
            }
        }
        // The step's seed: the run's and the step's number, run-wide, or, when the event
        // order must not matter, the replica's own count and the replica.
        shape.seed = if self.order_free {
            let rep = &mut self.replicas[r];
            rep.iterations += 1;
            self.opts.seed ^ rep.iterations.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (r as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)
        } else {
            self.iter_no += 1;
            self.opts.seed ^ self.iter_no.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        };
        self.shape.spec_tokens = self.spec_tokens(pool, self.shape.decode_seqs);
    }

    /// Step 4: The batch shape of the members: (prefill tokens, decoding sequences).
    fn shape_batch(&mut self, r: usize) -> (u32, u32) {
        let rep = &self.replicas[r];
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
        self.finish_shape(r);
        (pf, dec)
    }

    /// Step 5: Cost the step (per stage), plus the iteration overhead and any swap traffic.
    pub(super) fn cost_step(&mut self, r: usize, cost: &mut StepCost) -> Result<()> {
        let pool = self.replicas[r].pool;
        let loads = self.caching[pool] && self.load_tokens.iter().any(|&t| t > 0);
        let (load_lat, load_full) = if loads { self.tier_load_s(pool) } else { (0.0, 0.0) };
        let p = &mut self.pools[pool];
        p.cost.step_cost_into(&self.shape, &mut self.stage_s, cost)?;
        if load_lat > 0.0 || load_full > 0.0 {
            // Prefix blocks loaded from lower tiers (docs: "KV offload tiers"): before the
            // step, or layer by layer behind its compute.
            let load_s = if p.spec.prefix_cache.load_overlap {
                overlapped_s(load_lat, load_full, p.cost.info.n_layers, cost.total_s)
            } else {
                serial_s(load_lat, load_full)
            };
            cost.total_s += load_s;
            cost.comm_s += load_s;
            cost.by_kind_s[COMM_KIND] += load_s;
            if let Some(s0) = self.stage_s.first_mut() {
                *s0 += load_s;
            }
        }
        self.spec_draft(r, cost)?;
        let p = &self.pools[pool];
        let overhead = p.spec.iteration_overhead_s;
        cost.total_s += overhead;
        if let Some(s0) = self.stage_s.first_mut() {
            *s0 += overhead;
        }
        if self.swap_tokens > 0 {
            // Swaps move every device's KV shard over its own host link, before the step.
            let swap_s = self.swap_tokens as f64 * p.memory.kv_bytes_per_token_per_device as f64 / p.spec.memory.host_link_bytes_per_s;
            cost.total_s += swap_s;
            cost.comm_s += swap_s;
            cost.by_kind_s[COMM_KIND] += swap_s;
            if let Some(s0) = self.stage_s.first_mut() {
                *s0 += swap_s;
            }
        }
        Ok(())
    }

    /// Step 6: Book the stages, move the members into a batch, record the iteration.
    fn launch(&mut self, r: usize, now: f64, cost: &StepCost, prefill_tokens: u32, decode_tokens: u32) {
        let end = self.book_stages(r, now, cost);
        let rep = &mut self.replicas[r];
        let stages = rep.stage_free_s.len() as u32;
        rep.in_flight += 1;

        let slot = self.free_batches.pop().unwrap_or_else(|| {
            self.batches.push(Batch::default());
            self.batches.len() - 1
        });
        let b = &mut self.batches[slot];
        b.replica = r;
        b.start_s = now;
        b.states.clear();
        b.tokens.clear();
        b.tokens.extend(self.members.iter().map(|m| m.1));
        if self.members.len() == rep.running.len() && self.members.iter().enumerate().all(|(k, m)| m.0 == k) {
            // Every running request, in order (a steady decode): move them wholesale.
            std::mem::swap(&mut b.states, &mut rep.running);
        } else {
            self.marks.clear();
            self.marks.resize(rep.running.len(), false);
            for &(i, _) in &self.members {
                b.states.push(rep.running[i]);
                self.marks[i] = true;
            }
            let mut i = 0;
            let marks = &self.marks;
            rep.running.retain(|_| {
                let keep = !marks[i];
                i += 1;
                keep
            });
        }
        let seqs = b.states.len() as u32;
        self.record_iteration(r, now, end, cost, prefill_tokens, decode_tokens, seqs);
        let rep = &self.replicas[r];
        let next_free = rep.stage_free_s[0];
        let more = rep.in_flight < stages && !(rep.waiting.is_empty() && rep.running.is_empty());
        self.push(end, EvKind::BatchDone(slot));
        if more {
            self.wake_at(r, next_free);
        }
    }

    /// Book a micro-batch starting at `now` on the replica's stages (stage `s` starts when
    /// both the previous stage of this micro-batch and stage `s` of the previous micro-batch
    /// are done); returns the end of its last stage.
    pub(super) fn book_stages(&mut self, r: usize, now: f64, cost: &StepCost) -> f64 {
        let rep = &mut self.replicas[r];
        let mut t = now;
        for (s, dur) in self.stage_s.iter().enumerate() {
            let start = t.max(rep.stage_free_s[s]);
            t = start + dur;
            rep.stage_free_s[s] = t;
        }
        rep.busy_s += cost.total_s;
        t
    }

    /// Add an iteration to the running totals (and to the kept records).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_iteration(
        &mut self,
        r: usize,
        now: f64,
        end: f64,
        cost: &StepCost,
        prefill_tokens: u32,
        decode_tokens: u32,
        seqs: u32,
    ) {
        let rep = &self.replicas[r];
        let kv_used_blocks = rep.kv.used_blocks();
        let (peak_flops, mem_bw) = self.pool_peaks[rep.pool];
        let tokens = IterationTokens { replica: r as u32, prefill_tokens, decode_tokens, seqs, kv_used_blocks };
        self.totals.add_parts(&tokens, cost, rep.kv.total_blocks, peak_flops, mem_bw);
        self.last_end_s = self.last_end_s.max(end);
        let keep = !self.iterations_truncated && self.opts.keep_iterations.is_none_or(|cap| self.iterations.len() < cap);
        if keep {
            self.iterations.push(IterationRecord {
                replica: r as u32,
                start_s: now,
                end_s: end,
                prefill_tokens,
                decode_tokens,
                seqs,
                kv_used_blocks,
                cached_tokens: self.hit_tokens as u32,
                kv_cached_blocks: rep.kv.cached_free_blocks(),
                cost: cost.into(),
            });
        } else if !self.iterations_truncated {
            self.iterations_truncated = true;
            self.iterations = Vec::new();
        }
    }
}
