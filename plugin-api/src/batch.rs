//! What a batch policy sees (a read-only view of the scheduler) and what it returns (a plan).

use serde::{Deserialize, Serialize};

/// One request as the scheduler tracks it. Plain data, updated by the host.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestState {
    /// Engine-assigned handle of the request, unique among requests in flight (not the trace id).
    pub id: u64,
    /// Arrival time, seconds.
    pub arrival_s: f64,
    /// Prompt tokens (≥ 1).
    pub prompt_tokens: u32,
    /// Output tokens to generate (≥ 1).
    pub output_tokens: u32,
    /// Prompt tokens already in the KV cache (prefill progress).
    pub prefilled: u32,
    /// Output tokens produced so far (the first one comes with the end of the prefill).
    pub generated: u32,
    /// KV blocks held.
    pub kv_blocks: u32,
    /// Already generated tokens that must be prefilled again after a recompute preemption
    /// (0 otherwise): the prefill then covers `prompt_tokens + recompute_tokens`.
    pub recompute_tokens: u32,
    /// Higher runs first when a policy honours priorities (0 by default).
    pub priority: i32,
    /// Times this request was preempted.
    pub preemptions: u32,
}

impl RequestState {
    /// A request that has not run yet.
    pub fn new(id: u64, arrival_s: f64, prompt_tokens: u32, output_tokens: u32) -> Self {
        RequestState {
            id,
            arrival_s,
            prompt_tokens,
            output_tokens,
            prefilled: 0,
            generated: 0,
            kv_blocks: 0,
            recompute_tokens: 0,
            priority: 0,
            preemptions: 0,
        }
    }
    /// Tokens still to prefill. After a recompute preemption the tokens generated so far
    /// (but the last, which the next decode step feeds) are prefilled again too.
    #[inline]
    pub fn prefill_remaining(&self) -> u32 {
        self.prefill_target() - self.prefilled.min(self.prefill_target())
    }
    /// Tokens the prefill must cover: the prompt, plus `recompute_tokens` after a preemption.
    #[inline]
    pub fn prefill_target(&self) -> u32 {
        self.prompt_tokens + self.recompute_tokens
    }
    /// Prefill done and the first token produced: the next step decodes one token.
    #[inline]
    pub fn is_decoding(&self) -> bool {
        self.prefill_remaining() == 0 && self.generated > 0
    }
    /// Tokens in the context after this request's next step of `new_tokens`.
    #[inline]
    pub fn context_after(&self, new_tokens: u32) -> u32 {
        if self.is_decoding() {
            self.prompt_tokens + self.generated + new_tokens - 1
        } else {
            self.prefilled + new_tokens
        }
    }
}

/// What the host knows about a replica's queues without scanning them, offered to
/// [`BatchPolicy::try_schedule_hinted`](crate::BatchPolicy::try_schedule_hinted) so that a
/// policy can skip a scan whose answer it already has. Added in 1.1; later 1.x releases may
/// add fields (it is `#[non_exhaustive]`: build it with [`ScheduleHints::new`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduleHints {
    /// Waiting requests with nothing left to prefill (`prefill_remaining() == 0`): requests
    /// that arrived prefilled at a decode pool, or were swapped out while decoding.
    pub waiting_decodes: usize,
}

impl ScheduleHints {
    /// Hints with `waiting_decodes` waiting requests that have nothing left to prefill.
    pub fn new(waiting_decodes: usize) -> Self {
        ScheduleHints { waiting_decodes }
    }
}

/// KV-cache memory as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KvView {
    /// KV blocks of the replica.
    pub total_blocks: u64,
    /// Blocks not allocated.
    pub free_blocks: u64,
    /// Tokens per block.
    pub block_tokens: u32,
    /// Blocks to keep free when admitting new requests.
    pub watermark_blocks: u64,
}

impl KvView {
    /// Blocks needed to hold `tokens` tokens.
    #[inline]
    pub fn blocks_for(&self, tokens: u64) -> u64 {
        tokens.div_ceil(self.block_tokens.max(1) as u64)
    }
}

/// Budgets a policy must respect.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Sequences per iteration.
    pub max_batch_seqs: u32,
    /// Tokens (prefill + decode) per iteration.
    pub max_batch_tokens: u32,
    /// Prefill chunk size for chunking policies (0 = whole prompts).
    pub chunk_tokens: u32,
}

/// Read-only view of one replica's scheduler at the start of an iteration.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerView<'a> {
    /// Simulated time of the decision, seconds.
    pub now_s: f64,
    /// Requests not yet admitted, in arrival (FCFS) order.
    pub waiting: &'a [RequestState],
    /// Admitted requests (holding KV): partly prefilled or decoding, in admission order.
    pub running: &'a [RequestState],
    /// The replica's KV memory.
    pub kv: KvView,
    /// The pool's batch limits.
    pub limits: Limits,
}

/// Which queue a plan entry refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `SchedulerView::waiting`.
    Waiting,
    /// `SchedulerView::running`.
    Running,
}

/// One request's share of the next iteration: `tokens` prefill tokens, or 1 decode token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanEntry {
    /// Which queue `index` refers to.
    pub source: Source,
    /// Index into `waiting` or `running` of the view.
    pub index: u32,
    /// Prefill tokens this iteration (a decoding request takes 1).
    pub tokens: u32,
}

/// The next iteration's composition. Empty means "nothing to run now" (wait for an arrival).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchPlan {
    /// Entries in admission order.
    pub entries: Vec<PlanEntry>,
}

impl BatchPlan {
    /// Remove every entry.
    #[inline]
    pub fn clear(&mut self) {
        self.entries.clear();
    }
    /// No entry.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Append an entry.
    #[inline]
    pub fn push(&mut self, source: Source, index: usize, tokens: u32) {
        self.entries.push(PlanEntry { source, index: index as u32, tokens });
    }
    /// Tokens over all entries.
    pub fn tokens(&self) -> u64 {
        self.entries.iter().map(|e| e.tokens as u64).sum()
    }
}
