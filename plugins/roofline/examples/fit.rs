//! Fit the calibrated roofline's coefficients to Vidur's measured kernel and collective times.
//!
//! ```text
//! cargo run -p reallm-roofline --example fit -- host/data/calibration
//! ```
//!
//! Data (see `host/data/calibration/NOTICE.md`): `vidur-profiling/compute/<gpu>/<org>/<model>/mlp.csv`,
//! median column, milliseconds; GEMM shapes per GPU for T tokens and TP t (h = n_embd,
//! I = n_expanded_embd, d = h / n_head):
//!
//! | op | kernel |
//! |---|---|
//! | attn_pre_proj | [T, h] × [h, (H + 2·KV)·d / t] |
//! | attn_post_proj | [T, H·d / t] × [H·d / t, h] |
//! | mlp_up_proj | [T, h] × [h, 2·I / t] (gated MLP; [h, I / t] otherwise, Phi-2) |
//! | mlp_down_proj | [T, I / t] × [I / t, h] |
//! | input/post_attention_layernorm | LayerNorm [T, h] |
//! | mlp_act | SiLU-and-multiply: the traffic of Mul [T, I / t] (reads 2·I/t, writes I/t); GeLU [T, I / t] without gating |
//! | attn_rope | Rope [T, (H + KV)·d / t] |
//! | add | Add [T, h] |
//!
//! Method: for each discrete choice of (tile_m, tile_n, small_m_knee), a pattern search over
//! the continuous coefficients minimising `mean|ln(pred/meas)|` over GEMMs with T ≥ 64 plus
//! half that over T < 64; then, with that launch time, a golden-section search of each
//! element-wise kind's DRAM efficiency. Collectives: a grid search of (latency, link
//! efficiency) for NCCL all-reduce on `a100_dgx` (2, 4, 8 workers in one node) under the
//! backend's `auto` algorithm on a fully connected node, `2α + 2(P−1)/P·D/(B·eff)`, and the
//! same for send/recv, `α + D/(B·eff)`.
//!
//! The device figures below are those of the host's presets `A100-SXM-80GB` and `H100-SXM`
//! (`configs/device/*.json`: cores, derived matrix peak, DRAM bandwidth).

use reallm_plugin_api::{DType, DeviceSpec, Interconnect, Kernel, ScaleOut, Topology};
use reallm_roofline::{Calibration, Roofline};
use std::path::{Path, PathBuf};

/// One measured kernel.
struct Sample {
    kernel: Kernel,
    op: &'static str,
    tokens: u64,
    measured_s: f64,
}

fn device(name: &str, cores: u32, peak: f64, bw: f64) -> DeviceSpec {
    DeviceSpec {
        name: name.into(),
        frequency_hz: 1.41e9,
        core_count: cores,
        sublane_count: 4,
        systolic_array_height: 16,
        systolic_array_width: 16,
        mac_per_cycle: 1.0,
        systolic_dtype: DType::F16,
        vector_width: 32,
        vector_flop_per_cycle: 4,
        sram_bytes_per_core: 192 << 10,
        l2_bytes: 40 << 20,
        l2_bytes_per_cycle: 5120.0,
        mem_bw_bytes_per_s: bw,
        mem_capacity_bytes: 80 << 30,
        peak_matmul_flops: peak,
        // 4 sublanes · 32 lanes · 4 flop · f · cores (configs/device).
        peak_vector_flops: cores as f64 * 4.0 * 32.0 * 4.0 * 1.41e9,
        fp8_multiplier: 0.0,
        int8_multiplier: 2.0,
        fp4_multiplier: 0.0,
        fp32_multiplier: 0.5,
        interconnect: Interconnect {
            link_name: "NVLink".into(),
            link_bw_per_direction_bytes_per_s: 25e9,
            link_bw_both_directions_bytes_per_s: 50e9,
            link_latency_s: 8.92e-6,
            flit_bytes: 16,
            header_bytes: 16,
            max_payload_bytes: 256,
            link_count: 12,
            topology: Topology::FullyConnected,
            devices_per_node: 8,
        },
        scale_out: ScaleOut { bw_per_device_bytes_per_s: 25e9, latency_s: 5e-6 },
    }
}

