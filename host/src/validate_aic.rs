//! The part of `reallm validate` measured against NVIDIA AIConfigurator's tables (the subset
//! shipped in the `measured` backend; `plugins/measured/data/systems/NOTICE.md`).
//!
//! * The calibrated roofline per GPU on the points its coefficients were fitted on, on points
//!   held out of the fit (whole GEMM shapes, whole attention head layouts, collective sizes
//!   between the refitted curve's knots), and across frameworks (fitted on TensorRT-LLM, tested
//!   on vLLM); split rules in `reallm_measured::samples`.
//! * The all-reduce acceptance check: the roofline's collectives (what `reallm kernel-time --op
//!   all_reduce` prints) against the NCCL and framework all-reduce tables, 2/4/8 GPUs, 1 KiB to
//!   256 MiB.
//! * An independent check of the H200 tables on a real H200 (`docs/data/h200_gemm_check.json`).
//! * The communication share of a Llama-3.1-70B FP8 TP8 decode step on H100.

use crate::devices;
use crate::registry;
use reallm_measured::aic::Store;
use reallm_measured::samples::{self, CommSample, Errors, KernelSample, SystemTables};
use reallm_plugin_api::{
    BatchShape, Collective, CollectiveKind, CommAlgo, DeviceSpec, Kernel, KernelBackend, LinkScope, ModelGraph, ParallelPlan, WorkKind,
};
use reallm_roofline::commfit::{eval_knots, fit_knots};
use reallm_roofline::{Roofline, RooflineParams};
use std::fmt::Write as _;

/// (AIConfigurator system, device preset, label).
pub const SYSTEMS: [(&str, &str, &str); 4] = [
    ("a100_sxm", "A100-SXM-80GB", "A100"),
    ("h100_sxm", "H100-SXM", "H100"),
    ("h200_sxm", "H200-SXM", "H200"),
    ("b200_sxm", "B200-SXM", "B200"),
];

fn pct(e: &Errors) -> String {
    if e.n == 0 {
        "–".into()
    } else {
        format!("{:.1} % / {:.0} % / {:.0} %", e.median * 100.0, e.p90 * 100.0, e.worst * 100.0)
    }
}

fn errors(backend: &dyn KernelBackend, s: &[KernelSample], keep: impl Fn(&KernelSample) -> bool) -> Errors {
    Errors::of(
        s.iter().filter(|x| keep(x)).filter_map(|x| backend.kernel_time(&x.kernel).ok().map(|p| (p / x.measured_s - 1.0).abs())).collect(),
    )
}

fn gemm_m(k: &Kernel) -> u64 {
    match *k {
        Kernel::Gemm { m, .. } => m,
        _ => 0,
    }
}

fn device(preset: &str) -> Result<DeviceSpec, String> {
    devices::resolve(preset, None).map(|d| d.spec).map_err(|e| e.to_string())
}

fn roofline(spec: &DeviceSpec, params: serde_json::Value) -> Result<Roofline, String> {
    let p: RooflineParams = reallm_plugin_api::parse_params("roofline", &params).map_err(|e| e.to_string())?;
    Roofline::new(spec.clone(), p).map_err(|e| e.to_string())
}

fn load(system: &str, framework: &str) -> Result<Option<SystemTables>, String> {
    samples::load(&Store::Embedded, system, framework).map_err(|e| e.to_string())
}

