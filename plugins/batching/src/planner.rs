//! The bookkeeping every policy shares: budgets, KV accounting and the size of one request's
//! step. Policies only decide *which* requests to offer and in what order; whether an offer fits
//! is decided here, once, so that every policy obeys the same rules (see the crate docs).

use crate::order::WaitingOrder;
use reallm_plugin_api::{BatchPlan, KvView, RequestState, ScheduleHints, SchedulerView, Source};

/// Tokens still to prefill: the prompt, plus the `recompute_tokens` generated tokens that a
/// recompute preemption discarded, less what prefill steps have cached (`prefilled`).
///
/// Same rule as [`RequestState::prefill_remaining`], computed in `u64` so that hostile values
/// cannot overflow. Decode steps never change `prefilled` (they only advance `generated`), so a
/// decoding request has `prefilled == prefill_target()` and nothing remaining.
pub(crate) fn prefill_remaining(r: &RequestState) -> u64 {
    let target = r.prompt_tokens as u64 + r.recompute_tokens as u64;
    target - (r.prefilled as u64).min(target)
}

/// Tokens in the context of `r` once a step of `tokens` has run: [`RequestState::context_after`],
/// computed in `u64` so that hostile values cannot overflow.
///
/// * Decoding (nothing left to prefill, `generated > 0`): the prompt, the generated tokens
///   before the one fed now, and the one fed now: `prompt + generated + tokens − 1`
///   (`prompt + generated` for the single decode token).
/// * Otherwise (a prefill step, or a degenerate request with nothing prefilled left and nothing
///   generated): the tokens prefill steps cached so far plus the new ones, `prefilled + tokens`.
///   The first output token, produced by the step that completes the prefill, is not cached
///   until the next (decode) step feeds it, so it takes no slot here.
pub(crate) fn context_after(r: &RequestState, tokens: u64) -> u64 {
    context_after_with(r, prefill_remaining(r), tokens)
}

/// [`context_after`] with `remaining = prefill_remaining(r)` already known.
fn context_after_with(r: &RequestState, remaining: u64, tokens: u64) -> u64 {
    if remaining == 0 && r.generated > 0 {
        (r.prompt_tokens as u64 + r.generated as u64 + tokens).saturating_sub(1)
    } else {
        r.prefilled as u64 + tokens
    }
}

/// KV blocks request `r` holds once a step of `tokens` has run: `blocks_for(context_after(tokens))`,
/// exactly the allocation the host makes (host engine, steps 2 and 3). A step that completes the
/// prefill reserves nothing for the first decode token; the iteration that feeds it grows the
/// allocation (or preempts) like any other decode step.
pub(crate) fn blocks_after(r: &RequestState, tokens: u64, kv: &KvView) -> u64 {
    kv.blocks_for(context_after(r, tokens))
}

/// How a prefill is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefill {
    /// The whole remaining prefill in one step.
    Whole,
    /// As much of the remaining prefill as the token budget still allows (Sarathi-Serve chunk).
    Chunk,
}

/// Which requests an offer pass looks at (the others are passed over, not stopped at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Requests with nothing left to prefill (one decode token each).
    Decodes,
    /// Requests with prefill tokens remaining (fresh prompts, partial chunks, or recompute
    /// after a preemption).
    Prefills,
    /// Both.
    Any,
}

impl Want {
    fn accepts(self, r: &RequestState) -> bool {
        self.accepts_remaining(prefill_remaining(r))
    }

    /// [`Want::accepts`] for a request with `remaining` prefill tokens.
    fn accepts_remaining(self, remaining: u64) -> bool {
        match self {
            Want::Decodes => remaining == 0,
            Want::Prefills => remaining > 0,
            Want::Any => true,
        }
    }
}

/// Why an offer was not planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    Planned,
    /// No sequence slot left.
    Seqs,
    /// Not enough token budget left.
    Tokens,
    /// Not enough admissible KV blocks left now.
    Kv,
    /// Can never be admitted, even alone on an empty replica (its blocks exceed `total_blocks`).
    Never,
}

