//! The six built-in policies. Each only decides which requests to offer, in which order and
//! in which mode; [`Planner`] applies the budgets and KV rules shared by all of them.

use crate::order::{Order, WaitingOrder};
use crate::planner::{prefill_remaining, Planner, Prefill, Want};
use reallm_plugin_api::{BatchPlan, BatchPolicy, Limits, PluginError, ScheduleHints, SchedulerView};

/// No policy-specific sequence cap (the view's `max_batch_seqs` still applies).
const ANY_SEQS: u64 = u64::MAX;

/// Steady decode (no request waiting, every running request decoding) under a token budget of
/// `budget_tokens`: every policy below then offers the running requests in admission order, one
/// token each, and the planner takes them until a sequence or token budget is reached (running
/// requests are never held back for KV). So all of them are planned when they number at most
/// the smaller budget.
fn steady_seqs(limits: &Limits, max_seqs: u64, budget_tokens: u64) -> u64 {
    max_seqs.min(limits.max_batch_seqs as u64).min(budget_tokens.min(limits.max_batch_tokens as u64))
}

fn any_running_prefill(view: &SchedulerView<'_>) -> bool {
    view.running.iter().any(|r| prefill_remaining(r) > 0)
}

/// `continuous`: iteration-level scheduling that never mixes prefill and decode (Orca-style,
/// vLLM v0's default scheduler, prefill first).
///
/// If a request needs prefill, the iteration carries whole prefills only: running requests
/// with prefill left (recompute after preemption, in admission order), then waiting requests in
/// [`Order`], as many as the sequence, token and KV budgets allow. If none of them fits (or
/// none needs prefill) the iteration decodes every decoding running request, in admission order,
/// up to `max_batch_seqs` (and `max_batch_tokens`, one token each); waiting requests that arrive
/// already prefilled (disaggregated decode pool) join such a decode iteration, within KV.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Continuous {
    pub order: Order,
}

impl BatchPolicy for Continuous {
    fn steady_decode_seqs(&self, limits: &Limits) -> u64 {
        steady_seqs(limits, ANY_SEQS, u64::MAX)
    }

    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        self.plan(view, plan, None);
    }

    fn try_schedule_hinted(&self, view: &SchedulerView<'_>, hints: &ScheduleHints, plan: &mut BatchPlan) -> Result<(), PluginError> {
        self.plan(view, plan, Some(hints));
        Ok(())
    }
}

impl Continuous {
    fn plan(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan, hints: Option<&ScheduleHints>) {
        let mut p = Planner::new(view, plan, u64::MAX, ANY_SEQS, true).hinted(hints);
        if p.fill_running(Want::Prefills, Prefill::Whole) {
            p.fill_waiting(WaitingOrder::new(view.waiting, self.order), Want::Prefills, Prefill::Whole);
        }
        if p.is_empty() && p.fill_running(Want::Decodes, Prefill::Whole) {
            // Requests that arrive already prefilled (a decode pool) join a decode iteration.
            p.fill_waiting(WaitingOrder::new(view.waiting, self.order), Want::Decodes, Prefill::Whole);
        }
    }
}

/// `mixed` (mixed continuous batching): every decoding running request (one token each), then
/// running requests with prefill left (whole), then whole waiting prompts in [`Order`] while the
/// remaining budgets and KV allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mixed {
    pub order: Order,
}

impl BatchPolicy for Mixed {
    fn steady_decode_seqs(&self, limits: &Limits) -> u64 {
        steady_seqs(limits, ANY_SEQS, u64::MAX)
    }

    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        decodes_then_whole_prompts(view, plan, self.order);
    }
}

/// Shared by [`Mixed`] and [`UptoMemoryLimit`].
fn decodes_then_whole_prompts(view: &SchedulerView<'_>, plan: &mut BatchPlan, order: Order) {
    let mut p = Planner::new(view, plan, u64::MAX, ANY_SEQS, true);
    let _ = p.fill_running(Want::Decodes, Prefill::Whole)
        && p.fill_running(Want::Prefills, Prefill::Whole)
        && p.fill_waiting(WaitingOrder::new(view.waiting, order), Want::Any, Prefill::Whole);
}

/// `chunked` (Sarathi-Serve, Agrawal et al., OSDI 2024, §4: stall-free batching with chunked
/// prefills): an iteration's token budget is `chunk_tokens` (capped by `max_batch_tokens`), or
/// `max_batch_tokens` when `chunk_tokens` is 0. Decodes go first, one token each, in admission
/// order; then prefill chunks fill what is left: running partial prefills first (continued, in
/// admission order), then waiting requests in [`Order`]. A prompt longer than the room left is
/// split: this iteration takes `min(remaining, room)` tokens and later iterations continue
/// (the host tracks `prefilled`). The plan never exceeds the budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chunked {
    pub order: Order,
}

impl Chunked {
    /// Tokens one iteration may carry under `limits`.
    pub fn budget_tokens(limits: &reallm_plugin_api::Limits) -> u64 {
        if limits.chunk_tokens > 0 {
            limits.chunk_tokens.min(limits.max_batch_tokens) as u64
        } else {
            limits.max_batch_tokens as u64
        }
    }
}

impl BatchPolicy for Chunked {
    fn steady_decode_seqs(&self, limits: &Limits) -> u64 {
        steady_seqs(limits, ANY_SEQS, Chunked::budget_tokens(limits))
    }

    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        let mut p = Planner::new(view, plan, Chunked::budget_tokens(&view.limits), ANY_SEQS, false);
        let _ = p.fill_running(Want::Decodes, Prefill::Chunk)
            && p.fill_running(Want::Prefills, Prefill::Chunk)
            && p.fill_waiting(WaitingOrder::new(view.waiting, self.order), Want::Any, Prefill::Chunk);
    }
}

