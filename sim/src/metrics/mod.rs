//! Metrics of a run: per-request metrics, running iteration totals, and the summary
//! (`summary.json`), computed as records stream out of the engine.
//!
//! Every definition, with its formula, is in `docs/outputs.md` ("Metric definitions"); the
//! short form: TTFT = first token time − arrival; TBT = every gap between consecutive output
//! tokens of a request; TPOT = (last − first token time) / (n − 1) per completed request with
//! n > 1 tokens; E2E = last token time − arrival; normalised latency = E2E / output tokens;
//! queueing delay = first scheduled − arrival; prefill time = first token − first scheduled;
//! decode time = last − first token. Percentiles interpolate linearly between order statistics
//! (numpy's default) while a distribution has at most [`EXACT_LIMIT`] values, and come from a
//! DDSketch of relative accuracy [`SKETCH_RELATIVE_ACCURACY`] beyond. Throughput and goodput
//! divide by the makespan: last completion − first arrival. MFU / MBU divide the FLOPs / DRAM
//! bytes the backend reports per device by busy time × the device's peak.

mod request;
mod slo;
mod stats;
mod summarize;
mod summary;
mod totals;

pub use request::RequestMetrics;
pub use slo::Slo;
pub use stats::{percentile, percentile_and_max, percentiles_unsorted, Quantiles, Stats, EXACT_LIMIT, SKETCH_RELATIVE_ACCURACY};
pub use summarize::{iteration_stats, Measure, MeasuredSink, RecordsOnly, ReducedSummary, Summarizer};
pub use summary::{
    rate_from_trace_name, Attainment, EngineMetrics, Goodput, PoolInfo, PrefixCacheMetrics, ReplicaMetrics, RequestCounts, RunInfo,
    SpecDecodeMetrics, Summary, Throughput, TierMetrics,
};
pub use totals::{iteration_utilisation, CostSums, IterationTokens, IterationTotals, ReplicaTotals};

#[cfg(test)]
mod tests;
