//! Built-in batch policies of ReaLLM: which requests, and how many tokens of each, go into the
//! next iteration of one replica.
//!
//! | name | aliases | what it schedules |
//! |---|---|---|
//! | `continuous` | | prefill-only iterations (whole prompts) while any prefill fits, else decode-only ([`Continuous`]) |
//! | `mixed` | `mixed-continuous`, `mixed_continuous` | all decodes plus whole waiting prompts that fit ([`Mixed`]) |
//! | `chunked` | `mixed-sarathi`, `sarathi`, `chunked-mixed` | decodes plus prefill chunks up to a token budget, Sarathi-Serve ([`Chunked`]) |
//! | `prefill_first` | `prefill-first` | prefill chunks (up to the token budget) in iterations of their own whenever any is pending, else decodes: SGLang's default ([`PrefillFirst`]) |
//! | `baseline` | | the original tool's request-level static batching ([`Baseline`]) |
//! | `no_batching` | | one request per iteration, prefill first: a disaggregated prefill pool ([`NoBatching`]) |
//! | `upto_memory_limit` | | all decodes plus admissions up to the KV limit: a disaggregated decode pool ([`UptoMemoryLimit`]) |
//!
//! Every policy takes one parameter, `order: fcfs | priority` (default `fcfs`, see [`Order`]);
//! unknown parameters are rejected.
//!
//! # Rules every policy obeys
//!
//! A policy only chooses which requests to offer and in which order; one shared planner decides
//! whether an offer fits, so all six follow these rules exactly.
//!
//! * **Step size.** A request with nothing left to prefill (`prefill_remaining() == 0`) gets one
//!   decode token. A request with prefill left gets its whole remaining prefill (every policy
//!   but `chunked` and `prefill_first`) or `min(remaining, token budget left)` tokens (those two). No entry carries
//!   zero tokens, and no request appears twice.
//! * **Sequences.** At most `max_batch_seqs` entries (`no_batching`: one).
//! * **Tokens.** At most `max_batch_tokens` tokens in all; `chunked` at most its budget
//!   (`min(chunk_tokens, max_batch_tokens)`, or `max_batch_tokens` when `chunk_tokens` is 0), and
//!   so do the prefill iterations of `prefill_first`.
//!   *Exception:* in every whole-prompt policy (all but `chunked` and `prefill_first`) a single whole prefill longer
//!   than `max_batch_tokens` may run when it is the first entry of the plan; it then runs alone,
//!   since no budget is left for anything else. Without this such a prompt could never run.
//! * **KV blocks.** After a step of `t` tokens a request holds `blocks_for(context_after(t))`
//!   ([`RequestState::context_after`](reallm_plugin_api::RequestState::context_after)), exactly
//!   what the host allocates: `prompt + generated` when decoding (the context including the token
//!   fed now), `prefilled + t` for a prefill step. `prefilled` counts only tokens written by
//!   prefill steps (the prompt, plus `recompute_tokens` after a recompute preemption); decode
//!   steps advance `generated` only. A step that completes the prefill reserves nothing for the
//!   first output token: the next step, which feeds it, grows the allocation like any decode.
//!   - A *running* entry takes its growth over the blocks it holds. Running requests are never
//!     held back for memory: the host preempts if growth exceeds the free blocks. Policies offer
//!     running requests before waiting ones, so the growth is counted before any admission.
//!   - A *waiting* entry holds nothing yet (its `kv_blocks` is ignored) and is planned only if its
//!     blocks fit in `free_blocks − watermark_blocks − (blocks taken by the entries before it)`.
//!     The watermark only protects the growth of running requests, so, like the host, the planner
//!     waives it for an admission that would run alone (nothing running, nothing planned before
//!     it). A waiting request whose blocks exceed `total_blocks` can never be admitted; it is
//!     passed over so that it does not stall the queue (the host should reject such requests on
//!     arrival).
//! * **Order.** Running requests are offered in admission order, waiting requests in [`Order`].
//!   Offering stops at the first request that does not fit a budget (strict FCFS: a large
//!   prompt at the head of the queue is not overtaken by smaller ones behind it).
//! * **Purity.** A plan is a function of the view and the parameters only (deterministic, no
//!   state between calls) and a call allocates nothing beyond the plan's `Vec` (clearing and
//!   refilling it reuses its capacity).
//!
//! Limits of zero are taken literally (`max_batch_seqs: 0` plans nothing); the host should
//! reject such configurations.

mod order;
mod planner;
mod policies;

pub use order::Order;
pub use policies::{Baseline, Chunked, Continuous, Mixed, NoBatching, PrefillFirst, UptoMemoryLimit};

use reallm_plugin_api::{parse_params, register_plugin, BatchPolicy, Constructor, PluginError, PluginInfo, PluginKind, PluginRegistration};
use serde::Deserialize;

