//! Requests as the core sees them, and what happened to each.

use std::sync::Arc;

/// One request of a workload: when it arrives, how many tokens it reads and writes, and
/// (optionally) what its tokens are, as block content ids, so that requests sharing a prefix
/// can share KV blocks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// The workload's own id (a trace's `request_id`); reported back unchanged.
    pub id: u64,
    /// Arrival time, seconds.
    pub arrival_s: f64,
    /// Prompt (input) tokens, ≥ 1.
    pub prompt_tokens: u32,
    /// Output tokens to generate, ≥ 1.
    pub output_tokens: u32,
    /// The content of its first tokens as block ids (a Mooncake trace's `hash_ids`); `None`:
    /// content shared with no other request.
    pub blocks: Option<BlockIds>,
    /// The conversation (session) it belongs to, for session-affinity routing.
    pub session: Option<u64>,
}

impl Request {
    /// A request whose content is its own (no shared prefix, no session).
    pub fn new(id: u64, arrival_s: f64, prompt_tokens: u32, output_tokens: u32) -> Request {
        Request { id, arrival_s, prompt_tokens, output_tokens, blocks: None, session: None }
    }
}

/// The content of a request's first `tokens` tokens, as one id per block of `block_tokens`
/// tokens (the last block may be partial). Two requests whose ids agree on blocks `0..=i` have
/// the same tokens up to the end of block `i` (a partial block's tokens are a prefix of the
/// full block's). The ids usually cover the prompt; a workload that knows the answer's content
/// too (a conversation whose next turn repeats it) covers prompt and output. Shared behind an
/// `Arc`, so cloning a request does not copy them.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockIds {
    /// Tokens per id, ≥ 1.
    pub block_tokens: u32,
    /// Tokens the ids describe (≤ `ids.len() × block_tokens`).
    pub tokens: u32,
    /// One content id per block.
    pub ids: Arc<[u64]>,
}

impl BlockIds {
    /// Ids covering `tokens` tokens in blocks of `block_tokens`.
    pub fn new(block_tokens: u32, tokens: u32, ids: impl Into<Arc<[u64]>>) -> BlockIds {
        BlockIds { block_tokens, tokens, ids: ids.into() }
    }
}

/// What happened to one request. The engine hands each record to a
/// [`RecordSink`](crate::RecordSink) once, in arrival order, as soon as the request and every
/// request that arrived before it are finished (or when the run ends).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestRecord {
    /// The workload's request id.
    pub id: u64,
    /// Position in arrival order (0, 1, 2, …): the order records are delivered in.
    pub seq: u64,
    /// Arrival time, seconds.
    pub arrival_s: f64,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Output tokens asked for.
    pub output_tokens: u32,
    /// When it was first scheduled (start of its first iteration), seconds.
    pub first_scheduled_s: Option<f64>,
    /// Completion time of each output token, in order, seconds.
    pub token_times: Vec<f64>,
    /// Times it was preempted.
    pub preemptions: u32,
    /// Replica (global index) that ran its prefill.
    pub replica: u32,
    /// Decode replica (global index) in a disaggregated system.
    pub decode_replica: Option<u32>,
    /// Seconds its KV spent in transfer from the prefill to the decode pool.
    pub transfer_s: f64,
}

impl RequestRecord {
    /// A record of a request that has not run yet.
    pub fn new(seq: u64, r: &Request) -> RequestRecord {
        RequestRecord {
            id: r.id,
            seq,
            arrival_s: r.arrival_s,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
            ..RequestRecord::default()
        }
    }

    /// Every output token produced.
    pub fn completed(&self) -> bool {
        self.token_times.len() == self.output_tokens as usize
    }
}
