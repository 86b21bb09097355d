//! Service-level objectives.

use serde::{Deserialize, Serialize};

/// Service-level objectives for goodput (config key `slo:`). An unset target is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slo {
    /// Time to first token target, seconds.
    pub ttft_s: Option<f64>,
    /// Target for the request's TBT percentile `tbt_percentile`, seconds.
    pub tbt_s: Option<f64>,
    /// Time per output token target, seconds.
    pub tpot_s: Option<f64>,
    /// End-to-end latency target, seconds.
    pub e2e_s: Option<f64>,
    /// Which percentile of a request's own TBT gaps is compared with `tbt_s` (0–100).
    pub tbt_percentile: f64,
}

impl Default for Slo {
    fn default() -> Self {
        Slo { ttft_s: None, tbt_s: None, tpot_s: None, e2e_s: None, tbt_percentile: 99.0 }
    }
}

impl Slo {
    /// Check the targets: each positive and finite, the percentile within 0–100.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("ttft_s", self.ttft_s), ("tbt_s", self.tbt_s), ("tpot_s", self.tpot_s), ("e2e_s", self.e2e_s)] {
            if let Some(x) = v {
                if !(x.is_finite() && x > 0.0) {
                    return Err(format!("slo.{name} = {x}: expected a positive number of seconds"));
                }
            }
        }
        if !(0.0..=100.0).contains(&self.tbt_percentile) {
            return Err(format!("slo.tbt_percentile = {}: expected a percentile between 0 and 100", self.tbt_percentile));
        }
        Ok(())
    }
}
