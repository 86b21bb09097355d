//! Fit the calibrated roofline's GEMM, attention and collective coefficients per GPU to
//! AIConfigurator's measured tables, and write them as Rust (`plugins/roofline/src/fitted.rs`).
//!
//! ```text
//! cargo run --release -p reallm-measured --example fit_aic -- --write plugins/roofline/src/fitted.rs
//! cargo run --release -p reallm-measured --example fit_aic -- --data <aiconfigurator>/systems   # the full data
//! ```
//!
//! Data: the shipped subset (`plugins/measured/data/systems`) unless `--data` names an
//! AIConfigurator `systems/` folder; TensorRT-LLM tables (newest version) and NCCL.
//!
//! Method (the model is `reallm_roofline::Roofline` itself, so the fit and the product agree):
//!
//! * GEMM, 16-bit: for every tile shape (`tile_m`, `tile_n` ∈ {64, 128, 256}) and small-M knee
//!   (0, 32, 64), a coordinate pattern search of (matmul efficiency, DRAM efficiency, fixed time,
//!   small-M exponent, soft-max exponent) minimising the mean `|ln(pred/meas)|` over a
//!   subsample of the fitting shapes (points with m ≥ 64 weigh 1, m < 64 one half); the best
//!   combination is then polished on every fitting point. Only the fitting half of the shapes
//!   is used (see `reallm_measured::samples`): the held-out half is never seen.
//! * GEMM, FP8 / FP8 block-scaled / NVFP4: with the 16-bit tile shape and exponents fixed, the
//!   class's efficiency, DRAM efficiency and fixed time, the same way.
//! * Attention: attention efficiency, attention fixed time and decode DRAM efficiency, jointly
//!   on the fitting head layouts of the prefill and decode tables.
//! * Collectives: each curve (operation, implementation, GPU count) by least squares in
//!   `(log2 bytes, ln t)` with knots every factor of 2 from 1 KiB to 1 GiB and a small
//!   second-difference penalty (so that knots without data continue the neighbouring slope).
//!   For the held-out figure the curves are refitted on the even powers of two only and tested
//!   on the odd ones.
//!
//! Device figures are those of the host's presets (`configs/device/*.json`: SMs, dense 16-bit
//! peak, DRAM bandwidth, FP8/FP4 multipliers).

use reallm_measured::aic::Store;
use reallm_measured::samples::{self, CommSample, Errors, KernelSample, SystemTables};
use reallm_plugin_api::{CollectiveKind, DType, DeviceSpec, Interconnect, KernelBackend, ScaleOut, Topology};
use reallm_roofline::calibrated::{GemmClass, VIDUR_A100_SXM_80GB, VIDUR_H100_SXM_80GB};
use reallm_roofline::{Calibration, Roofline};
use std::fmt::Write as _;
use std::path::PathBuf;

/// (system, const prefix, device name, SMs, 16-bit peak, DRAM B/s, fp8 ×, fp4 ×, element-wise base)
struct Gpu {
    system: &'static str,
    prefix: &'static str,
    name: &'static str,
    cores: u32,
    peak: f64,
    bw: f64,
    fp8: f64,
    fp4: f64,
    base: Calibration,
}

const GPUS: [Gpu; 4] = [
    Gpu {
        system: "a100_sxm",
        prefix: "A100",
        name: "NVIDIA A100-SXM4-80GB",
        cores: 108,
        peak: 108.0 * 4.0 * 16.0 * 16.0 * 2.0 * 1.41e9,
        bw: 2.039e12,
        fp8: 0.0,
        fp4: 0.0,
        base: VIDUR_A100_SXM_80GB,
    },
    Gpu {
        system: "h100_sxm",
        prefix: "H100",
        name: "NVIDIA H100-SXM5-80GB",
        cores: 132,
        peak: 132.0 * 4.0 * 16.0 * 32.0 * 2.0 * 1.83e9,
        bw: 3.35e12,
        fp8: 2.0,
        fp4: 0.0,
        base: VIDUR_H100_SXM_80GB,
    },
    Gpu {
        system: "h200_sxm",
        prefix: "H200",
        name: "NVIDIA H200-SXM-141GB",
        cores: 132,
        peak: 132.0 * 4.0 * 16.0 * 32.0 * 2.0 * 1.83e9,
        bw: 4.8e12,
        fp8: 2.0,
        fp4: 0.0,
        base: VIDUR_H100_SXM_80GB,
    },
    Gpu {
        system: "b200_sxm",
        prefix: "B200",
        name: "NVIDIA B200-SXM-180GB",
        cores: 148,
        peak: 2.25e15,
        bw: 7.7e12,
        fp8: 2.0,
        fp4: 4.0,
        base: VIDUR_H100_SXM_80GB,
    },
];

