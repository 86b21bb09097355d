//! Parallel plans: how many ways each dimension of the work is split.

use crate::kernel::CommAlgo;
use serde::{Deserialize, Serialize};

/// Degrees of each parallelism for one part of the model (attention or FFN/MoE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Degrees {
    /// Tensor parallelism (≥ 1).
    pub tp: u32,
    /// Pipeline parallelism: stages (≥ 1).
    pub pp: u32,
    /// Context (sequence) parallelism (≥ 1).
    pub cp: u32,
    /// Data parallelism within the replica (attention DP, ≥ 1).
    pub dp: u32,
    /// Expert parallelism (FFN of MoE models, ≥ 1).
    pub ep: u32,
}

impl Default for Degrees {
    fn default() -> Self {
        Degrees { tp: 1, pp: 1, cp: 1, dp: 1, ep: 1 }
    }
}

impl Degrees {
    /// Devices this plan spans: the product of all degrees.
    pub fn product(&self) -> u64 {
        self.tp as u64 * self.pp as u64 * self.cp as u64 * self.dp as u64 * self.ep as u64
    }

    /// Parse the original tool's strings: `tp8`, `tp4_dp8`, `ep32`, `ep2_tp4`, any
    /// `ep#_tp#_pp#_cp#_dp#` combination in any order; `none`/`""` is all ones.
    pub fn parse(s: &str) -> Result<Degrees, String> {
        let mut d = Degrees::default();
        let trimmed = s.trim();
        if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("none") {
            return Ok(d);
        }
        let mut seen = Vec::new();
        for part in trimmed.split('_') {
            let part = part.trim().to_ascii_lowercase();
            let split =
                part.find(|c: char| c.is_ascii_digit()).ok_or_else(|| format!("`{part}` in `{s}` has no degree; expected e.g. `tp8`"))?;
            let (name, num) = part.split_at(split);
            let n: u32 = num.parse().map_err(|_| format!("`{num}` in `{s}` is not a whole number"))?;
            if n == 0 {
                return Err(format!("degree 0 in `{s}`: every degree must be at least 1"));
            }
            if seen.contains(&name.to_string()) {
                return Err(format!("`{name}` appears twice in `{s}`"));
            }
            seen.push(name.to_string());
            match name {
                "tp" => d.tp = n,
                "pp" => d.pp = n,
                "cp" => d.cp = n,
                "dp" => d.dp = n,
                "ep" => d.ep = n,
                other => return Err(format!("unknown parallelism `{other}` in `{s}`; expected tp, pp, cp, dp or ep")),
            }
        }
        Ok(d)
    }
}

impl std::fmt::Display for Degrees {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (n, v) in [("ep", self.ep), ("tp", self.tp), ("pp", self.pp), ("cp", self.cp), ("dp", self.dp)] {
            if v > 1 {
                parts.push(format!("{n}{v}"));
            }
        }
        if parts.is_empty() {
            f.write_str("tp1")
        } else {
            f.write_str(&parts.join("_"))
        }
    }
}

/// The parallel plan of one pool of devices (one replica).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParallelPlan {
    /// Devices of the replica (the product of the degrees).
    pub devices: u32,
    /// Degrees of the attention part.
    pub attention: Degrees,
    /// Degrees of the FFN / MoE part.
    pub ffn: Degrees,
    /// Replace each TP all-reduce by reduce-scatter + all-gather (sequence parallelism).
    pub sequence_parallel: bool,
    /// Collective algorithm.
    pub comm_algo: CommAlgo,
    /// Devices joined by scale-up links; a collective over more ranks uses the scale-out link.
    pub devices_per_node: u32,
}

impl ParallelPlan {
    /// Pure tensor parallelism over `devices`.
    pub fn tensor(devices: u32) -> ParallelPlan {
        let d = Degrees { tp: devices, ..Degrees::default() };
        ParallelPlan { devices, attention: d, ffn: d, sequence_parallel: false, comm_algo: CommAlgo::Auto, devices_per_node: 8 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_original_strings() {
        assert_eq!(Degrees::parse("tp8").unwrap(), Degrees { tp: 8, ..Default::default() });
        let d = Degrees::parse("tp4_dp8").unwrap();
        assert_eq!((d.tp, d.dp, d.product()), (4, 8, 32));
        assert_eq!(Degrees::parse("ep2_tp4").unwrap().product(), 8);
        assert_eq!(Degrees::parse("ep2_tp2_pp2_cp2_dp2").unwrap().product(), 32);
        assert!(Degrees::parse("xp4").unwrap_err().contains("unknown parallelism"));
        assert!(Degrees::parse("tp0").is_err());
        assert!(Degrees::parse("tp").is_err());
        assert!(Degrees::parse("tp2_tp2").is_err());
        assert_eq!(Degrees::parse("tp4_dp8").unwrap().to_string(), "tp4_dp8");
    }
}