/// The kernel-fit section.
fn kernels(out: &mut String) -> Result<(), String> {
    let _ = writeln!(
        out,
        "\n## Calibrated roofline against NVIDIA AIConfigurator's tables\n\n\
         Measured: AIConfigurator's GEMM, attention and collective tables (Apache-2.0; the subset shipped in \
         `plugins/measured/data/systems`, see its NOTICE). The roofline's GEMM, attention and collective coefficients \
         of each GPU were fitted on the TensorRT-LLM tables by \
         `cargo run --release -p reallm-measured --example fit_aic -- --write plugins/roofline/src/fitted.rs`, on half \
         of the points: the other half is **held out** (never seen by the fit): GEMMs, the `(n, k)` shapes on the odd \
         squares of a checkerboard over the measured `n` and `k` values (every `m` of them); attention, every other \
         `(heads, KV heads)` layout. **vLLM**: the same coefficients on vLLM's tables of the same GPU (other kernels: \
         cuBLAS / CUTLASS / DeepGEMM, FlashAttention 3/4), also never seen by the fit.\n\n\
         Cells: median / 90th percentile / worst of |predicted / measured − 1|. GEMM `m` = tokens; GEMM dtypes as \
         AIConfigurator names them (`fp8`: per-tensor W8A8 including the activation quantisation; `fp8_block`: \
         1×128 / 128×128 block scales; `nvfp4`: W4A4). The roofline costs each as the `Gemm` kernel with 16-bit \
         activations and that weight type (`bf16`, `fp8`, `fp8_block`, `fp4`)."
    );
    for (system, preset, label) in SYSTEMS {
        let spec = device(preset)?;
        let r = roofline(&spec, serde_json::json!({}))?;
        let Some(trt) = load(system, "trtllm")? else { continue };
        let vllm = load(system, "vllm")?;
        let _ = writeln!(
            out,
            "\n### {label} (preset `{preset}`; tables TensorRT-LLM {}{}, NCCL {})\n\n\
             | kernels | points | fitting, m ≥ 64 | held out, m ≥ 64 | held out, m < 64 | vLLM, m ≥ 64 | vLLM, m < 64 |\n|---|---|---|---|---|---|---|",
            trt.version,
            vllm.as_ref().map(|v| format!(", vLLM {}", v.version)).unwrap_or_default(),
            trt.nccl_version.as_deref().unwrap_or("–")
        );
        let vg = vllm.as_ref().map(|v| samples::gemm_samples(&v.gemm)).unwrap_or_default();
        for (dt, s) in samples::gemm_samples(&trt.gemm) {
            let vs: Vec<KernelSample> = vg.iter().find(|(d, _)| *d == dt).map(|(_, v)| v.clone()).unwrap_or_default();
            let _ = writeln!(
                out,
                "| GEMM {dt} | {} | {} | {} | {} | {} | {} |",
                s.len(),
                pct(&errors(&r, &s, |x| !x.held_out && gemm_m(&x.kernel) >= 64)),
                pct(&errors(&r, &s, |x| x.held_out && gemm_m(&x.kernel) >= 64)),
                pct(&errors(&r, &s, |x| x.held_out && gemm_m(&x.kernel) < 64)),
                pct(&errors(&r, &vs, |x| gemm_m(&x.kernel) >= 64)),
                pct(&errors(&r, &vs, |x| gemm_m(&x.kernel) < 64)),
            );
        }
        let a = samples::attention_samples(&trt.context, &trt.generation);
        let va = vllm.as_ref().map(|v| samples::attention_samples(&v.context, &v.generation)).unwrap_or_default();
        for (name, pre) in [("prefill attention (causal)", true), ("decode attention", false)] {
            let s: Vec<KernelSample> = a.iter().filter(|(p, _)| *p == pre).map(|(_, s)| *s).collect();
            let vs: Vec<KernelSample> = va.iter().filter(|(p, _)| *p == pre).map(|(_, s)| *s).collect();
            let _ = writeln!(
                out,
                "| {name}, head size 128 | {} | {} | {} | – | {} | – |",
                s.len(),
                pct(&errors(&r, &s, |x| !x.held_out)),
                pct(&errors(&r, &s, |x| x.held_out)),
                pct(&errors(&r, &vs, |_| true)),
            );
        }
    }
    let _ = writeln!(
        out,
        "\nvLLM's `fp8_block` rows are a poor test: its DeepGEMM rows include outliers up to 177 ms (just-in-time \
         compilation timed with the kernel, it seems) and are 2.6× TensorRT-LLM's time at the median, so the vLLM columns \
         of `fp8_block` (and, less, `fp8`) show the difference between the two frameworks' tables more than the model's \
         error.\n\nAttention columns are over every batch and length (no `m` split). Attention is the weakest part of the \
         fit: decode attention on Hopper changes kernels with the query/KV head ratio (a large group runs several \
         times slower per byte) and short contexts are dominated by per-sequence work, which one efficiency, a \
         per-(sequence × head) time and a length ramp follow only to ~25 % (median). Use the `measured` backend where \
         attention matters."
    );
    Ok(())
}