fn device(g: &Gpu) -> DeviceSpec {
    DeviceSpec {
        name: g.name.into(),
        frequency_hz: 1.8e9,
        core_count: g.cores,
        sublane_count: 4,
        systolic_array_height: 16,
        systolic_array_width: 32,
        mac_per_cycle: 1.0,
        systolic_dtype: DType::F16,
        vector_width: 32,
        vector_flop_per_cycle: 4,
        sram_bytes_per_core: 256 << 10,
        l2_bytes: 50 << 20,
        l2_bytes_per_cycle: 5120.0,
        mem_bw_bytes_per_s: g.bw,
        mem_capacity_bytes: 80 << 30,
        peak_matmul_flops: g.peak,
        peak_vector_flops: g.cores as f64 * 4.0 * 32.0 * 4.0 * 1.8e9,
        fp8_multiplier: g.fp8,
        int8_multiplier: 2.0,
        fp4_multiplier: g.fp4,
        fp32_multiplier: 0.5,
        interconnect: Interconnect {
            link_name: "NVLink".into(),
            link_bw_per_direction_bytes_per_s: 25e9,
            link_bw_both_directions_bytes_per_s: 50e9,
            link_latency_s: 8.92e-6,
            flit_bytes: 16,
            header_bytes: 16,
            max_payload_bytes: 256,
            link_count: 18,
            topology: Topology::FullyConnected,
            devices_per_node: 8,
        },
        scale_out: ScaleOut { bw_per_device_bytes_per_s: 50e9, latency_s: 5e-6 },
    }
}

/// Weighted mean `|ln(pred/meas)|` (m ≥ 64 or attention: weight 1; small-m GEMMs: ½).
fn cost(dev: &DeviceSpec, cal: &Calibration, s: &[KernelSample]) -> f64 {
    let Ok(r) = Roofline::with_calibration(dev.clone(), *cal) else { return f64::INFINITY };
    let (mut acc, mut wsum) = (0.0, 0.0);
    for x in s {
        let w = match x.kernel {
            reallm_plugin_api::Kernel::Gemm { m, .. } if m < 64 => 0.5,
            _ => 1.0,
        };
        let p = r.kernel_time(&x.kernel).unwrap_or(f64::INFINITY);
        acc += w * (p / x.measured_s).ln().abs();
        wsum += w;
    }
    if wsum > 0.0 {
        acc / wsum
    } else {
        0.0
    }
}

/// A bounded parameter of the pattern search.
struct Param {
    lo: f64,
    hi: f64,
    step: f64,
}

/// Coordinate pattern search: try ± step on each parameter, keep improvements, halve the steps
/// when none helps; stop when every step is below 1/64 of its start.
fn search(x: &mut [f64], params: &[Param], f: &dyn Fn(&[f64]) -> f64) -> f64 {
    let mut best = f(x);
    let mut steps: Vec<f64> = params.iter().map(|p| p.step).collect();
    let min: Vec<f64> = params.iter().map(|p| p.step / 64.0).collect();
    loop {
        let mut improved = false;
        for i in 0..x.len() {
            for dir in [1.0, -1.0] {
                let old = x[i];
                x[i] = (old + dir * steps[i]).clamp(params[i].lo, params[i].hi);
                let c = f(x);
                if c < best - 1e-12 {
                    best = c;
                    improved = true;
                } else {
                    x[i] = old;
                }
            }
        }
        if !improved {
            let mut done = true;
            for i in 0..steps.len() {
                steps[i] /= 2.0;
                if steps[i] >= min[i] {
                    done = false;
                }
            }
            if done {
                return best;
            }
        }
    }
}

