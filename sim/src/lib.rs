//! ReaLLM's simulation core: the discrete-event serving engine, its cost layer and metrics.
//!
//! **Architecture invariant:** this crate does no IO. It knows no files, config formats,
//! terminals or plugin registries: it is assembled from built plugin objects
//! ([`CostModel`], a batch policy) and plain specs ([`PoolSpec`]), pulls requests from a
//! [`Workload`], hands finished records to a [`RecordSink`] in arrival order, reports
//! progress to an [`Observer`], and returns a [`RunOutcome`]. Its dependency list (plugin API,
//! serde derive for the summary schema, seeded RNG and distributions, hash map, quantile sketch) is the
//! enforcement: nothing here can read a file or draw a progress bar.
//!
//! **API boundary:** the host (`reallm`) resolves configurations into these types
//! (`assemble`), and turns records and summaries into files.
//!
//! ```text
//! Workload ──► engine::simulate(pools, transfer, …) ──► RecordSink (Summarizer, CSV writers)
//!                   │ per iteration: BatchPolicy → KV admission → CostModel → book stages
//!                   ▼
//!              RunOutcome (iteration totals, replicas) ──► Summarizer::finish ──► Summary
//! ```

// `!(x > 0.0)` is used on purpose: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod conversation;
pub mod cost;
pub mod engine;
pub mod error;
pub mod kv;
pub mod metrics;
pub mod pool;
pub mod request;
pub mod router;
pub mod spec;
pub mod spec_decode;
pub mod workload;
pub mod workloads;

pub use conversation::{Conversation, ConversationWorkload, Turn};
pub use cost::{CostModel, IterationCost, MemoryPlan, StepCost};
pub use engine::{simulate, simulate_collect, IterationRecord, PrefixOutcome, ReplicaSummary, RunOutcome, SimOptions, SimResult};
pub use error::{Result, SimError};
pub use pool::{EvictionFactory, Pool, PoolParts};
pub use request::{BlockIds, Request, RequestRecord};
pub use spec::{
    Eviction, KvRouterSpec, KvTransferSpec, MemoryRule, MemorySpec, PoolSpec, Preemption, PrefixCacheSpec, Role, Router, TierSpec,
};
pub use spec_decode::{Acceptance, DraftHead, HeadKind, SpecDecodeSpec, SpecDecodeTotals, SpecMethod};
pub use workload::{NoObserver, Observer, RecordSink, Tee, TraceWorkload, Workload};
pub use workloads::{ClosedLoop, LengthDist, LengthSampler};
