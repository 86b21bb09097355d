use super::*;
use reallm_plugin_api::{Interconnect, ScaleOut, Topology};

/// A device named like the host's H100 preset (132 SMs, 989 TFLOP/s, 3.35 TB/s, NVLink4).
pub(crate) fn h100() -> DeviceSpec {
    DeviceSpec {
        name: "NVIDIA H100-SXM5-80GB".into(),
        frequency_hz: 1.83e9,
        core_count: 132,
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
        mem_bw_bytes_per_s: 3.35e12,
        mem_capacity_bytes: 80 << 30,
        peak_matmul_flops: 989.4e12,
        peak_vector_flops: 132.0 * 4.0 * 32.0 * 4.0 * 1.83e9,
        fp8_multiplier: 2.0,
        int8_multiplier: 2.0,
        fp4_multiplier: 0.0,
        fp32_multiplier: 0.5,
        interconnect: Interconnect {
            link_name: "NVLink4".into(),
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

fn backend(params: serde_json::Value) -> Measured {
    let p: MeasuredParams = parse_params(NAME, &params).unwrap();
    Measured::new(&p, &h100()).unwrap()
}

fn ar(bytes: u64, ranks: u32) -> Collective {
    Collective { kind: CollectiveKind::AllReduce, bytes, ranks, scope: LinkScope::ScaleUp, algo: CommAlgo::Auto }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a / b - 1.0).abs() <= rel
}

#[test]
fn embedded_h100_tables_load_with_newest_versions() {
    let m = backend(serde_json::json!({}));
    let (sys, fw, ver) = m.source();
    assert_eq!((sys, fw, ver), ("h100_sxm", Framework::Trtllm, "1.3.0rc20"));
    let d = m.describe();
    assert!(d.contains("bfloat16") && d.contains("fp8_block") && d.contains("NCCL 2.29.2"), "{d}");
    let v = backend(serde_json::json!({"framework": "vllm"}));
    assert_eq!(v.source().2, "0.24.0");
}

#[test]
fn gemm_exact_points_and_interpolation() {
    let m = backend(serde_json::json!({}));
    // Rows of h100_sxm/gemm/trtllm/1.3.0rc20 (ms, 4 significant digits as shipped).
    let t = m.kernel_time(&Kernel::matmul(4096, 8192, 8192, DType::Bf16)).unwrap();
    assert!(close(t, 0.6728e-3, 1e-6), "{t}");
    let fp8 = Kernel::Gemm { b: 1, m: 4096, k: 8192, n: 8192, a: DType::Bf16, w: DType::F8, out: DType::Bf16 };
    assert!(close(m.kernel_time(&fp8).unwrap(), 0.4466e-3, 1e-6));
    let blk = Kernel::Gemm { b: 1, m: 4096, k: 8192, n: 8192, a: DType::Bf16, w: DType::F8Block, out: DType::Bf16 };
    assert!(close(m.kernel_time(&blk).unwrap(), 0.4937e-3, 1e-6));
    // m = 144 between the measured 129 (11.58 µs) and 160 (15.20 µs): the log–log line,
    // 11.58 · (15.20/11.58)^(ln(144/129)/ln(160/129)) = 13.31 µs.
    let w: f64 = (144.0f64 / 129.0).ln() / (160.0f64 / 129.0).ln();
    let expect = 11.58e-6 * (15.20f64 / 11.58).powf(w);
    let t = m.kernel_time(&Kernel::matmul(144, 8192, 1024, DType::Bf16)).unwrap();
    assert!(close(t, expect, 1e-6), "{t} vs {expect}");
    assert!(t > 11.58e-6 && t < 15.20e-6);
    assert_eq!(m.stats(), Stats { table: 4, out_of_grid: 0, no_table: 0 });
}

#[test]
fn fallbacks_are_counted_and_costed_by_the_roofline() {
    let m = backend(serde_json::json!({}));
    let roof = Roofline::new(h100(), RooflineParams::default()).unwrap();
    // m beyond the grid (32768), an unmeasured dtype (fp32) and a kind without a table.
    let big = Kernel::matmul(65536, 8192, 8192, DType::Bf16);
    assert_eq!(m.kernel_time(&big).unwrap(), roof.kernel_time(&big).unwrap());
    let f32k = Kernel::matmul(64, 8192, 8192, DType::F32);
    assert_eq!(m.kernel_time(&f32k).unwrap(), roof.kernel_time(&f32k).unwrap());
    let norm = Kernel::LayerNorm { m: 64, n: 8192, dtype: DType::Bf16 };
    assert_eq!(m.kernel_time(&norm).unwrap(), roof.kernel_time(&norm).unwrap());
    // A 16-GPU all-reduce (no table) and a scale-out one.
    let c16 = ar(1 << 20, 16);
    assert_eq!(m.collective_time(&c16).unwrap(), roof.collective_time(&c16).unwrap());
    let out = Collective { scope: LinkScope::ScaleOut, ..ar(1 << 20, 2) };
    assert_eq!(m.collective_time(&out).unwrap(), roof.collective_time(&out).unwrap());
    assert_eq!(m.stats(), Stats { table: 0, out_of_grid: 4, no_table: 1 });
    assert_eq!(m.stats().fallbacks(), 5);
    assert!(fallbacks() >= 5, "process-wide count includes this instance's");
}

#[test]
fn collectives_custom_and_nccl() {
    let m = backend(serde_json::json!({}));
    // 8 GPUs, 8192 bf16 elements = 16 KiB: TensorRT-LLM custom all-reduce 3.559 µs, NCCL 18.98 µs.
    assert!(close(m.collective_time(&ar(16384, 8)).unwrap(), 3.559e-6, 1e-6));
    let nccl = backend(serde_json::json!({"allreduce": "nccl"}));
    assert!(close(nccl.collective_time(&ar(16384, 8)).unwrap(), 18.98e-6, 1e-6));
    // `algo: ring` asks for NCCL whatever the parameter; `multishot` for the custom kernel.
    let ring = Collective { algo: CommAlgo::Ring, ..ar(16384, 8) };
    assert!(close(m.collective_time(&ring).unwrap(), 18.98e-6, 1e-6));
    let one = Collective { algo: CommAlgo::Multishot, ..ar(16384, 8) };
    assert!(close(nccl.collective_time(&one).unwrap(), 3.559e-6, 1e-6));
    // Between 8 KiB (3.541 µs) and 16 KiB: between the two.
    let t = m.collective_time(&ar(12288, 8)).unwrap();
    assert!(t > 3.541e-6 && t < 3.559e-6, "{t}");
    // All-gather of 16 KiB over 8 GPUs: NCCL 11.16 µs; one rank costs nothing.
    let ag = Collective { kind: CollectiveKind::AllGather, ..ar(16384, 8) };
    assert!(close(m.collective_time(&ag).unwrap(), 11.16e-6, 1e-6));
    assert_eq!(m.collective_time(&ar(16384, 1)).unwrap(), 0.0);
}

#[test]
fn attention_lookups() {
    let m = backend(serde_json::json!({}));
    // Prefill, 1 sequence of 1024 tokens, 8 query heads / 1 KV head of 128: 29.25 µs.
    let attn = |kv_len: u64| Kernel::Attention {
        seqs: 1,
        q_len: 1024,
        kv_len,
        q_heads: 8,
        kv_heads: 1,
        d_qk: 128,
        d_v: 128,
        causal: true,
        kv_shared: false,
        act: DType::Bf16,
        kv: DType::Bf16,
    };
    assert!(close(m.kernel_time(&attn(1024)).unwrap(), 29.25e-6, 1e-6));
    // A 1024-token chunk after a 1024-token prefix has 1024·1024 + 1024·1025/2 pairs: the
    // prompt of the same pair count is 1773.4 tokens, between the 1024 and 2048 points.
    let chunk = attn(2048);
    let t = m.kernel_time(&chunk).unwrap();
    assert!(t > 29.25e-6 && t < 47.10e-6, "{t}");
    assert!((equivalent_prompt(1024.0 * 1024.0 + 1024.0 * 1025.0 / 2.0) - 1773.4).abs() < 0.1);
    // Decode, 4 sequences of 1024 tokens (isl 1 + step 1023), fp8 KV: 8.517 µs.
    let dec = |kv_shared: bool| Kernel::DecodeAttention {
        seqs: 4,
        kv_total: 4096,
        q_heads: 8,
        kv_heads: 1,
        d_qk: 128,
        d_v: 128,
        kv_shared,
        act: DType::Bf16,
        kv: DType::F8,
    };
    assert!(close(m.kernel_time(&dec(false)).unwrap(), 8.517e-6, 1e-6));
    // MLA (kv_shared) has no table here.
    m.kernel_time(&dec(true)).unwrap();
    assert_eq!(m.stats(), Stats { table: 3, out_of_grid: 1, no_table: 0 });
}

#[test]
fn bad_params_are_errors_naming_the_problem() {
    let err = |v: serde_json::Value, dev: &DeviceSpec| {
        let p: Result<MeasuredParams, _> = parse_params(NAME, &v);
        match p {
            Err(e) => e.to_string(),
            Ok(p) => Measured::new(&p, dev).err().map(|e| e.to_string()).unwrap_or_default(),
        }
    };
    let e = err(serde_json::json!({"framwork": "vllm"}), &h100());
    assert!(e.contains("unknown field") && e.contains("framwork"), "{e}");
    let e = err(serde_json::json!({"version": "9.9"}), &h100());
    assert!(e.contains("9.9") && e.contains("1.3.0rc20"), "{e}");
    let e = err(serde_json::json!({"framework": "sglang"}), &h100());
    assert!(e.contains("sglang") && e.contains("trtllm") && e.contains("vllm"), "{e}");
    let mut toy = h100();
    toy.name = "toy".into();
    let e = err(serde_json::json!({}), &toy);
    assert!(e.contains("set `system`") && e.contains("h100_sxm"), "{e}");
    toy.name = "NVIDIA GB200".into();
    let e = err(serde_json::json!({}), &toy);
    assert!(e.contains("gb200") && e.contains("b200_sxm"), "{e}");
    let e = err(serde_json::json!({"data_dir": "/nonexistent/aic"}), &h100());
    assert!(e.contains("/nonexistent/aic") && e.contains("not a directory"), "{e}");
    // The GB200 device can use B200's tables explicitly.
    let p: MeasuredParams = parse_params(NAME, &serde_json::json!({"system": "b200_sxm"})).unwrap();
    assert_eq!(Measured::new(&p, &toy).unwrap().source().0, "b200_sxm");
}

#[test]
fn reads_a_directory_in_the_aiconfigurator_layout() {
    // Lay one embedded table out on disk as a `systems/` folder and read it from there.
    let dir = tempfile::tempdir().unwrap();
    let (rel, bytes) = embedded::FILES.iter().find(|(p, _)| p.starts_with("data/h200_sxm/comm/nccl/")).unwrap();
    let path = dir.path().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    // Only NCCL: the framework folder is missing.
    let p: MeasuredParams = parse_params(NAME, &serde_json::json!({"data_dir": dir.path(), "system": "h200_sxm"})).unwrap();
    let e = Measured::new(&p, &h100()).err().unwrap().to_string();
    assert!(e.contains("no `trtllm` tables"), "{e}");
    // Add the framework's gemm table: now it loads, NCCL from disk.
    let (rel, bytes) = embedded::FILES.iter().find(|(p, _)| p.starts_with("data/h200_sxm/gemm/trtllm/")).unwrap();
    let path = dir.path().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let m = Measured::new(&p, &h100()).unwrap();
    let nccl = Collective { algo: CommAlgo::Ring, ..ar(1 << 20, 8) };
    let t = m.collective_time(&nccl).unwrap();
    let embedded = backend(serde_json::json!({"system": "h200_sxm", "allreduce": "nccl"})).collective_time(&ar(1 << 20, 8)).unwrap();
    assert_eq!(t, embedded);
    // A corrupt table is an error naming the file.
    std::fs::write(&path, b"not parquet").unwrap();
    let e = Measured::new(&p, &h100()).err().unwrap().to_string();
    assert!(e.contains("gemm_perf.parquet") && e.contains("Parquet"), "{e}");
}

#[test]
fn every_embedded_table_reads() {
    for (p, b) in embedded::FILES {
        let f = frame::read_bytes(b, p).unwrap();
        assert!(f.rows > 0 && f.valid.iter().all(|v| *v), "{p}");
        assert!(f.floats("latency").unwrap().iter().all(|t| *t > 0.0), "{p}");
    }
}