fn subsample(s: &[KernelSample], every: usize) -> Vec<KernelSample> {
    s.iter().step_by(every.max(1)).copied().collect()
}

/// Fit the 16-bit GEMM shape and coefficients.
fn fit_bf16(dev: &DeviceSpec, base: Calibration, train: &[KernelSample]) -> Calibration {
    let small = subsample(train, (train.len() / 3000).max(1));
    let params = [
        Param { lo: 0.2, hi: 1.0, step: 0.1 },
        Param { lo: 0.2, hi: 1.0, step: 0.1 },
        Param { lo: 0.0, hi: 20e-6, step: 2e-6 },
        Param { lo: 0.0, hi: 2.0, step: 0.25 },
        Param { lo: 1.0, hi: 8.0, step: 1.0 },
    ];
    let make = |tm: u64, tn: u64, knee: u64, split: u64, x: &[f64]| Calibration {
        matmul_efficiency: x[0],
        memory_efficiency: x[1],
        launch_s: x[2],
        small_m_exponent: x[3],
        overlap_exponent: x[4],
        tile_m: tm,
        tile_n: tn,
        small_m_knee: knee,
        split_k_min: split,
        ..base
    };
    let mut best = (f64::INFINITY, base);
    for tm in [64, 128, 256] {
        for tn in [64, 128, 256] {
            for knee in [0, 32, 64] {
                for split in [0, 256, 1024] {
                    let mut x = vec![0.75, 0.85, 4e-6, 0.5, 2.0];
                    let c = search(&mut x, &params, &|x| cost(dev, &make(tm, tn, knee, split, x), &small));
                    if c < best.0 {
                        best = (c, make(tm, tn, knee, split, &x));
                    }
                }
            }
        }
    }
    let b = best.1;
    let mut x = vec![b.matmul_efficiency, b.memory_efficiency, b.launch_s, b.small_m_exponent, b.overlap_exponent];
    search(&mut x, &params, &|x| cost(dev, &make(b.tile_m, b.tile_n, b.small_m_knee, b.split_k_min, x), train));
    make(b.tile_m, b.tile_n, b.small_m_knee, b.split_k_min, &x)
}

/// Fit one low-precision class with the shape fixed.
fn fit_class(dev: &DeviceSpec, cal: Calibration, which: &str, train: &[KernelSample]) -> GemmClass {
    let small = subsample(train, (train.len() / 3000).max(1));
    let params = [
        Param { lo: 0.2, hi: 1.0, step: 0.1 },
        Param { lo: 0.2, hi: 1.0, step: 0.1 },
        Param { lo: 0.0, hi: 30e-6, step: 2e-6 },
        Param { lo: 0.0, hi: 8.0, step: 1.0 },
    ];
    let make = |tm: u64, tn: u64, x: &[f64]| {
        let class = GemmClass {
            matmul_efficiency: Some(x[0]),
            memory_efficiency: Some(x[1]),
            launch_s: Some(x[2]),
            tile_m: Some(tm),
            tile_n: Some(tn),
            act_quant_bytes: Some(x[3]),
        };
        let mut c = cal;
        match which {
            "fp8" => c.fp8 = class,
            "fp8_block" => c.fp8_block = class,
            _ => c.fp4 = class,
        }
        (c, class)
    };
    let mut best = (f64::INFINITY, (cal.tile_m, cal.tile_n), vec![]);
    for tm in [64, 128, 256] {
        for tn in [64, 128, 256] {
            let mut x = vec![cal.matmul_efficiency, cal.memory_efficiency, cal.launch_s, 1.0];
            let c = search(&mut x, &params, &|x| cost(dev, &make(tm, tn, x).0, &small));
            if c < best.0 {
                best = (c, (tm, tn), x);
            }
        }
    }
    let (tm, tn) = best.1;
    let mut x = best.2;
    search(&mut x, &params, &|x| cost(dev, &make(tm, tn, x).0, train));
    make(tm, tn, &x).1
}

