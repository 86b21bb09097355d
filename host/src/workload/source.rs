//! What one `sim` run replays: a trace file, synthetic requests at a request rate (Poisson), or
//! a closed loop of clients with lengths from synthetic distributions, an Azure task or a
//! trace. One [`RunSource`] per result directory.

use super::azure::{self, Task};
use super::trace::Request;
use crate::config::Experiment;
use crate::error::{Error, Result};
use crate::stages::{self, Workspace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reallm_sim::workloads::synthetic::{poisson_requests, stream_seed};
use reallm_sim::{ClosedLoop, LengthSampler, RequestRecord, TraceWorkload, Workload};
use std::path::{Path, PathBuf};

/// Where a closed loop's request lengths come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Lengths {
    /// `workload.synthetic`.
    Synthetic,
    /// (prompt, output) pairs drawn with replacement from an Azure task's rows.
    Task(Task),
    /// A trace's requests, in order (their arrival times are ignored).
    Trace(PathBuf),
}

/// One run of the `sim` stage.
#[derive(Debug, Clone, PartialEq)]
pub enum RunSource {
    /// Replay a trace file (open loop, its own arrival times).
    Trace(PathBuf),
    /// `workload.synthetic` with Poisson arrivals at this rate (requests/s).
    SyntheticRate(f64),
    /// A closed loop of `clients` clients.
    Closed { lengths: Lengths, clients: u32 },
    /// `workload.conversations`: closed-loop multi-turn conversations.
    Conversations,
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "trace".into())
}

impl RunSource {
    /// The run's name: the trace stem, `rr_synthetic_{rate}` (so that rate plots group it), or
    /// `{lengths}_c{clients}` (`synthetic_c8`, `code_c8`, `{trace}_c8`).
    pub fn name(&self) -> String {
        match self {
            RunSource::Trace(p) => stem(p),
            RunSource::SyntheticRate(r) => format!("rr_synthetic_{}", crate::output::fmt_rate(*r)),
            RunSource::Closed { lengths, clients } => {
                let l = match lengths {
                    Lengths::Synthetic => "synthetic".to_string(),
                    Lengths::Task(t) => t.name().to_string(),
                    Lengths::Trace(p) => stem(p),
                };
                format!("{l}_c{clients}")
            }
            RunSource::Conversations => stages::CONVERSATIONS_NAME.to_string(),
        }
    }

    /// Closed-loop clients, if a closed loop.
    pub fn concurrency(&self) -> Option<u32> {
        match self {
            RunSource::Closed { clients, .. } => Some(*clients),
            _ => None,
        }
    }
}

/// The runs `sim` makes: `traces` (command line) or the config's, × `concurrency` when given;
/// `rates` (command line) win over a configured concurrency. Synthetic requests when
/// `workload.synthetic` is set, else trace files or Azure tasks.
pub fn sources(
    exp: &Experiment,
    ws: &Workspace,
    traces: &[PathBuf],
    tasks: &[String],
    rates: &[f64],
    concurrency: &[u32],
) -> Result<Vec<RunSource>> {
    let w = &exp.workload;
    if w.conversations.is_some() && traces.is_empty() && tasks.is_empty() && rates.is_empty() && concurrency.is_empty() {
        return Ok(vec![RunSource::Conversations]);
    }
    for &c in concurrency {
        if c == 0 || c > crate::config::MAX_CLIENTS {
            return Err(Error::Usage(format!("--concurrency {c}: expected 1 to {} clients", crate::config::MAX_CLIENTS)));
        }
    }
    let conc: &[u32] = if !concurrency.is_empty() {
        concurrency
    } else if rates.is_empty() {
        &w.concurrency
    } else {
        &[]
    };
    let closed = |lengths: Vec<Lengths>| -> Vec<RunSource> {
        lengths.iter().flat_map(|l| conc.iter().map(|&c| RunSource::Closed { lengths: l.clone(), clients: c })).collect()
    };
    if !traces.is_empty() {
        return Ok(if conc.is_empty() {
            traces.iter().cloned().map(RunSource::Trace).collect()
        } else {
            closed(traces.iter().cloned().map(Lengths::Trace).collect())
        });
    }
    if w.synthetic.is_some() {
        if !conc.is_empty() {
            return Ok(closed(vec![Lengths::Synthetic]));
        }
        let rates = if rates.is_empty() { &w.request_rates } else { rates };
        for &r in rates {
            if !(r.is_finite() && r > 0.0) {
                return Err(Error::Usage(format!("request rate {r}: expected a positive number")));
            }
        }
        return Ok(rates.iter().map(|&r| RunSource::SyntheticRate(r)).collect());
    }
    if conc.is_empty() {
        return Ok(stages::default_traces(exp, ws, tasks, rates)?.into_iter().map(RunSource::Trace).collect());
    }
    if !w.traces.is_empty() && tasks.is_empty() {
        let files = stages::default_traces(exp, ws, &[], &[])?;
        return Ok(closed(files.into_iter().map(Lengths::Trace).collect()));
    }
    let tasks = if tasks.is_empty() { &w.tasks } else { tasks };
    let mut ls = Vec::new();
    for t in tasks {
        ls.push(Lengths::Task(Task::parse(t).ok_or_else(|| Error::Usage(format!("unknown task `{t}`; expected code or conv")))?));
    }
    Ok(closed(ls))
}