/// Parameters every policy accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyParams {
    /// Admission order of waiting requests.
    pub order: Order,
}

/// Constructor signature shared by all policies (the registry's `BatchingCtor`).
type Ctor = fn(&serde_json::Value) -> Result<Box<dyn BatchPolicy>, PluginError>;

/// One built-in policy: its names, description and constructor.
#[derive(Clone, Copy)]
pub struct PolicyDescriptor {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub summary: &'static str,
    ctor: Ctor,
}

impl PolicyDescriptor {
    /// The registry's description of this policy.
    pub const fn plugin_info(&self) -> PluginInfo {
        PluginInfo {
            kind: PluginKind::Batching,
            name: self.name,
            aliases: self.aliases,
            version: env!("CARGO_PKG_VERSION"),
            summary: self.summary,
            example_params: "order: fcfs   # or priority: higher `priority` first, stable by arrival\n",
            presets: &[],
        }
    }

    /// Whether `name` selects this policy (its name or one of its aliases, exactly).
    pub fn matches(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }

    /// Build the policy from its parameters.
    pub fn build(&self, params: &serde_json::Value) -> Result<Box<dyn BatchPolicy>, PluginError> {
        (self.ctor)(params)
    }
}

fn params(plugin: &str, value: &serde_json::Value) -> Result<PolicyParams, PluginError> {
    parse_params::<PolicyParams>(plugin, value)
}

/// Every built-in policy, in the order of the crate docs' table.
pub const POLICIES: [PolicyDescriptor; 7] = [
    PolicyDescriptor {
        name: "continuous",
        aliases: &[],
        summary: "continuous batching: whole-prompt prefill iterations first, else all decodes; never mixes the two",
        ctor: |v| Ok(Box::new(Continuous { order: params("continuous", v)?.order })),
    },
    PolicyDescriptor {
        name: "mixed",
        aliases: &["mixed-continuous", "mixed_continuous"],
        summary: "mixed continuous batching: all decodes plus whole waiting prompts that fit",
        ctor: |v| Ok(Box::new(Mixed { order: params("mixed", v)?.order })),
    },
    PolicyDescriptor {
        name: "chunked",
        aliases: &["mixed-sarathi", "sarathi", "chunked-mixed"],
        summary: "Sarathi-Serve chunked prefill: decodes plus prefill chunks up to chunk_tokens per iteration",
        ctor: |v| Ok(Box::new(Chunked { order: params("chunked", v)?.order })),
    },
    PolicyDescriptor {
        name: "prefill_first",
        aliases: &["prefill-first"],
        summary: "SGLang's default: prefill chunks (up to chunk_tokens) in iterations of their own first, else all decodes",
        ctor: |v| Ok(Box::new(PrefillFirst { order: params("prefill_first", v)?.order })),
    },
    PolicyDescriptor {
        name: "baseline",
        aliases: &[],
        summary: "request-level static batching: admit a batch only when nothing runs, run it to completion",
        ctor: |v| Ok(Box::new(Baseline { order: params("baseline", v)?.order })),
    },
    PolicyDescriptor {
        name: "no_batching",
        aliases: &[],
        summary: "one request per iteration, prefill first (disaggregated prefill pool)",
        ctor: |v| Ok(Box::new(NoBatching { order: params("no_batching", v)?.order })),
    },
    PolicyDescriptor {
        name: "upto_memory_limit",
        aliases: &[],
        summary: "all decodes plus admissions up to the KV-memory limit (disaggregated decode pool)",
        ctor: |v| Ok(Box::new(UptoMemoryLimit { order: params("upto_memory_limit", v)?.order })),
    },
];

macro_rules! register_policies {
    ($($i:literal),*) => {
        $(register_plugin!(PluginRegistration { info: POLICIES[$i].plugin_info(), ctor: Constructor::Batching(POLICIES[$i].ctor) });)*
    };
}
register_policies!(0, 1, 2, 3, 4, 5, 6);

/// Whether the built-in policy `name` (a name or alias) prefills in chunks of `chunk_tokens`
/// (`chunked`, `prefill_first`); false for other policies and unknown names.
pub fn uses_chunk_tokens(name: &str) -> bool {
    POLICIES.iter().find(|p| p.matches(name)).is_some_and(|p| p.name == "chunked" || p.name == "prefill_first")
}

/// Build the policy called `name` (a name or alias from [`POLICIES`]) with `params`
/// (`null` or a map; unknown fields are an error).
pub fn policy_by_name(name: &str, params: &serde_json::Value) -> Result<Box<dyn BatchPolicy>, PluginError> {
    match POLICIES.iter().find(|p| p.matches(name)) {
        Some(p) => p.build(params),
        None => {
            let known: Vec<&str> = POLICIES.iter().flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied())).collect();
            Err(PluginError::unsupported(format!("unknown batch policy `{name}`; known: {}", known.join(", "))))
        }
    }
}