fn fit_attention(dev: &DeviceSpec, cal: Calibration, train: &[KernelSample]) -> Calibration {
    let small = subsample(train, (train.len() / 4000).max(1));
    let params = [
        Param { lo: 0.1, hi: 1.0, step: 0.1 },
        Param { lo: 0.0, hi: 30e-6, step: 2e-6 },
        Param { lo: 0.05, hi: 1.0, step: 0.1 },
        Param { lo: 0.0, hi: 4096.0, step: 256.0 },
        Param { lo: 0.0, hi: 0.5e-6, step: 0.02e-6 },
        Param { lo: 0.0, hi: 0.5e-6, step: 0.02e-6 },
    ];
    let make = |x: &[f64]| Calibration {
        attention_efficiency: Some(x[0]),
        attention_launch_s: Some(x[1]),
        decode_memory_efficiency: Some(x[2]),
        attention_half_len: Some(x[3]),
        attention_seq_head_s: Some(x[4]),
        decode_seq_head_s: Some(x[5]),
        ..cal
    };
    let mut x = vec![0.6, 8e-6, 0.8, 256.0, 0.02e-6, 0.02e-6];
    search(&mut x, &params, &|x| cost(dev, &make(x), &small));
    search(&mut x, &params, &|x| cost(dev, &make(x), train));
    make(&x)
}

/// Knots of the collective curves: log2 bytes 10, 11, ..., 30 (every factor of 2, 1 KiB to 1 GiB).
const KNOT0: f64 = 10.0;
const KNOT_STEP: f64 = 1.0;
const KNOTS: usize = 21;

/// Least-squares knot values (ln seconds) for points (log2 bytes, ln t).
fn fit_curve(points: &[(f64, f64)]) -> Vec<f64> {
    reallm_roofline::commfit::fit_knots(points, KNOT0, KNOT_STEP, KNOTS)
}

fn eval_curve(knots: &[f64], bytes: f64) -> f64 {
    reallm_roofline::commfit::eval_knots(knots, KNOT0, KNOT_STEP, bytes)
}

/// Curves of one device: (operation key, implementation, ranks) → knots, fitted on all points
/// (`held_out = false`) or on the knot sizes only (`true`, for the held-out report).
type Curves = Vec<(&'static str, u32, Vec<f64>)>;

fn comm_key(s: &CommSample) -> &'static str {
    match (s.implementation, s.collective.kind) {
        ("nccl", CollectiveKind::AllReduce) => "nccl_all_reduce",
        ("nccl", CollectiveKind::AllGather) => "nccl_all_gather",
        ("nccl", CollectiveKind::ReduceScatter) => "nccl_reduce_scatter",
        ("nccl", CollectiveKind::AllToAll) => "nccl_all_to_all",
        ("trtllm", _) => "trtllm_all_reduce",
        ("vllm", _) => "vllm_all_reduce",
        _ => "other",
    }
}

fn fit_comm(samples: &[CommSample], fitting_only: bool) -> Curves {
    let mut keys: Vec<(&'static str, u32)> = samples.iter().map(|s| (comm_key(s), s.collective.ranks)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|(k, p)| {
            let pts: Vec<(f64, f64)> = samples
                .iter()
                .filter(|s| comm_key(s) == k && s.collective.ranks == p && (!fitting_only || !s.held_out))
                .map(|s| ((s.collective.bytes as f64).log2(), s.measured_s.ln()))
                .collect();
            (k, p, fit_curve(&pts))
        })
        .collect()
}

fn comm_errors(curves: &Curves, samples: &[CommSample], held_out: Option<bool>, key: &str, lo: u64, hi: u64) -> Errors {
    let e: Vec<f64> = samples
        .iter()
        .filter(|s| comm_key(s) == key && held_out.is_none_or(|h| s.held_out == h) && s.collective.bytes >= lo && s.collective.bytes <= hi)
        .filter_map(|s| {
            let c = curves.iter().find(|c| c.0 == key && c.1 == s.collective.ranks)?;
            Some((eval_curve(&c.2, s.collective.bytes as f64) / s.measured_s - 1.0).abs())
        })
        .collect();
    Errors::of(e)
}