/// (prompt, output) pairs drawn with replacement from Azure rows (ChaCha8, seeded), as trace
/// generation draws them (lengths of 0 become 1).
struct RowSampler {
    rows: Vec<azure::AzureRow>,
    rng: ChaCha8Rng,
}

impl Iterator for RowSampler {
    type Item = (u32, u32);
    fn next(&mut self) -> Option<(u32, u32)> {
        let r = self.rows[self.rng.random_range(0..self.rows.len())];
        Some((r.context_tokens.max(1), r.generated_tokens.max(1)))
    }
}

type LengthStream = Box<dyn Iterator<Item = (u32, u32)>>;

/// A built workload, owning its requests.
pub enum SourceWorkload {
    Open {
        requests: Vec<Request>,
        next: usize,
    },
    Closed(ClosedLoop<LengthStream>),
    /// Any other workload (conversations).
    Other(Box<dyn Workload>),
}

impl Workload for SourceWorkload {
    fn peek_arrival_s(&self) -> Option<f64> {
        match self {
            SourceWorkload::Open { requests, next } => TraceWorkload::new(&requests[*next..]).peek_arrival_s(),
            SourceWorkload::Closed(c) => c.peek_arrival_s(),
            SourceWorkload::Other(w) => w.peek_arrival_s(),
        }
    }
    fn next_request(&mut self) -> Option<Request> {
        match self {
            SourceWorkload::Open { requests, next } => {
                let r = requests.get(*next).cloned();
                *next += r.is_some() as usize;
                r
            }
            SourceWorkload::Closed(c) => c.next_request(),
            SourceWorkload::Other(w) => w.next_request(),
        }
    }
    fn on_complete(&mut self, rec: &RequestRecord, now_s: f64) {
        match self {
            SourceWorkload::Closed(c) => c.on_complete(rec, now_s),
            SourceWorkload::Other(w) => w.on_complete(rec, now_s),
            SourceWorkload::Open { .. } => {}
        }
    }
    fn expected_requests(&self) -> Option<u64> {
        match self {
            SourceWorkload::Open { requests, .. } => Some(requests.len() as u64),
            SourceWorkload::Closed(c) => c.expected_requests(),
            SourceWorkload::Other(w) => w.expected_requests(),
        }
    }
    fn arrivals_fixed(&self) -> bool {
        match self {
            SourceWorkload::Open { .. } => true,
            SourceWorkload::Closed(_) => false,
            SourceWorkload::Other(w) => w.arrivals_fixed(),
        }
    }
}

/// The seed of the synthetic lengths: the workload seed alone, so that every rate and every
/// concurrency level of a sweep replays the same request lengths.
fn lengths_seed(exp: &Experiment) -> u64 {
    stream_seed(exp.trace_gen.seed, "synthetic lengths")
}