/// Fills one plan while tracking budgets and KV.
pub(crate) struct Planner<'a, 'v> {
    view: &'a SchedulerView<'v>,
    plan: &'a mut BatchPlan,
    max_seqs: u64,
    token_budget: u64,
    /// Whether a single whole prefill longer than the token budget may run alone.
    oversize_alone: bool,
    /// Admit a waiting request only if the blocks of its whole remaining prefill fit, not
    /// only those of its first chunk (SGLang's `PrefillAdder` admits a request only when its
    /// whole input fits the free KV).
    admit_whole_prefill: bool,
    /// Waiting requests with nothing left to prefill, when the host said (`ScheduleHints`): a
    /// pass over the waiting queue that would find none it wants is skipped (it walked the
    /// whole queue, thousands of requests per iteration in an overloaded replica).
    waiting_decodes: Option<usize>,
    tokens: u64,
    /// KV blocks the entries planned so far take: growth of running requests plus the whole
    /// allocation of admitted waiting ones.
    kv_taken: u64,
}

impl<'a, 'v> Planner<'a, 'v> {
    /// A planner over `view` with `token_budget` tokens and at most `max_seqs` sequences (both
    /// also capped by the view's limits).
    pub(crate) fn new(
        view: &'a SchedulerView<'v>,
        plan: &'a mut BatchPlan,
        token_budget: u64,
        max_seqs: u64,
        oversize_alone: bool,
    ) -> Self {
        let max_seqs = max_seqs.min(view.limits.max_batch_seqs as u64);
        let token_budget = token_budget.min(view.limits.max_batch_tokens as u64);
        // The caller clears the plan; clearing again keeps a stale plan from leaking through.
        plan.clear();
        Planner {
            view,
            plan,
            max_seqs,
            token_budget,
            oversize_alone,
            admit_whole_prefill: false,
            waiting_decodes: None,
            tokens: 0,
            kv_taken: 0,
        }
    }

    /// Admit waiting requests only when their whole remaining prefill fits (see the field).
    pub(crate) fn admitting_whole_prefills(mut self) -> Self {
        self.admit_whole_prefill = true;
        self
    }

    /// Use the host's hints, if any (see the field).
    pub(crate) fn hinted(mut self, hints: Option<&ScheduleHints>) -> Self {
        self.waiting_decodes = hints.map(|h| h.waiting_decodes);
        self
    }

