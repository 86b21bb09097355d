//! The `search:` config block: which knobs vary and over what. Every list that is empty means
//! "the base system's value" (the config's `system:` pool, or the prefill pool of a
//! `disaggregated:` one), except the parallel degrees, where empty means "any degree that
//! divides the replica".

use serde::Deserialize;

/// Aggregated (prefill and decode on the same replicas) or disaggregated (separate pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[serde(alias = "agg", alias = "colocated")]
    Aggregated,
    #[serde(alias = "disagg")]
    Disaggregated,
}

impl Mode {
    /// The name used in `search.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Aggregated => "agg",
            Mode::Disaggregated => "disagg",
        }
    }
}

/// `search:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// GPU budgets; every deployment of a budget uses exactly that many GPUs. Empty: the base
    /// system's devices (all pools, all replicas).
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub gpus: Vec<u32>,
    /// Aggregated and/or disaggregated deployments.
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub modes: Vec<Mode>,
    /// Devices per model replica. Empty: every divisor of the budget.
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub replica_gpus: Vec<u32>,
    pub parallelism: SearchParallelism,
    pub batching: SearchBatching,
    /// KV-cache data types (`bf16`, `fp8`, ...). Empty: the model's.
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub kv_dtypes: Vec<String>,
    pub workload: SearchWorkload,
    /// Serving-engine profiles searched as an axis (`vllm`, `sglang`, `trtllm`): the config is
    /// loaded once per engine, as with `engine:` (the profile fills the keys the config leaves
    /// out, its tiers matched against the config's own pool). Empty: the config as it is.
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub engines: Vec<String>,
    /// A (deployment, load) point meets the SLO when at least this percentage of its requests
    /// meets every target of `slo:`.
    pub slo_percentile: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            gpus: vec![],
            modes: vec![Mode::Aggregated, Mode::Disaggregated],
            replica_gpus: vec![],
            parallelism: SearchParallelism::default(),
            batching: SearchBatching::default(),
            kv_dtypes: vec![],
            workload: SearchWorkload::default(),
            engines: vec![],
            slo_percentile: 90.0,
        }
    }
}

/// Allowed parallel degrees (empty: any that divides). Attention takes TP, PP, CP and DP; the
/// FFN takes TP and EP over the devices of one pipeline stage (its CP and DP are 1).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchParallelism {
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub tp: Vec<u32>,
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub pp: Vec<u32>,
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub cp: Vec<u32>,
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub dp: Vec<u32>,
    /// FFN tensor-parallel degrees.
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub ffn_tp: Vec<u32>,
    /// FFN expert-parallel degrees.
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub ep: Vec<u32>,
    /// Also try `ep > 1` on models without routed experts (where it only splits the FFN's
    /// tokens, like data parallelism). Off by default: it doubles the space for little news.
    pub dense_ep: bool,
}

/// Batching knobs; the product of the lists is searched. Empty: the base system's value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchBatching {
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub policies: Vec<String>,
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub max_batch_seqs: Vec<u32>,
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub max_batch_tokens: Vec<u32>,
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub chunk_tokens: Vec<u32>,
}

/// The traffic every deployment is measured under: requests of fixed lengths (`isl`, `osl`) or
/// of `workload.synthetic`'s length distributions, at request rates or closed-loop concurrency
/// levels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchWorkload {
    /// Prompt (input) tokens per request.
    pub isl: u32,
    /// Output tokens per request (at least 2, so that TPOT is defined).
    pub osl: u32,
    /// Requests per simulation.
    pub requests: u32,
    /// Request rates (requests/s over the whole budget). Empty: `levels` rates spaced
    /// geometrically from `min_load` to `max_load` times an estimate of the budget's capacity.
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub rates: Vec<f64>,
    pub levels: u32,
    pub min_load: f64,
    pub max_load: f64,
    /// Closed-loop load levels instead of rates: this many clients each (over the whole
    /// budget), each sending its next request when its previous one completes.
    #[serde(deserialize_with = "crate::config::schema::one_or_many")]
    pub concurrency: Vec<u32>,
    /// Closed loops: seconds a client waits after a completion before sending again.
    pub think_time_s: f64,
    /// A trace file whose requests' (prompt, output) lengths the levels use, in order (the
    /// first `requests` of them); its arrival times are not used (the levels set the arrivals).
    /// Relative to the config file.
    pub trace: Option<String>,
    /// Seed of the arrival times (and of the lengths drawn from `workload.synthetic`).
    pub seed: u64,
}

impl Default for SearchWorkload {
    fn default() -> Self {
        SearchWorkload {
            isl: 4000,
            osl: 500,
            requests: 2000,
            rates: vec![],
            levels: 10,
            min_load: 0.1,
            max_load: 1.2,
            concurrency: vec![],
            think_time_s: 0.0,
            trace: None,
            seed: 0,
        }
    }
}
