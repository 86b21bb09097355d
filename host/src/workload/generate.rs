//! Trace generation: Poisson arrivals with lengths sampled from an Azure trace.
//!
//! For task `t` and rate `λ`: inter-arrival times are exponential with mean `1/λ`; each
//! request's (prompt, output) pair is drawn jointly, with replacement, from the task's rows (so
//! their correlation is kept). Generation stops at `max_requests` or when the next arrival
//! would pass `end_time_s`. The generator is ChaCha8 seeded from `(seed, task, rate)`, so the
//! same inputs give the same file on every platform.

use super::azure::{self, Task};
use super::trace::{Request, MAX_REQUESTS};
use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

/// The file name the original tool uses: `rr_{task}_{rate}.csv`.
pub fn trace_file_name(task: Task, rate: f64) -> String {
    format!("rr_{}_{}.csv", task.name(), crate::output::fmt_rate(rate))
}

/// A stable 64-bit seed for one (seed, task, rate) triple (FNV-1a; not `std`'s hasher, whose
/// output may change between releases).
pub fn stream_seed(seed: u64, task: Task, rate: f64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(task.name().as_bytes()).chain(&rate.to_bits().to_le_bytes()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Generate one trace.
pub fn generate(task: Task, rate: f64, max_requests: u64, end_time_s: f64, seed: u64) -> Result<Vec<Request>> {
    let rows = azure::rows(task)?;
    generate_from(rows, rate, max_requests, end_time_s, stream_seed(seed, task, rate))
}

/// Generate from given rows. Errors (exit code 3, config) on a rate that is not a positive
/// finite number, no rows, or a trace that would pass [`MAX_REQUESTS`]: `max_requests` may be
/// huge when `end_time_s` bounds the trace, but not both.
pub fn generate_from(rows: &[azure::AzureRow], rate: f64, max_requests: u64, end_time_s: f64, seed: u64) -> Result<Vec<Request>> {
    let bad = |m: String| Error::config("trace generation", m);
    let exp = match Exp::new(rate) {
        Ok(e) if rate.is_finite() && rate > 0.0 => e,
        _ => return Err(bad(format!("request rate {rate}: expected a positive number of requests per second"))),
    };
    if rows.is_empty() {
        return Err(bad("no source rows to sample request lengths from".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(max_requests.min(1 << 20) as usize);
    let mut t = 0.0f64;
    for id in 0..max_requests {
        t += exp.sample(&mut rng);
        if t > end_time_s {
            break;
        }
        if out.len() >= MAX_REQUESTS {
            return Err(bad(format!(
                "more than {MAX_REQUESTS} requests (rate {rate}/s up to {end_time_s} s, max_requests {max_requests}): \
                 lower max_requests or end_time_s"
            )));
        }
        let row = rows[rng.random_range(0..rows.len())];
        out.push(Request::new(id, t, row.context_tokens.max(1), row.generated_tokens.max(1)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_source_and_rate() {
        // 20,000 conversation requests at 5 req/s: mean lengths within 3 % of the trace's
        // (1,154.70 / 211.13) and the arrival rate within 3 % of 5/s.
        let reqs = generate(Task::Conv, 5.0, 20_000, 1e9, 0).unwrap();
        assert_eq!(reqs.len(), 20_000);
        let n = reqs.len() as f64;
        let mp = reqs.iter().map(|r| r.prompt_tokens as f64).sum::<f64>() / n;
        let mo = reqs.iter().map(|r| r.output_tokens as f64).sum::<f64>() / n;
        let rate = n / reqs.last().unwrap().arrival_s;
        assert!((mp / 1154.70 - 1.0).abs() < 0.03, "prompt mean {mp}");
        assert!((mo / 211.13 - 1.0).abs() < 0.03, "output mean {mo}");
        assert!((rate / 5.0 - 1.0).abs() < 0.03, "rate {rate}");
        let code = generate(Task::Code, 2.0, 20_000, 1e9, 1).unwrap();
        let mp = code.iter().map(|r| r.prompt_tokens as f64).sum::<f64>() / 20_000.0;
        assert!((mp / 2047.85 - 1.0).abs() < 0.03, "code prompt mean {mp}");
    }

    #[test]
    fn deterministic_and_bounded() {
        let a = generate(Task::Code, 3.0, 100, 10.0, 7).unwrap();
        let b = generate(Task::Code, 3.0, 100, 10.0, 7).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().all(|r| r.arrival_s <= 10.0));
        assert_ne!(a, generate(Task::Code, 3.0, 100, 10.0, 8).unwrap());
        assert_eq!(trace_file_name(Task::Code, 1.0), "rr_code_1.csv");
        assert_eq!(trace_file_name(Task::Conv, 2.5), "rr_conv_2.5.csv");
    }
}