/// Collective curves section (fitted / held out) and the acceptance table.
fn collectives(out: &mut String) -> Result<(), String> {
    let _ = writeln!(
        out,
        "\n## Collectives against the NCCL and framework all-reduce tables\n\n\
         The roofline's in-node collectives are segmented power laws per device, GPU count and implementation \
         (`plugins/roofline/src/commfit.rs`): `ln t` piecewise linear in `log2 bytes` with knots at every measured \
         size (1 KiB to 1 GiB, every factor of 2). **All sizes**: the shipped curves on every measured size from \
         1 KiB to 256 MiB. **Held out**: the same law refitted on the even powers of two (knots every factor of 4) \
         and tested on the odd ones, i.e. how well it predicts a size it has not seen. Cells: median / 90th \
         percentile / worst |error|."
    );
    let keys: [(&str, &str, CollectiveKind); 6] = [
        ("NCCL all-reduce", "nccl", CollectiveKind::AllReduce),
        ("TensorRT-LLM all-reduce", "trtllm", CollectiveKind::AllReduce),
        ("vLLM custom all-reduce", "vllm", CollectiveKind::AllReduce),
        ("NCCL all-gather", "nccl", CollectiveKind::AllGather),
        ("NCCL reduce-scatter", "nccl", CollectiveKind::ReduceScatter),
        ("NCCL all-to-all", "nccl", CollectiveKind::AllToAll),
    ];
    for (system, preset, label) in SYSTEMS {
        let spec = device(preset)?;
        let mut s: Vec<CommSample> = Vec::new();
        if let Some(t) = load(system, "trtllm")? {
            s.extend(samples::comm_samples(&t.comm, "trtllm"));
        }
        if let Some(v) = load(system, "vllm")? {
            s.extend(samples::comm_samples(&v.comm, "vllm").into_iter().filter(|x| x.implementation == "vllm"));
        }
        let _ = writeln!(out, "\n### {label}\n\n| collective | GPUs | points | all sizes | held out |\n|---|---|---|---|---|");
        for (name, imp, kind) in keys {
            for p in [2u32, 4, 8] {
                let pts: Vec<&CommSample> = s
                    .iter()
                    .filter(|x| x.implementation == imp && x.collective.kind == kind && x.collective.ranks == p)
                    .filter(|x| x.collective.bytes >= 1024 && x.collective.bytes <= 256 << 20)
                    .collect();
                if pts.is_empty() {
                    continue;
                }
                let params = match imp {
                    "nccl" => serde_json::json!({"allreduce": "nccl"}),
                    "vllm" => serde_json::json!({"allreduce": "vllm"}),
                    _ => serde_json::json!({"allreduce": "trtllm"}),
                };
                let r = roofline(&spec, params)?;
                let all = Errors::of(
                    pts.iter()
                        .filter_map(|x| {
                            let c = Collective { algo: CommAlgo::Auto, ..x.collective };
                            r.collective_time(&c).ok().map(|t| (t / x.measured_s - 1.0).abs())
                        })
                        .collect(),
                );
                // Refit on the even powers (every sample of this curve, not only 1 KiB–256 MiB).
                let curve_pts: Vec<(f64, f64)> = s
                    .iter()
                    .filter(|x| x.implementation == imp && x.collective.kind == kind && x.collective.ranks == p && !x.held_out)
                    .map(|x| ((x.collective.bytes as f64).log2(), x.measured_s.ln()))
                    .collect();
                let knots = fit_knots(&curve_pts, 10.0, 2.0, 11);
                let held = Errors::of(
                    pts.iter()
                        .filter(|x| x.held_out)
                        .map(|x| (eval_knots(&knots, 10.0, 2.0, x.collective.bytes as f64) / x.measured_s - 1.0).abs())
                        .collect(),
                );
                let _ = writeln!(out, "| {name} | {p} | {} | {} | {} |", all.n, pct(&all), pct(&held));
            }
        }
    }
    // Acceptance: what `reallm kernel-time --op all_reduce` prints, against the tables.
    let _ = writeln!(
        out,
        "\n### All-reduce acceptance: `reallm kernel-time` against the tables\n\n\
         `reallm kernel-time --device D --op all_reduce --shape BYTES,GPUS [--params '{{allreduce: nccl}}' | '{{allreduce: vllm}}']` \
         (default backend `roofline`, default all-reduce TensorRT-LLM's) for every measured size from 1 KiB to \
         256 MiB: the worst |error| over the sizes, and the 16 KiB case (`--shape 16384,8`).\n\n\
         | device | implementation | worst, 2 GPUs | worst, 4 GPUs | worst, 8 GPUs | 16 KiB × 8 GPUs: measured → predicted |\n|---|---|---|---|---|---|"
    );
    for (system, preset, label) in SYSTEMS.iter().skip(1) {
        let spec = device(preset)?;
        let trt = load(system, "trtllm")?;
        let vllm = load(system, "vllm")?;
        for (imp, name, tables) in [("nccl", "NCCL", &trt), ("trtllm", "TensorRT-LLM", &trt), ("vllm", "vLLM (CUDA graph)", &vllm)] {
            let Some(t) = tables else { continue };
            let s: Vec<CommSample> = samples::comm_samples(&t.comm, if imp == "vllm" { "vllm" } else { "trtllm" })
                .into_iter()
                .filter(|x| x.implementation == imp && x.collective.kind == CollectiveKind::AllReduce)
                .filter(|x| x.collective.bytes >= 1024 && x.collective.bytes <= 256 << 20)
                .collect();
            let r = roofline(&spec, serde_json::json!({ "allreduce": imp }))?;
            let pred = |x: &CommSample| {
                let c = Collective {
                    kind: CollectiveKind::AllReduce,
                    bytes: x.collective.bytes,
                    ranks: x.collective.ranks,
                    scope: LinkScope::ScaleUp,
                    algo: CommAlgo::Auto,
                };
                r.collective_time(&c).unwrap_or(f64::NAN)
            };
            let worst = |p: u32| {
                let e = Errors::of(s.iter().filter(|x| x.collective.ranks == p).map(|x| (pred(x) / x.measured_s - 1.0).abs()).collect());
                if e.n == 0 {
                    "–".to_string()
                } else {
                    format!("{:.1} %", e.worst * 100.0)
                }
            };
            let ex = s
                .iter()
                .find(|x| x.collective.ranks == 8 && x.collective.bytes == 16384)
                .map(|x| format!("{:.2} µs → {:.2} µs", x.measured_s * 1e6, pred(x) * 1e6))
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(out, "| {label} | {name} | {} | {} | {} | {ex} |", worst(2), worst(4), worst(8));
        }
    }
    Ok(())
}