fn kernel_errors(dev: &DeviceSpec, cal: &Calibration, s: &[KernelSample], held_out: bool, min_m: u64) -> Errors {
    let Ok(r) = Roofline::with_calibration(dev.clone(), *cal) else { return Errors::default() };
    Errors::of(
        s.iter()
            .filter(|x| x.held_out == held_out)
            .filter(|x| match x.kernel {
                reallm_plugin_api::Kernel::Gemm { m, .. } => m >= min_m,
                _ => true,
            })
            .filter_map(|x| r.kernel_time(&x.kernel).ok().map(|p| (p / x.measured_s - 1.0).abs()))
            .collect(),
    )
}

fn pct(e: &Errors) -> String {
    format!("{:.1} % / {:.0} % (n = {})", e.median * 100.0, e.worst * 100.0, e.n)
}

fn opt(v: Option<f64>) -> String {
    match v {
        Some(x) => format!("Some({})", round_sig(x)),
        None => "None".into(),
    }
}

fn round_sig(x: f64) -> String {
    if x == 0.0 {
        return "0.0".into();
    }
    let s = format!("{:.4e}", x);
    // Keep a float literal.
    let v: f64 = s.parse().unwrap_or(x);
    let out = format!("{v:?}");
    out
}

fn class_src(c: &GemmClass) -> String {
    if !c.is_calibrated() {
        return "GemmClass::INHERIT".into();
    }
    format!(
        "GemmClass {{\n        matmul_efficiency: {},\n        memory_efficiency: {},\n        launch_s: {},\n        tile_m: {:?},\n        tile_n: {:?},\n        act_quant_bytes: {},\n    }}",
        opt(c.matmul_efficiency),
        opt(c.memory_efficiency),
        opt(c.launch_s),
        c.tile_m,
        c.tile_n,
        opt(c.act_quant_bytes)
    )
}