    /// Whether no waiting request is one `want` accepts, as far as the hints tell.
    fn none_waiting(&self, want: Want) -> bool {
        let n = self.view.waiting.len();
        match (self.waiting_decodes, want) {
            (_, _) if n == 0 => true,
            (Some(d), Want::Decodes) => d == 0,
            (Some(d), Want::Prefills) => d >= n,
            _ => false,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.plan.is_empty()
    }

    fn token_room(&self) -> u64 {
        self.token_budget.saturating_sub(self.tokens)
    }

    /// Whether the next admission would run alone: nothing is running and nothing is planned
    /// yet. The watermark then does not apply (see [`Planner::admit_room`]).
    fn admits_alone(&self) -> bool {
        self.view.running.is_empty() && self.plan.is_empty()
    }

    /// Blocks a waiting request may still take: free − watermark − what earlier entries took.
    ///
    /// The watermark keeps room for the growth of running requests, so that an admission does
    /// not force their immediate preemption. With nothing running there is nothing to protect,
    /// and the host admits a request alone whenever its blocks fit the free blocks (host engine,
    /// step 2: `alone && need <= free_blocks`); the planner waives the watermark in the same case,
    /// so that a prompt the host would admit alone is never passed over. (The host's test also
    /// asks that no micro-batch be in flight, which the view does not show; if one is, the host
    /// drops the admission and the policy is asked again when the micro-batch completes.)
    fn admit_room(&self) -> u64 {
        let watermark = if self.admits_alone() { 0 } else { self.view.kv.watermark_blocks };
        self.view.kv.free_blocks.saturating_sub(watermark).saturating_sub(self.kv_taken)
    }

    /// Size the next step of a request with `remaining` prefill tokens against the sequence
    /// and token budgets.
    fn step_tokens(&self, remaining: u64, mode: Prefill) -> Result<u64, Fit> {
        if self.plan.entries.len() as u64 >= self.max_seqs {
            return Err(Fit::Seqs);
        }
        let room = self.token_room();
        let tokens = match (remaining, mode) {
            (0, _) => 1,
            (rem, Prefill::Chunk) => rem.min(room).min(u32::MAX as u64),
            // A whole prompt longer than the budget may run alone (it could never run otherwise).
            (rem, Prefill::Whole) if rem > self.token_budget && self.oversize_alone && self.plan.is_empty() => {
                return Ok(rem.min(u32::MAX as u64));
            }
            (rem, Prefill::Whole) => rem,
        };
        if tokens == 0 || tokens > room {
            return Err(Fit::Tokens);
        }
        Ok(tokens)
    }

    /// Offer the running request `index` its next step. Running requests already hold KV and
    /// are never held back for memory: their growth is counted first (so that admissions
    /// behind them cannot take it) and the host preempts if growth exceeds the free blocks.
    /// `remaining` is the request's [`prefill_remaining`].
    fn offer_running(&mut self, index: usize, remaining: u64, mode: Prefill) -> Fit {
        let r = &self.view.running[index];
        let tokens = match self.step_tokens(remaining, mode) {
            Ok(t) => t,
            Err(f) => return f,
        };
        let growth = self.view.kv.blocks_for(context_after_with(r, remaining, tokens)).saturating_sub(r.kv_blocks as u64);
        self.kv_taken = self.kv_taken.saturating_add(growth);
        self.push(Source::Running, index, tokens);
        Fit::Planned
    }

    /// Offer the waiting request `index` for admission. A waiting request holds no KV here (its
    /// `kv_blocks` is ignored), so it needs its whole [`blocks_after`] within
    /// `free − watermark − taken` (the watermark waived when it would run alone, see
    /// [`Planner::admit_room`]). Blocks beyond `total_blocks` can never be admitted.
    pub(crate) fn offer_waiting(&mut self, index: usize, mode: Prefill) -> Fit {
        let r = &self.view.waiting[index];
        let tokens = match self.step_tokens(prefill_remaining(r), mode) {
            Ok(t) => t,
            Err(f) => return f,
        };
        let need = blocks_after(r, tokens, &self.view.kv);
        // A request coming back after a preemption is admitted only when its whole remaining
        // prefill fits: admitted on its first chunk it would grow into the blocks of the
        // request that preempted it, and two requests that cannot share the memory would
        // preempt each other forever (a livelock a property test found under chunked prefill).
        let whole = self.admit_whole_prefill || r.preemptions > 0;
        let check = if whole { need.max(blocks_after(r, prefill_remaining(r), &self.view.kv)) } else { need };
        if check > self.view.kv.total_blocks {
            return Fit::Never;
        }
        if check > self.admit_room() {
            return Fit::Kv;
        }
        self.kv_taken += need;
        self.push(Source::Waiting, index, tokens);
        Fit::Planned
    }

    fn push(&mut self, source: Source, index: usize, tokens: u64) {
        self.tokens += tokens;
        // `tokens` ≤ u32::MAX by construction (budgets are u32, oversize steps are clamped).
        self.plan.push(source, index, tokens.min(u32::MAX as u64) as u32);
    }

    /// Offer every running request `want` accepts, in admission order, stopping at the first
    /// that does not fit. Returns false if it stopped early.
    pub(crate) fn fill_running(&mut self, want: Want, mode: Prefill) -> bool {
        for (i, r) in self.view.running.iter().enumerate() {
            let remaining = prefill_remaining(r);
            if !want.accepts_remaining(remaining) {
                continue;
            }
            if self.offer_running(i, remaining, mode) != Fit::Planned {
                return false;
            }
        }
        true
    }

    /// Offer the waiting requests `want` accepts in `order`, stopping at the first that does not
    /// fit (strict FCFS, so a large prompt at the head is not starved by smaller ones behind it);
    /// requests that can never fit are skipped so that they do not stall the queue. Returns false
    /// if it stopped early.
    pub(crate) fn fill_waiting(&mut self, order: WaitingOrder<'_>, want: Want, mode: Prefill) -> bool {
        if self.none_waiting(want) {
            return true;
        }
        for i in order {
            if !want.accepts(&self.view.waiting[i]) {
                continue;
            }
            match self.offer_waiting(i, mode) {
                Fit::Planned | Fit::Never => {}
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv16() -> KvView {
        KvView { total_blocks: 100, free_blocks: 100, block_tokens: 16, watermark_blocks: 0 }
    }

    #[test]
    fn remaining_covers_recompute() {
        let mut r = RequestState::new(0, 0.0, 100, 10);
        assert_eq!(prefill_remaining(&r), 100);
        r.prefilled = 40;
        assert_eq!(prefill_remaining(&r), 60);
        // Prefill done, first token out: decodes leave `prefilled` at 100.
        r.prefilled = 100;
        r.generated = 5;
        assert_eq!(prefill_remaining(&r), 0);
        // Preempted after 5 generated tokens (host: prefilled = 0, recompute = 5 − 1 = 4):
        // re-prefill 100 + 4 = 104 tokens, the 5th is fed by the next decode.
        r.prefilled = 0;
        r.recompute_tokens = 4;
        assert_eq!(prefill_remaining(&r), 104);
        assert_eq!(prefill_remaining(&r), r.prefill_remaining() as u64);
        // Hostile values do not overflow.
        let huge = RequestState { prompt_tokens: u32::MAX, recompute_tokens: u32::MAX, generated: u32::MAX, ..r };
        assert_eq!(prefill_remaining(&huge), 2 * u32::MAX as u64);
        assert_eq!(context_after(&huge, 7), 7);
        let huge_decoding = RequestState { prefilled: u32::MAX, recompute_tokens: 0, ..huge };
        assert_eq!(context_after(&huge_decoding, 1), 2 * u32::MAX as u64);
    }

    #[test]
    fn blocks_rules() {
        let kv = kv16();
        let mut r = RequestState::new(0, 0.0, 32, 10);
        // Whole 32-token prompt: context 32 → ⌈32/16⌉ = 2 blocks (no slot reserved for the
        // first token, which the next step feeds).
        assert_eq!(blocks_after(&r, 32, &kv), 2);
        // A 16-token chunk: 16 tokens → 1 block; a 17-token one → 2.
        assert_eq!(blocks_after(&r, 16, &kv), 1);
        assert_eq!(blocks_after(&r, 17, &kv), 2);
        // Second chunk of 16 after 16 cached completes it: 16 + 16 = 32 → 2 blocks.
        r.prefilled = 16;
        assert_eq!(blocks_after(&r, 16, &kv), 2);
        // Decoding (prefilled stays 32) with g generated: the step feeds token g, so the context
        // is 32 + g: g = 1 → 33 → 3 blocks; g = 16 → 48 → 3; g = 17 → 49 → 4.
        r.prefilled = 32;
        for (generated, blocks) in [(1, 3), (16, 3), (17, 4)] {
            r.generated = generated;
            assert!(r.is_decoding());
            assert_eq!(blocks_after(&r, 1, &kv), blocks);
            assert_eq!(context_after(&r, 1), r.context_after(1) as u64);
        }
        // Preempted at g = 17: recompute 16, target 48; re-prefilling the 48 → 3 blocks, then the
        // next decode feeds token 17 at context 49 → 4, as before the preemption.
        r.prefilled = 0;
        r.recompute_tokens = 16;
        assert!(!r.is_decoding());
        assert_eq!(blocks_after(&r, 48, &kv), 3);
        assert_eq!(context_after(&r, 48), r.context_after(48) as u64);
        r.prefilled = 48;
        assert!(r.is_decoding());
        assert_eq!(blocks_after(&r, 1, &kv), 4);
    }
}