/// The independent H200 check.
fn h200_check(out: &mut String) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct Row {
        dtype: String,
        m: u64,
        n: u64,
        k: u64,
        us: Option<f64>,
    }
    #[derive(serde::Deserialize)]
    struct File {
        device: String,
        total_memory_bytes: u64,
        torch: String,
        method: String,
        rows: Vec<Row>,
    }
    let f: File = serde_json::from_str(include_str!("../../docs/data/h200_gemm_check.json"))
        .map_err(|e| format!("docs/data/h200_gemm_check.json: {e}"))?;
    let spec = device("H200-SXM")?;
    let r = roofline(&spec, serde_json::json!({}))?;
    let t = load("h200_sxm", "trtllm")?.ok_or("no h200_sxm tables")?;
    let _ = writeln!(
        out,
        "\n## Independent check of the H200 GEMM tables on an H200\n\n\
         Timed on one `{}` ({} bytes of memory as PyTorch reports it) with PyTorch {} and cuBLAS: `{}`; bf16 \
         `torch.nn.functional.linear` and FP8 `torch._scaled_mm` on activations already in FP8 (no quantisation pass, \
         unlike AIConfigurator's `fp8` rows). Data: `docs/data/h200_gemm_check.json`, written by \
         `docs/data/h200_gemm_check.py`. Columns: this measurement, AIConfigurator's TensorRT-LLM table, the calibrated roofline (`H200-SXM`; \
         for FP8 without its activation-quantisation term), in µs.\n\n\
         | dtype | m | n | k | H200 measured | AIConfigurator | roofline |\n|---|---|---|---|---|---|---|",
        f.device,
        f.total_memory_bytes,
        f.torch,
        f.method
    );
    let mut ratios_bf16 = Vec::new();
    let mut ratios_fp8 = Vec::new();
    for row in &f.rows {
        let Some(us) = row.us else { continue };
        let Some(k) = samples::gemm_kernel(&row.dtype, row.m, row.n, row.k) else { continue };
        let aic = t.gemm.by_dtype.get(&row.dtype).and_then(|g| g.at([row.m, row.n, row.k]));
        let mut cal = *r.calibration();
        if row.dtype == "fp8" {
            cal.fp8.act_quant_bytes = Some(0.0);
        }
        let rr = Roofline::with_calibration(spec.clone(), cal).map_err(|e| e.to_string())?;
        let pred = rr.kernel_time(&k).map_err(|e| e.to_string())?;
        if let Some(a) = aic {
            if row.dtype == "bfloat16" {
                ratios_bf16.push((us * 1e-6 / a - 1.0).abs());
            } else {
                ratios_fp8.push(us * 1e-6 / a);
            }
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {:.1} |",
            row.dtype,
            row.m,
            row.n,
            row.k,
            us,
            aic.map(|a| format!("{:.1}", a * 1e6)).unwrap_or_else(|| "–".into()),
            pred * 1e6
        );
    }
    let e = Errors::of(ratios_bf16);
    ratios_fp8.sort_by(f64::total_cmp);
    let med_fp8 = ratios_fp8.get(ratios_fp8.len() / 2).copied().unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "\nbf16: this H200 and AIConfigurator's table differ by {:.1} % (median) / {:.0} % (worst) over the {} shapes; \
         at m = 4096 the H200 here is 14–23 % slower (random operands draw more power than the table's; clocks were \
         not pinned). FP8 without the quantisation pass takes {:.2}× the table's time (median): the table's per-tensor \
         FP8 rows include the activation quantisation (amax, scale, cast), which the roofline's `act_quant_bytes` \
         and fixed time model.",
        e.median * 100.0,
        e.worst * 100.0,
        e.n,
        med_fp8
    );
    Ok(())
}