/// Every sample of one profile, read by the workspace's one Vidur reader
/// (`reallm_table::vidur`, which also maps each operator to its kernel).
fn load(path: &Path, out: &mut Vec<Sample>) {
    let rows = reallm_table::vidur::read_profile(path).unwrap_or_else(|e| panic!("{e}"));
    for row in rows {
        for &(op, t) in &row.medians_s {
            if let Some(kernel) = row.kernel(op) {
                out.push(Sample { kernel, op, tokens: row.tokens, measured_s: t });
            }
        }
    }
}

fn is_gemm(s: &Sample) -> bool {
    matches!(s.kernel, Kernel::Gemm { .. })
}

fn backend(dev: &DeviceSpec, cal: &Calibration) -> Roofline {
    Roofline::with_calibration(dev.clone(), *cal).expect("valid device")
}

fn predict(r: &Roofline, k: &Kernel) -> f64 {
    use reallm_plugin_api::KernelBackend;
    r.kernel_time(k).unwrap_or(f64::INFINITY)
}

fn gemm_objective(dev: &DeviceSpec, cal: &Calibration, samples: &[&Sample]) -> f64 {
    let r = backend(dev, cal);
    let (mut hi, mut nhi, mut lo, mut nlo) = (0.0, 0usize, 0.0, 0usize);
    for s in samples {
        let e = (predict(&r, &s.kernel) / s.measured_s).ln().abs();
        if s.tokens >= 64 {
            hi += e;
            nhi += 1;
        } else {
            lo += e;
            nlo += 1;
        }
    }
    hi / nhi.max(1) as f64 + 0.5 * lo / nlo.max(1) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Pattern search over the continuous coefficients of `cal`.
fn pattern_search(dev: &DeviceSpec, mut cal: Calibration, samples: &[&Sample]) -> (Calibration, f64) {
    type Field = (fn(&mut Calibration) -> &mut f64, f64, f64, f64);
    let fields: [Field; 5] = [
        (|c| &mut c.matmul_efficiency, 0.1, 0.2, 1.0),
        (|c| &mut c.memory_efficiency, 0.1, 0.2, 1.0),
        (|c| &mut c.launch_s, 2e-6, 0.0, 20e-6),
        (|c| &mut c.small_m_exponent, 0.25, 0.0, 2.0),
        (|c| &mut c.overlap_exponent, 1.0, 1.0, 12.0),
    ];
    let mut steps: Vec<f64> = fields.iter().map(|f| f.1).collect();
    let mut best = gemm_objective(dev, &cal, samples);
    for _round in 0..60 {
        let mut improved = false;
        for (i, (get, _, lo, hi)) in fields.iter().enumerate() {
            for dir in [1.0, -1.0] {
                let mut c = cal;
                let v = get(&mut c);
                *v = (*v + dir * steps[i]).clamp(*lo, *hi);
                let obj = gemm_objective(dev, &c, samples);
                if obj < best - 1e-12 {
                    best = obj;
                    cal = c;
                    improved = true;
                }
            }
        }
        if !improved {
            for s in steps.iter_mut() {
                *s *= 0.5;
            }
            if steps[0] < 1e-3 {
                break;
            }
        }
    }
    (cal, best)
}

fn golden(mut lo: f64, mut hi: f64, f: impl Fn(f64) -> f64) -> f64 {
    let g = 0.618_033_988_75;
    for _ in 0..60 {
        let a = hi - g * (hi - lo);
        let b = lo + g * (hi - lo);
        if f(a) < f(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    0.5 * (lo + hi)
}

fn report(dev: &DeviceSpec, cal: &Calibration, samples: &[Sample]) {
    let r = backend(dev, cal);
    let errs = |pred: &dyn Fn(&Sample) -> bool| -> (f64, f64, usize) {
        let v: Vec<f64> = samples.iter().filter(|s| pred(s)).map(|s| (predict(&r, &s.kernel) / s.measured_s - 1.0).abs()).collect();
        let worst = v.iter().copied().fold(0.0, f64::max);
        let n = v.len();
        (median(v), worst, n)
    };
    for op in ["attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj", "input_layernorm", "mlp_act", "attn_rope", "add"] {
        let (m1, w1, n1) = errs(&|s: &Sample| s.op == op && s.tokens >= 64);
        let (m0, w0, n0) = errs(&|s: &Sample| s.op == op && s.tokens < 64);
        println!(
            "  {op:<16} T>=64: median {:5.1} % worst {:6.1} % (n={n1})   T<64: median {:5.1} % worst {:6.1} % (n={n0})",
            m1 * 100.0,
            w1 * 100.0,
            m0 * 100.0,
            w0 * 100.0
        );
    }
    let (m1, w1, n1) = errs(&|s: &Sample| is_gemm(s) && s.tokens >= 64);
    let (m0, w0, n0) = errs(&|s: &Sample| is_gemm(s) && s.tokens < 64);
    println!(
        "  ALL GEMMs        T>=64: median {:5.1} % worst {:6.1} % (n={n1})   T<64: median {:5.1} % worst {:6.1} % (n={n0})",
        m1 * 100.0,
        w1 * 100.0,
        m0 * 100.0,
        w0 * 100.0
    );
}

fn fit_gpu(label: &str, dev: &DeviceSpec, samples: &[Sample]) -> Calibration {
    // Search on every 4th GEMM sample (the profiles repeat each shape), report on all.
    let gemms: Vec<&Sample> = samples.iter().filter(|s| is_gemm(s)).step_by(4).collect();
    let mut best: Option<(Calibration, f64)> = None;
    for tile_m in [64, 128, 256] {
        for tile_n in [64, 128, 256] {
            for knee in [0, 32, 64, 128] {
                let start = Calibration {
                    matmul_efficiency: 0.75,
                    memory_efficiency: 0.8,
                    launch_s: 3e-6,
                    vector_launch_s: 3e-6,
                    tile_m,
                    tile_n,
                    small_m_knee: knee,
                    small_m_exponent: 0.5,
                    overlap_exponent: 3.0,
                    ..Calibration::IDEAL
                };
                let (cal, obj) = pattern_search(dev, start, &gemms);
                if best.as_ref().is_none_or(|b| obj < b.1) {
                    best = Some((cal, obj));
                }
            }
        }
    }
    let (mut cal, obj) = best.expect("at least one candidate");
    println!("{label}: GEMM objective {obj:.4}");
    // Element-wise kinds, with the launch time fixed by the GEMM fit.
    type Slot = fn(&mut Calibration) -> &mut f64;
    let kinds: [(&[&str], Slot); 4] = [
        (&["input_layernorm", "post_attention_layernorm"], |c| &mut c.norm_memory_efficiency),
        (&["mlp_act"], |c| &mut c.act_memory_efficiency),
        (&["attn_rope"], |c| &mut c.rope_memory_efficiency),
        (&["add"], |c| &mut c.add_memory_efficiency),
    ];
    // Per-kind efficiencies for a given vector launch time; the launch time by an outer search.
    let fit_kinds = |cal: &mut Calibration| -> f64 {
        let mut total = 0.0;
        for (ops, slot) in kinds {
            let sel: Vec<&Sample> = samples.iter().filter(|s| ops.contains(&s.op)).step_by(4).collect();
            let obj = |c: &Calibration| {
                let r = backend(dev, c);
                sel.iter().map(|s| (predict(&r, &s.kernel) / s.measured_s).ln().abs()).sum::<f64>() / sel.len().max(1) as f64
            };
            let eff = golden(0.05, 1.0, |e| {
                let mut c = *cal;
                *slot(&mut c) = e;
                obj(&c)
            });
            *slot(cal) = eff;
            total += obj(cal);
        }
        total
    };
    let launch = golden(0.0, 8e-6, |l| {
        let mut c = cal;
        c.vector_launch_s = l;
        fit_kinds(&mut c)
    });
    cal.vector_launch_s = launch;
    fit_kinds(&mut cal);
    println!("{label}: {cal:#?}");
    report(dev, &cal, samples);
    cal
}

/// (workers, bytes, measured seconds) of `collective` rows inside one node.
fn load_network(path: &Path, collective: &str) -> Vec<(u32, f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("{}: no column {name}", path.display()));
    let (ct, cw, cs, cd) = (col(&format!("time_stats.{collective}.median")), col("num_workers"), col("size"), col("devices_per_node"));
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let w: u32 = f[cw].parse().ok()?;
            let dpn: u32 = f[cd].parse().ok()?;
            (w == dpn).then_some((w, f[cs].parse().ok()?, f[ct].parse::<f64>().ok()? * 1e-3))
        })
        .collect()
}

