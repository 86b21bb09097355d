//! Steady decode runs: consecutive iterations of a replica that only decode the same requests.
//!
//! A busy replica spends most of its iterations decoding the same batch: nothing waits, every
//! running request decodes one token, the policy would plan all of them again
//! ([`BatchPolicy::steady_decode_seqs`](reallm_plugin_api::BatchPolicy::steady_decode_seqs)),
//! nothing completes, and the KV growth fits. When such a batch completes and its next
//! completion comes before the next arrival and the end time, and before any other event that
//! could touch this replica, the engine runs that next iteration at once, without handing the
//! batch back to the event queue and without re-forming it: the same state changes, in the
//! same order, as [`batch_done`](super::Engine) followed by [`try_schedule`](super::Engine)
//! would make (emission, KV growth and registration, batch shape, cost, stage booking, running
//! totals, the observer's progress call), in one pass over the members.
//!
//! Which other events could touch the replica: in general every queued event, so the run
//! stops at the queue's next event. When the replicas interact only at arrivals
//! ([`Engine::order_free`](super::Engine): one pool, arrivals fixed in advance, no
//! cluster-shared tier) other replicas' completions cannot, so the replica runs ahead of them
//! up to the next arrival: at that arrival every replica has processed exactly the
//! completions before it, as in time order, so routing sees the same state. What would
//! depend on the processing order is made not to: such runs number their steps' seeds per
//! replica and sum their totals per replica (`IterationTotals::by_replica`), records leave
//! in arrival order anyway, and running ahead waits until iteration records are no longer
//! kept (their order is the event order). `tests/it/determinism.rs` checks that running
//! ahead changes no result, to the bit, against [`SimOptions::strict_event_order`](super::SimOptions).

use super::{Engine, EvKind};
use crate::cost::StepCost;
use crate::error::{Result, SimError};
use crate::kv::KvPool;
use crate::spec::Role;
use crate::workload::{Observer, Workload};
use reallm_plugin_api::RequestState;

/// Whether the next completion of a decode-only batch of `states` (one token each) keeps the
/// batch steady: no request completes on it, and the KV growth of the iteration after it fits
/// the free blocks (so the general path would neither complete, nor preempt).
fn next_is_steady(states: &[RequestState], kv: &KvPool) -> bool {
    let mut need = 0u64;
    for q in states {
        if !q.is_decoding() || q.generated.saturating_add(1) >= q.output_tokens {
            return false;
        }
        // After the emission: one more token generated, the next step feeds it.
        let next = RequestState { generated: q.generated.saturating_add(1), ..*q };
        need += kv.blocks_for(next.context_after(1) as u64).saturating_sub(q.kv_blocks as u64);
    }
    need <= kv.free_blocks
}

impl Engine<'_> {
    /// Handle the completion of batch `slot` at `now` as a steady run if it is one (see the
    /// module docs); returns false, touching nothing, when it is not.
    pub(super) fn steady_run(
        &mut self,
        slot: usize,
        mut now: f64,
        workload: &dyn Workload,
        observer: &mut dyn Observer,
        expected: Option<u64>,
    ) -> Result<bool> {
        let r = self.batches[slot].replica;
        {
            let b = &self.batches[slot];
            let rep = &self.replicas[r];
            let pool = &self.pools[rep.pool];
            let n = b.states.len() as u64;
            let steady = n > 0
                && n <= self.steady_seqs[rep.pool]
                && pool.spec.role != Role::Prefill
                && rep.stage_free_s.len() == 1
                && rep.in_flight == 1
                && rep.waiting.is_empty()
                && rep.running.is_empty()
                && !self.is_deferred[r]
                && b.tokens.iter().all(|&t| t == 1)
                && next_is_steady(&b.states, &rep.kv);
            if !steady {
                return Ok(false);
            }
        }
        let end_time = self.opts.end_time_s.unwrap_or(f64::INFINITY);
        let pool = self.replicas[r].pool;
        let caching = self.caching[pool];
        let block_c = self.pools[pool].cache_block_tokens() as u64;
        // The members become the replica's running requests for the run (as `batch_done`
        // leaves them), and go back into the batch when it is handed to the event queue.
        let mut spare = std::mem::take(&mut self.batches[slot].states);
        std::mem::swap(&mut spare, &mut self.replicas[r].running);
        let mut start_s = self.batches[slot].start_s;
        let mut cost = StepCost::default();
        loop {
            // One pass over the members does `batch_done`'s emission (every member emits its
            // token at `now` and stays admitted) and `try_schedule`'s steady decode (KV grown,
            // fitting: checked before this iteration), in the same order of KV operations,
            // and measures what the iteration after this one would need.
            self.swap_tokens = 0;
            self.load_tokens = [0; crate::kv::N_TIERS];
            self.hit_tokens = 0;
            let (mut ctx_sum, mut need_next, mut completes) = (0u64, 0u64, false);
            let rep = &mut self.replicas[r];
            for q in rep.running.iter_mut() {
                let rec = self.live.record_mut(q.id);
                if rec.first_scheduled_s.is_none() {
                    rec.first_scheduled_s = Some(start_s);
                }
                q.generated += 1;
                rec.token_times.push(now);
                // A decoding request's step context grows by one token per step.
                let ctx = q.context_after(1) as u64;
                ctx_sum += ctx;
                super::schedule::grow_to(&mut rep.kv, caching.then(|| &mut self.prefix[q.id as usize]), block_c, q, ctx);
                completes |= q.generated.saturating_add(1) >= q.output_tokens;
                need_next += rep.kv.blocks_for(ctx + 1).saturating_sub(q.kv_blocks as u64);
            }
            let n = rep.running.len() as u64;
            self.shape.prefills.clear();
            self.shape.decode_seqs = n;
            self.shape.decode_ctx_sum = ctx_sum;
            self.finish_shape(r);
            if caching {
                self.drain_spill(r);
            }
            self.cost_step(r, &mut cost)?;
            let end = self.book_stages(r, now, &cost);
            self.record_iteration(r, now, end, &cost, 0, n as u32, n as u32);
            if !observer.progress(now, self.done, expected) {
                return Err(SimError::Interrupted);
            }
            start_s = now;
            // Is this batch's completion this replica's next event, and steady again? Other
            // replicas' events may come first when they cannot interact with this replica
            // before the next arrival (`Engine::order_free`, iteration records no longer kept:
            // their order is the event order).
            let rep = &self.replicas[r];
            let ahead = self.order_free && !self.opts.strict_event_order && self.iterations_truncated && !rep.wake_pending;
            let next_first = end < end_time
                && workload.peek_arrival_s().is_none_or(|a| a > end)
                && (ahead || self.heap.peek().is_none_or(|e| e.t > end))
                && !completes
                && need_next <= rep.kv.free_blocks;
            self.steady_iterations += 1;
            if next_first {
                self.ahead_iterations += self.heap.peek().is_some_and(|e| e.t <= end) as u64;
                now = end;
                continue;
            }
            std::mem::swap(&mut spare, &mut self.replicas[r].running);
            let b = &mut self.batches[slot];
            b.states = spare;
            b.start_s = start_s;
            self.push(end, EvKind::BatchDone(slot));
            return Ok(true);
        }
    }
}