/// Step time and communication time of one decode step.
fn decode_step(backend: &dyn KernelBackend, graph: &ModelGraph) -> Result<(f64, f64), String> {
    let (mut total, mut comm) = (0.0, 0.0);
    for st in &graph.stages {
        for seg in &st.segments {
            for it in &seg.items {
                let n = it.count as f64 * seg.n_layers as f64;
                match &it.work {
                    WorkKind::Kernel(k) => total += n * backend.kernel_time(k).map_err(|e| e.to_string())?,
                    WorkKind::Comm(c) => {
                        let t = n * backend.collective_time(c).map_err(|e| e.to_string())?;
                        total += t;
                        comm += t;
                    }
                }
            }
        }
    }
    Ok((total, comm))
}

/// The Llama-3.1-70B FP8 TP8 decode statement.
fn decode_share(out: &mut String) -> Result<(), String> {
    let spec = device("H100-SXM")?;
    let model =
        registry::model("llama", &serde_json::json!({"preset": "llama3.1-70b", "weight_dtype": "fp8"})).map_err(|e| e.to_string())?;
    let tp = registry::parallelism("tp", &serde_json::Value::Null).map_err(|e| e.to_string())?;
    let plan = ParallelPlan::tensor(8);
    let ctx = 4096u64;
    let shape = BatchShape { prefills: Vec::new(), decode_seqs: 4, decode_ctx_sum: 4 * ctx, seed: 0, ..BatchShape::default() };
    let mut graph = ModelGraph::default();
    model.build_step(&shape, &mut graph).map_err(|e| e.to_string())?;
    tp.apply(model.info(), &plan, &mut graph).map_err(|e| e.to_string())?;
    let _ = writeln!(
        out,
        "\n## Llama-3.1-70B FP8, TP8 decode step on H100, batch 4\n\n\
         One decode step of 4 sequences with 4,096 cached tokens each, FP8 weights (`weight_dtype: fp8`), bf16 \
         activations and KV cache, 8 × `H100-SXM` (TP8: two all-reduces of 4 × 8192 bf16 = 64 KiB per layer, an \
         all-gather of the logits), summed over the model's kernels as `reallm model show --decode-ctx 4096 4096 4096 \
         4096 --set 'model={{plugin: llama, params: {{preset: llama3.1-70b, weight_dtype: fp8}}}}' [--plugin backend=measured] \
         [--set backend.params...]` prints them.\n\n\
         | backend | step (ms) | communication (ms) | share |\n|---|---|---|---|"
    );
    let cases: [(&str, &str, serde_json::Value); 6] = [
        (
            "roofline, before this fit (`calibration: vidur_h100`, α–β collectives)",
            "roofline",
            serde_json::json!({"calibration": "vidur_h100"}),
        ),
        ("roofline (default: TensorRT-LLM all-reduce)", "roofline", serde_json::json!({})),
        ("roofline, `allreduce: nccl`", "roofline", serde_json::json!({"allreduce": "nccl"})),
        ("measured tables, TensorRT-LLM (`measured`)", "measured", serde_json::json!({})),
        ("measured tables, TensorRT-LLM kernels with NCCL", "measured", serde_json::json!({"allreduce": "nccl"})),
        ("measured tables, vLLM (`framework: vllm`)", "measured", serde_json::json!({"framework": "vllm"})),
    ];
    let mut shares = Vec::new();
    for (label, name, params) in cases {
        let b = registry::backend(name, &params, &spec).map_err(|e| e.to_string())?;
        let (t, c) = decode_step(&*b, &graph)?;
        shares.push(c / t);
        let _ = writeln!(out, "| {label} | {:.2} | {:.2} | {:.1} % |", t * 1e3, c * 1e3, 100.0 * c / t);
    }
    let _ = writeln!(
        out,
        "\nThe measured tables put this step's communication at {:.0} % with TensorRT-LLM's all-reduce (about 3.6–4.6 µs \
         per 64 KiB all-reduce on 8 H100s) and {:.0} % with NCCL (about 19 µs each); the refitted roofline gives {:.0} % \
         and {:.0} %. The earlier α–β model (49 µs per all-reduce) gave {:.0} %. The `measured` backend costs the \
         norms, activations and other element-wise kernels with the roofline (no table), counted as fallbacks. The \
         step is GEMM-overhead heavy: AIConfigurator's per-tensor FP8 rows at 4 tokens take 13–30 µs, of which about \
         10 µs is the activation quantisation (the H200 check above times the FP8 GEMM alone at 4–20 µs); vLLM's FP8 \
         rows carry less of it.",
        shares[3] * 100.0,
        shares[4] * 100.0,
        shares[1] * 100.0,
        shares[2] * 100.0,
        shares[0] * 100.0
    );
    Ok(())
}