/// `prefill_first` (SGLang's default scheduler, chunked prefill without mixing): an iteration
/// carries prefill work only whenever there is any to run, otherwise decodes only. A prefill
/// iteration's token budget is that of [`Chunked`] (`chunk_tokens` capped by `max_batch_tokens`,
/// or `max_batch_tokens` when `chunk_tokens` is 0): running partial prefills continue first (in
/// admission order), then waiting requests in [`Order`], each taking `min(remaining, room)`
/// tokens; a waiting request is admitted only when the KV blocks of its whole remaining prefill
/// fit (SGLang's `PrefillAdder` checks the whole input against the free tokens), so at most one
/// prefill is partial at a time and its later chunks find their blocks. If no prefill fits (or
/// none is pending) the iteration decodes every decoding running
/// request, in admission order, up to `max_batch_seqs`; waiting requests that arrive already
/// prefilled join it. Decodes stall while a long prompt is prefilled chunk by chunk, as in
/// SGLang (`Scheduler.get_next_batch_to_run`: "Run prefill first if possible").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefillFirst {
    pub order: Order,
}

impl BatchPolicy for PrefillFirst {
    fn steady_decode_seqs(&self, limits: &Limits) -> u64 {
        // The prefill planner finds nothing; the decode planner has no policy token budget.
        steady_seqs(limits, ANY_SEQS, u64::MAX)
    }

    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        self.plan(view, plan, None);
    }

    fn try_schedule_hinted(&self, view: &SchedulerView<'_>, hints: &ScheduleHints, plan: &mut BatchPlan) -> Result<(), PluginError> {
        self.plan(view, plan, Some(hints));
        Ok(())
    }
}

impl PrefillFirst {
    fn plan(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan, hints: Option<&ScheduleHints>) {
        {
            let mut p =
                Planner::new(view, plan, Chunked::budget_tokens(&view.limits), ANY_SEQS, false).admitting_whole_prefills().hinted(hints);
            if p.fill_running(Want::Prefills, Prefill::Chunk) {
                p.fill_waiting(WaitingOrder::new(view.waiting, self.order), Want::Prefills, Prefill::Chunk);
            }
            if !p.is_empty() {
                return;
            }
        }
        let mut p = Planner::new(view, plan, u64::MAX, ANY_SEQS, true).hinted(hints);
        if p.fill_running(Want::Decodes, Prefill::Whole) {
            p.fill_waiting(WaitingOrder::new(view.waiting, self.order), Want::Decodes, Prefill::Whole);
        }
    }
}

/// `baseline`: the original tool's request-level static batching. While anything is running,
/// the batch runs on and nothing is admitted: running requests with prefill left are prefilled
/// (whole; after a preemption), otherwise every running request decodes. When nothing runs, up to
/// `max_batch_seqs` waiting requests (in [`Order`], within the token and KV budgets) are admitted
/// and prefilled together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Baseline {
    pub order: Order,
}

impl BatchPolicy for Baseline {
    fn steady_decode_seqs(&self, limits: &Limits) -> u64 {
        steady_seqs(limits, ANY_SEQS, u64::MAX)
    }

    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        let mut p = Planner::new(view, plan, u64::MAX, ANY_SEQS, true);
        if view.running.is_empty() {
            p.fill_waiting(WaitingOrder::new(view.waiting, self.order), Want::Any, Prefill::Whole);
        } else if any_running_prefill(view) {
            p.fill_running(Want::Prefills, Prefill::Whole);
        } else {
            p.fill_running(Want::Decodes, Prefill::Whole);
        }
    }
}

/// `no_batching`: one request per iteration (for a disaggregated prefill pool, where requests
/// leave once prefilled). Prefill comes first: the oldest running request with prefill left
/// continues it (whole), else the first waiting request in [`Order`] is admitted (prefilled whole,
/// or decoded if it arrived prefilled). Only when no prefill can run does the oldest decoding running request decode one
/// token. In a colocated setup this is [`Continuous`] with a batch of one: requests complete
/// in admission order, and new arrivals are prefilled before older requests decode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoBatching {
    pub order: Order,
}

impl BatchPolicy for NoBatching {
    fn steady_decode_seqs(&self, limits: &Limits) -> u64 {
        steady_seqs(limits, 1, u64::MAX)
    }

    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        let mut p = Planner::new(view, plan, u64::MAX, 1, true);
        if p.fill_running(Want::Prefills, Prefill::Whole) {
            p.fill_waiting(WaitingOrder::new(view.waiting, self.order), Want::Any, Prefill::Whole);
        }
        if p.is_empty() {
            p.fill_running(Want::Decodes, Prefill::Whole);
        }
    }
}

/// `upto_memory_limit`: the decode pool's policy. Every decoding running request decodes, and
/// waiting requests are admitted in [`Order`] while KV (and `max_batch_seqs`) allow. A waiting
/// request that arrives prefilled (`prefilled == prompt_tokens`, `generated ≥ 1`) needs blocks
/// for its context `prompt + generated` and decodes at once (1 token); one that arrives
/// unprefilled is prefilled whole. On the views the plugin API offers this is the same schedule
/// as [`Mixed`]; the name is kept for the original tool's disaggregated configs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UptoMemoryLimit {
    pub order: Order,
}

impl BatchPolicy for UptoMemoryLimit {
    fn steady_decode_seqs(&self, limits: &Limits) -> u64 {
        steady_seqs(limits, ANY_SEQS, u64::MAX)
    }

    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        decodes_then_whole_prompts(view, plan, self.order);
    }
}