fn main() {
    let mut data: Option<PathBuf> = None;
    let mut write: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().map(PathBuf::from),
            "--write" => write = args.next().map(PathBuf::from),
            _ => {
                eprintln!("usage: fit [--data <aiconfigurator systems dir>] [--write plugins/roofline/src/fitted.rs]");
                std::process::exit(2);
            }
        }
    }
    let store = match &data {
        Some(d) => Store::Dir(d.clone()),
        None => Store::Embedded,
    };
    let mut src = String::from(
        "//! Coefficients fitted on NVIDIA AIConfigurator's measured tables (Apache-2.0; see\n\
         //! `plugins/measured/data/systems/NOTICE.md`). Generated by\n\
         //! `cargo run --release -p reallm-measured --example fit_aic -- --write plugins/roofline/src/fitted.rs`;\n\
         //! do not edit by hand. The method is described in `plugins/measured/examples/fit_aic.rs`.\n\n\
         use crate::calibrated::{GemmClass, GemmFit};\nuse crate::commfit::{CommFit, Curve};\n",
    );
    for g in &GPUS {
        let Some(t): Option<SystemTables> = samples::load(&store, g.system, "trtllm").unwrap_or_else(|e| panic!("{e}")) else {
            panic!("no TensorRT-LLM tables for {} in {}", g.system, store.describe());
        };
        let dev = device(g);
        println!("## {} ({} / trtllm {}, NCCL {})", g.prefix, g.system, t.version, t.nccl_version.as_deref().unwrap_or("-"));
        let gemm = samples::gemm_samples(&t.gemm);
        let train = |v: &[KernelSample]| v.iter().filter(|x| !x.held_out).copied().collect::<Vec<_>>();
        let bf16 = gemm.iter().find(|(d, _)| d == "bfloat16").map(|(_, v)| train(v)).unwrap_or_default();
        let mut cal = fit_bf16(&dev, g.base, &bf16);
        for (dt, v) in &gemm {
            if dt == "bfloat16" {
                continue;
            }
            let which = match dt.as_str() {
                "fp8" => "fp8",
                "fp8_block" => "fp8_block",
                "nvfp4" => "fp4",
                _ => continue,
            };
            let class = fit_class(&dev, cal, which, &train(v));
            match which {
                "fp8" => cal.fp8 = class,
                "fp8_block" => cal.fp8_block = class,
                _ => cal.fp4 = class,
            }
        }
        let attn_split = samples::attention_samples(&t.context, &t.generation);
        let attn: Vec<KernelSample> = attn_split.iter().map(|(_, s)| *s).collect();
        cal = fit_attention(&dev, cal, &train(&attn));
        for (label, pre) in [("prefill", true), ("decode", false)] {
            let v: Vec<KernelSample> = attn_split.iter().filter(|(p, _)| *p == pre).map(|(_, s)| *s).collect();
            println!(
                "  attention {label:<8} fitting {}  held-out {}",
                pct(&kernel_errors(&dev, &cal, &v, false, 0)),
                pct(&kernel_errors(&dev, &cal, &v, true, 0))
            );
        }
        if std::env::var("FIT_DEBUG").is_ok() {
            let r = Roofline::with_calibration(dev.clone(), cal).unwrap_or_else(|e| panic!("{e}"));
            println!("  {cal:?}");
            for (dt, v) in &gemm {
                let mut e: Vec<(f64, &KernelSample, f64)> =
                    v.iter().filter_map(|x| r.kernel_time(&x.kernel).ok().map(|p| ((p / x.measured_s).ln(), x, p))).collect();
                e.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
                for (l, x, p) in e.iter().take(12) {
                    if let reallm_plugin_api::Kernel::Gemm { m, n, k, .. } = x.kernel {
                        println!("    {dt} m={m} n={n} k={k} meas {:.2} µs pred {:.2} µs ln {l:.2}", x.measured_s * 1e6, p * 1e6);
                    }
                }
                // Median signed log error by m, n and k bands.
                for (label, f) in [("m", 0usize), ("n", 1), ("k", 2)] {
                    let mut by: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
                    for (l, x, _) in &e {
                        if let reallm_plugin_api::Kernel::Gemm { m, n, k, .. } = x.kernel {
                            let key = [m, n, k][f];
                            by.entry(key.next_power_of_two()).or_default().push(*l);
                        }
                    }
                    let row: Vec<String> = by
                        .iter_mut()
                        .map(|(k, v)| {
                            v.sort_by(f64::total_cmp);
                            format!("{k}:{:+.2}", v[v.len() / 2])
                        })
                        .collect();
                    println!("    {dt} median ln(pred/meas) by {label}: {}", row.join(" "));
                }
            }
        }
        for (dt, v) in &gemm {
            println!(
                "  gemm {dt:<10} m ≥ 64: fitting {}  held-out {}",
                pct(&kernel_errors(&dev, &cal, v, false, 64)),
                pct(&kernel_errors(&dev, &cal, v, true, 64))
            );
        }
        println!(
            "  attention        fitting {}  held-out {}",
            pct(&kernel_errors(&dev, &cal, &attn, false, 0)),
            pct(&kernel_errors(&dev, &cal, &attn, true, 0))
        );
        let comm = samples::comm_samples(&t.comm, "trtllm");
        let all = fit_comm(&comm, false);
        let knots_only = fit_comm(&comm, true);
        for key in ["nccl_all_reduce", "trtllm_all_reduce", "nccl_all_gather", "nccl_reduce_scatter", "nccl_all_to_all"] {
            println!(
                "  {key:<20} 1 KiB–256 MiB: all points {}  held-out sizes {}",
                pct(&comm_errors(&all, &comm, None, key, 1024, 256 << 20)),
                pct(&comm_errors(&knots_only, &comm, Some(true), key, 1024, 256 << 20))
            );
        }
        // vLLM's custom all-reduce, where measured.
        let vllm = samples::load(&store, g.system, "vllm").unwrap_or_else(|e| panic!("{e}"));
        let vllm_curves = match &vllm {
            Some(v) => {
                let vc: Vec<CommSample> =
                    samples::comm_samples(&v.comm, "vllm").into_iter().filter(|s| s.implementation == "vllm").collect();
                let c = fit_comm(&vc, false);
                println!(
                    "  {:<20} 1 KiB–256 MiB: all points {}",
                    "vllm_all_reduce",
                    pct(&comm_errors(&c, &vc, None, "vllm_all_reduce", 1024, 256 << 20))
                );
                c
            }
            None => Vec::new(),
        };
        let c = cal;
        let _ = writeln!(
            src,
            "\n/// {} ({} / TensorRT-LLM {}): GEMM and attention coefficients.\npub const {}_GEMM: GemmFit = GemmFit {{\n    matmul_efficiency: {},\n    memory_efficiency: {},\n    launch_s: {},\n    tile_m: {},\n    tile_n: {},\n    small_m_knee: {},\n    small_m_exponent: {},\n    overlap_exponent: {},\n    split_k_min: {},\n    fp8: {},\n    fp8_block: {},\n    fp4: {},\n    attention_efficiency: {},\n    attention_launch_s: {},\n    decode_memory_efficiency: {},\n    attention_half_len: {},\n    attention_seq_head_s: {},\n    decode_seq_head_s: {},\n}};",
            g.name,
            g.system,
            t.version,
            g.prefix,
            round_sig(c.matmul_efficiency),
            round_sig(c.memory_efficiency),
            round_sig(c.launch_s),
            c.tile_m,
            c.tile_n,
            c.small_m_knee,
            round_sig(c.small_m_exponent),
            round_sig(c.overlap_exponent),
            c.split_k_min,
            class_src(&c.fp8),
            class_src(&c.fp8_block),
            class_src(&c.fp4),
            opt(c.attention_efficiency),
            opt(c.attention_launch_s),
            opt(c.decode_memory_efficiency),
            opt(c.attention_half_len),
            opt(c.attention_seq_head_s),
            opt(c.decode_seq_head_s),
        );
        let curves_src = |key: &str, curves: &Curves| -> String {
            let mut s = String::from("&[");
            for (k, p, knots) in curves {
                if *k != key {
                    continue;
                }
                let vals: Vec<String> = knots.iter().map(|v| format!("{v:.5}")).collect();
                let _ = write!(
                    s,
                    "\n        Curve {{ ranks: {p}, log2_first: {KNOT0:?}, log2_step: {KNOT_STEP:?}, ln_t: &[{}] }},",
                    vals.join(", ")
                );
            }
            s.push_str(if s.len() > 2 { "\n    ]" } else { "]" });
            s
        };
        let _ = writeln!(
            src,
            "\n/// {} collectives: NCCL {} and TensorRT-LLM {} all-reduce{}.\npub static {}_COMM: CommFit = CommFit {{\n    source: \"{} NCCL {} / TensorRT-LLM {}{}\",\n    nccl_all_reduce: {},\n    nccl_all_gather: {},\n    nccl_reduce_scatter: {},\n    nccl_all_to_all: {},\n    trtllm_all_reduce: {},\n    vllm_all_reduce: {},\n}};",
            g.name,
            t.nccl_version.as_deref().unwrap_or("-"),
            t.version,
            vllm.as_ref().map(|v| format!(", vLLM {} custom all-reduce", v.version)).unwrap_or_default(),
            g.prefix,
            g.system,
            t.nccl_version.as_deref().unwrap_or("-"),
            t.version,
            vllm.as_ref().map(|v| format!(" / vLLM {}", v.version)).unwrap_or_default(),
            curves_src("nccl_all_reduce", &all),
            curves_src("nccl_all_gather", &all),
            curves_src("nccl_reduce_scatter", &all),
            curves_src("nccl_all_to_all", &all),
            curves_src("trtllm_all_reduce", &all),
            curves_src("vllm_all_reduce", &vllm_curves),
        );
    }
    if let Some(w) = write {
        std::fs::write(&w, src).unwrap_or_else(|e| panic!("{}: {e}", w.display()));
        println!("wrote {}", w.display());
    }
}