/// The AIConfigurator part of the report.
pub fn report() -> Result<String, String> {
    let mut out = String::new();
    kernels(&mut out)?;
    collectives(&mut out)?;
    h200_check(&mut out)?;
    decode_share(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The acceptance figures of issue 16: `kernel-time --op all_reduce` within 15 % of the
    /// tables (NCCL and the frameworks' all-reduce) for H100/H200/B200, 2/4/8 GPUs, 1 KiB–256 MiB.
    #[test]
    fn all_reduce_within_15_percent_of_the_tables() {
        for (system, preset, label) in SYSTEMS.iter().skip(1) {
            let spec = device(preset).unwrap();
            for (imp, fw) in [("nccl", "trtllm"), ("trtllm", "trtllm"), ("vllm", "vllm")] {
                let t = load(system, fw).unwrap().unwrap();
                let r = roofline(&spec, serde_json::json!({ "allreduce": imp })).unwrap();
                let mut n = 0;
                for x in samples::comm_samples(&t.comm, fw) {
                    if x.implementation != imp || x.collective.kind != CollectiveKind::AllReduce {
                        continue;
                    }
                    if x.collective.bytes < 1024 || x.collective.bytes > 256 << 20 {
                        continue;
                    }
                    let c = Collective { algo: CommAlgo::Auto, ..x.collective };
                    let p = r.collective_time(&c).unwrap();
                    assert!((p / x.measured_s - 1.0).abs() <= 0.15, "{label} {imp} {:?}: {p} vs {}", x.collective, x.measured_s);
                    n += 1;
                }
                assert_eq!(n, 3 * 19, "{label} {imp}: 19 sizes × 3 GPU counts");
            }
        }
    }

    /// Median held-out GEMM error per device and dtype ≤ 10 % for m ≥ 64.
    #[test]
    fn held_out_gemm_median_within_10_percent() {
        for (system, preset, label) in SYSTEMS {
            let spec = device(preset).unwrap();
            let r = roofline(&spec, serde_json::json!({})).unwrap();
            let t = load(system, "trtllm").unwrap().unwrap();
            for (dt, s) in samples::gemm_samples(&t.gemm) {
                let e = errors(&r, &s, |x| x.held_out && gemm_m(&x.kernel) >= 64);
                assert!(e.n > 1000, "{label} {dt}: {} points", e.n);
                assert!(e.median <= 0.10, "{label} {dt}: median held-out error {:.3}", e.median);
            }
        }
    }
}