fn synthetic_lengths(exp: &Experiment) -> Result<(LengthSampler, u64)> {
    let s = exp.workload.synthetic.as_ref().ok_or_else(|| Error::Internal("synthetic run without workload.synthetic".into()))?;
    Ok((LengthSampler::new(s.input_tokens, s.output_tokens, lengths_seed(exp)), s.requests))
}

/// Build the workload of `src`. Errors: a missing or bad trace, `end_reqs` leaving nothing, a
/// warm-up that leaves nothing to measure.
pub fn build(exp: &Experiment, src: &RunSource) -> Result<SourceWorkload> {
    build_with(exp, src, true)
}

/// [`build`]; a generated trace that is missing is written only when `write` (else made in
/// memory: the same requests).
pub fn build_with(exp: &Experiment, src: &RunSource, write: bool) -> Result<SourceWorkload> {
    let name = src.name();
    let wl = match src {
        RunSource::Trace(p) => SourceWorkload::Open { requests: stages::load_trace_filtered_with(exp, p, write)?, next: 0 },
        RunSource::Conversations => {
            let c =
                exp.workload.conversations.as_ref().ok_or_else(|| Error::Usage("the config sets no `workload.conversations`".into()))?;
            SourceWorkload::Other(Box::new(crate::workload::synth::conversations(
                c,
                exp.workload.system_prompt.as_ref(),
                exp.trace_gen.seed,
            )?))
        }
        RunSource::SyntheticRate(rate) => {
            let (lengths, n) = synthetic_lengths(exp)?;
            let arrival_seed = stream_seed(exp.trace_gen.seed ^ rate.to_bits(), "synthetic arrivals");
            SourceWorkload::Open { requests: poisson_requests(*rate, n, lengths, arrival_seed), next: 0 }
        }
        RunSource::Closed { lengths, clients } => {
            let w = &exp.workload;
            let (stream, limit): (LengthStream, Option<u64>) = match lengths {
                Lengths::Synthetic => {
                    let (l, n) = synthetic_lengths(exp)?;
                    (Box::new(l), Some(n))
                }
                Lengths::Task(t) => {
                    let rng = ChaCha8Rng::seed_from_u64(stream_seed(exp.trace_gen.seed, &format!("closed-loop {}", t.name())));
                    (Box::new(RowSampler { rows: azure::rows(*t)?.to_vec(), rng }), Some(exp.trace_gen.max_requests))
                }
                Lengths::Trace(p) => {
                    let reqs = stages::load_trace_filtered_with(exp, p, write)?;
                    (Box::new(reqs.into_iter().map(|r| (r.prompt_tokens, r.output_tokens))), None)
                }
            };
            SourceWorkload::Closed(ClosedLoop::new(*clients, w.think_time_s, stream, limit, w.duration_s))
        }
    };
    let warm = exp.workload.warmup_requests;
    if warm > 0 {
        if let Some(n) = wl.expected_requests() {
            if warm >= n {
                return Err(Error::config(
                    &exp.origin,
                    format!("key `workload.warmup_requests` = {warm}: run `{name}` has only {n} requests, none would be measured"),
                ));
            }
        }
    }
    Ok(wl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(RunSource::Trace("a/rr_code_2.csv".into()).name(), "rr_code_2");
        assert_eq!(RunSource::SyntheticRate(2.5).name(), "rr_synthetic_2.5");
        assert_eq!(reallm_sim::metrics::rate_from_trace_name("rr_synthetic_2.5"), Some(2.5));
        assert_eq!(RunSource::Closed { lengths: Lengths::Synthetic, clients: 8 }.name(), "synthetic_c8");
        assert_eq!(RunSource::Closed { lengths: Lengths::Task(Task::Conv), clients: 1 }.name(), "conv_c1");
        assert_eq!(RunSource::Closed { lengths: Lengths::Trace("t/x.csv".into()), clients: 4 }.concurrency(), Some(4));
    }
}
