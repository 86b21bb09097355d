//! The engine's speculative-decoding hooks (see [`crate::spec_decode`] for the model). Each
//! is a no-op for a pool without speculative decoding, so such runs are unchanged.
//!
//! * [`reserve`](Engine::spec_reserve) (after admission): decoding members reserve KV for
//!   `1 + k` new tokens.
//! * [`tokens`](Engine::spec_tokens) (shape): the verification width of the batch.
//! * [`draft`](Engine::spec_draft) (cost): the drafter's passes after the verification.
//! * [`emit`](Engine::spec_emit) (batch done): tokens a decoding member emits, drawn from the
//!   acceptance model.
//! * [`release`](Engine::spec_release) (batch done): KV slots of rejected drafts freed.

use super::{held_tokens, Engine};
use crate::cost::StepCost;
use crate::error::Result;
use crate::spec_decode::draft_cost;
use reallm_plugin_api::RequestState;

impl Engine<'_> {
    /// Speculative tokens per decoding sequence on pool `pool` (0 without speculation).
    pub(super) fn spec_k(&self, pool: usize) -> u32 {
        self.pools[pool].spec.spec_decode.as_ref().map_or(0, |s| s.k())
    }

    /// After admission: each decoding member of replica `r` feeds `1 + k` tokens (its KV is
    /// grown for all of them before the step).
    pub(super) fn spec_reserve(&mut self, r: usize) {
        let k = self.spec_k(self.replicas[r].pool);
        if k == 0 {
            return;
        }
        let rep = &self.replicas[r];
        for m in &mut self.members {
            if rep.running[m.0].is_decoding() {
                m.1 = 1 + k;
            }
        }
    }

    /// Draft tokens each decoding sequence of a batch with `decode_seqs` decoding sequences
    /// verifies on pool `pool`.
    pub(super) fn spec_tokens(&self, pool: usize, decode_seqs: u64) -> u64 {
        if decode_seqs == 0 {
            0
        } else {
            self.spec_k(pool) as u64
        }
    }

    /// Add the drafter's passes (after the verification, on the last stage) to the step's cost.
    pub(super) fn spec_draft(&mut self, r: usize, cost: &mut StepCost) -> Result<()> {
        let pool = self.replicas[r].pool;
        let k = self.spec_k(pool);
        let p = &mut self.pools[pool];
        let Some(drafter) = p.drafter.as_mut() else { return Ok(()) };
        if k == 0 {
            return Ok(());
        }
        let d = draft_cost(drafter, &self.shape, k, &mut p.draft_shape, &mut p.draft_stage_s)?;
        cost.add(&d);
        if let Some(last) = self.stage_s.last_mut() {
            *last += d.total_s;
        }
        self.spec_totals.draft_s += d.total_s;
        Ok(())
    }

    /// Tokens a member of a finished batch on replica `r` emits: 1 for a prefill or a plain
    /// decode step; `1 + accepted` for a verification step (drawn from the pool's acceptance
    /// model by seed, request and step), capped at the tokens the request still needs.
    pub(super) fn spec_emit(&mut self, r: usize, q: &RequestState) -> u32 {
        let pool = self.replicas[r].pool;
        let Some(sd) = self.pools[pool].spec.spec_decode.as_ref() else { return 1 };
        if !q.is_decoding() {
            return 1;
        }
        let request = self.live.record_mut(q.id).seq;
        let accepted = sd.acceptance.sample(self.opts.seed, request, q.generated as u64);
        let emitted = (1 + accepted).min(q.output_tokens.saturating_sub(q.generated).max(1));
        let k = sd.k();
        self.spec_totals.record(k, accepted, emitted);
        emitted
    }

    /// After a decoding member's step on replica `r`: free the KV blocks reserved for
    /// positions it did not keep (it holds its context but the newest token). Blocks the
    /// prefix cache already registered (growth registers every full block it reserves) stay.
    pub(super) fn spec_release(&mut self, r: usize, q: &mut RequestState) {
        let rep = &mut self.replicas[r];
        if self.pools[rep.pool].spec.spec_decode.is_none() || !q.is_decoding() {
            return;
        }
        let mut keep = rep.kv.blocks_for(held_tokens(q));
        if self.caching[rep.pool] {
            if let (Some(ps), Some(c)) = (self.prefix.get(q.id as usize), rep.kv.prefix.as_ref()) {
                keep = keep.max(ps.refs.len() as u64 * c.kv_per_block());
            }
        }
        if (q.kv_blocks as u64) > keep {
            rep.kv.free(q.kv_blocks as u64 - keep);
            q.kv_blocks = keep as u32;
        }
    }
}
