//! Requests as the core sees them, and what happened to each.

/// One request of a workload: when it arrives and how many tokens it reads and writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// The workload's own id (a trace's `request_id`); reported back unchanged.
    pub id: u64,
    /// Arrival time, seconds.
    pub arrival_s: f64,
    /// Prompt (input) tokens, ≥ 1.
    pub prompt_tokens: u32,
    /// Output tokens to generate, ≥ 1.
    pub output_tokens: u32,
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