fn fit_network(dir: &Path) {
    let bw = 12.0 * 25e9; // A100 preset: 12 NVLink3 links × 25 GB/s per direction.
    for (file, kind) in [("all_reduce.csv", "all_reduce"), ("send_recv.csv", "send_recv")] {
        let rows = load_network(&dir.join("vidur-profiling/network/a100_dgx").join(file), kind);
        let rows: Vec<_> = rows.into_iter().filter(|r| [2, 4, 8].contains(&r.0)).collect();
        let model = |alpha: f64, eff: f64, p: u32, d: f64| -> f64 {
            let p = p as f64;
            if kind == "all_reduce" {
                2.0 * alpha + 2.0 * (p - 1.0) / p * d / (bw * eff)
            } else {
                alpha + d / (bw * eff)
            }
        };
        let obj = |a: f64, e: f64| rows.iter().map(|&(p, d, t)| (model(a, e, p, d) / t).ln().abs()).sum::<f64>();
        let mut best = (0.0, 1.0, f64::INFINITY);
        for ai in 0..=120 {
            let a = ai as f64 * 0.5e-6;
            for ei in 1..=150 {
                let e = ei as f64 * 0.01;
                let o = obj(a, e);
                if o < best.2 {
                    best = (a, e, o);
                }
            }
        }
        let (a, e, _) = best;
        println!(
            "{kind} (a100_dgx, workers = devices per node ∈ {{2, 4, 8}}, {} rows): latency α = {:.1} µs, link efficiency = {:.2}",
            rows.len(),
            a * 1e6,
            e
        );
        for p in [2, 4, 8] {
            let errs: Vec<f64> = rows.iter().filter(|r| r.0 == p).map(|&(p, d, t)| (model(a, e, p, d) / t - 1.0).abs()).collect();
            let big: Vec<f64> =
                rows.iter().filter(|r| r.0 == p && r.1 >= 1048576.0).map(|&(p, d, t)| (model(a, e, p, d) / t - 1.0).abs()).collect();
            if !errs.is_empty() {
                println!("  P={p}: median |err| {:.1} % (all sizes), {:.1} % (≥ 1 MiB)", median(errs) * 100.0, median(big) * 100.0);
            }
        }
    }
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "host/data/calibration".into()));
    // A100-SXM-80GB: 108 SMs, 108·4·16·16·2·1.41e9 = 311.87 TFLOP/s, 5·1024·3.1856e9/8 B/s.
    let a100 = device("NVIDIA A100-SXM4-80GB", 108, 108.0 * 4.0 * 512.0 * 1.41e9, (5.0 * 1024.0 * 3_185_600_000.0 / 8.0f64).floor());
    // H100-SXM: 132 SMs, 132·4·16·32·2·1.83e9 = 989.4 TFLOP/s, 5·1024·5.234375e9/8 = 3.35e12 B/s.
    let h100 = device("NVIDIA H100-SXM5-80GB", 132, 132.0 * 4.0 * 1024.0 * 1.83e9, 3.35e12);
    for (label, gpu, dev) in [("A100", "a100", &a100), ("H100", "h100", &h100)] {
        let mut files = Vec::new();
        files.extend(reallm_table::vidur::find_profiles(&dir.join("vidur-profiling/compute").join(gpu)));
        let mut samples = Vec::new();
        for f in &files {
            load(f, &mut samples);
        }
        println!("{label}: {} profiles, {} samples", files.len(), samples.len());
        fit_gpu(label, dev, &samples);
    }
    fit_network(&dir);
}
