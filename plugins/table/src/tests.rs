use super::*;
use proptest::prelude::*;
use reallm_plugin_api::{CollectiveKind, CommAlgo, LinkScope};
use std::io::Write;

/// The shared round-number device (`reallm_plugin_api::test_support`): 1000 TFLOP/s matrix,
/// 100 TFLOP/s vector, 2 TB/s, no fit (ideal roofline).
fn toy_device() -> DeviceSpec {
    reallm_plugin_api::test_support::toy_device()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    p
}

/// A library with matmuls M = 16, 64, 256 at K = N = 4096 and two layernorms.
fn library() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "TOY_matmul_latency.csv", "B,M,K,N,latency\n1,16,4096,4096,2e-5\n1,64,4096,4096,3e-5\n1,256,4096,4096,7e-5\n");
    write(dir.path(), "TOY_layernorm_latency.csv", "M,N,latency\n1,4096,4e-6\n1024,4096,1.2e-5\n");
    dir
}

fn params(dir: &Path) -> TableParams {
    TableParams { library_dir: Some(dir.to_path_buf()), ..Default::default() }
}

fn gemm(m: u64) -> Kernel {
    Kernel::matmul(m, 4096, 4096, DType::Bf16)
}

#[test]
fn reproduces_measured_points_and_interpolates() {
    let dir = library();
    let t = Table::new(&params(dir.path()), &toy_device()).unwrap();
    assert_eq!(t.families(), 2);
    // Exact points, whatever the 16-bit type (files carry none).
    assert_eq!(t.kernel_time(&gemm(16)).unwrap(), 2e-5);
    assert_eq!(t.kernel_time(&gemm(64)).unwrap(), 3e-5);
    assert_eq!(t.kernel_time(&gemm(256)).unwrap(), 7e-5);
    // M = 160 between 64 and 256: 3e-5 + (160−64)/(256−64)·(7e-5 − 3e-5) = 3e-5 + 0.5·4e-5 = 5e-5.
    assert!((t.kernel_time(&gemm(160)).unwrap() - 5e-5).abs() < 1e-18);
    // LayerNorm M = 512.5 is not an integer; M = 1 + 1023/2 = 512: 4e-6 + 511/1023·8e-6.
    let ln = Kernel::LayerNorm { m: 512, n: 4096, dtype: DType::F16 };
    assert!((t.kernel_time(&ln).unwrap() - (4e-6 + 511.0 / 1023.0 * 8e-6)).abs() < 1e-18);
    assert_eq!(t.fallback_count(), 0);
}

#[test]
fn falls_back_outside_the_range_and_for_unknown_shapes() {
    let dir = library();
    let t = Table::new(&params(dir.path()), &toy_device()).unwrap();
    let before = fallbacks();
    // M = 1024 is above the largest measured M: ideal roofline of the toy device,
    // max(2·1024·4096² / 1e15, 2·(1024·4096 + 4096² + 1024·4096) / 2e12) = max(34.4 µs, 25.2 µs).
    let got = t.kernel_time(&gemm(1024)).unwrap();
    assert!((got - 2.0 * 1024.0 * 4096.0 * 4096.0 / 1e15).abs() < 1e-15, "{got}");
    // M = 8 below the smallest; N = 1000 is an unknown family; an Add has no table.
    t.kernel_time(&gemm(8)).unwrap();
    t.kernel_time(&Kernel::matmul(64, 4096, 1000, DType::F16)).unwrap();
    t.kernel_time(&Kernel::Add { m: 4, n: 4, dtype: DType::F16 }).unwrap();
    assert_eq!(t.fallback_count(), 4);
    assert!(fallbacks() >= before + 4);
    // Collectives go to the fallback: 8 ranks, 1 MB, multishot on an FC node:
    // 2·1 µs + 2·7/8·1e6 / 200e9 = 2 µs + 8.75 µs.
    let c = Collective { kind: CollectiveKind::AllReduce, bytes: 1_000_000, ranks: 8, scope: LinkScope::ScaleUp, algo: CommAlgo::Auto };
    assert!((t.collective_time(&c).unwrap() - 10.75e-6).abs() < 1e-15);
}

#[test]
fn llmcompass_fallback_and_params() {
    let dir = library();
    let mut p = params(dir.path());
    p.fallback = Fallback::Llmcompass;
    let t = Table::new(&p, &toy_device()).unwrap();
    assert_eq!(t.kernel_time(&gemm(64)).unwrap(), 3e-5);
    let v = serde_json::json!({"library_dir": dir.path(), "fallback": "llmcompass", "fallback_params": {"quirks": false}});
    assert!(create(&v, &toy_device()).is_ok());
    let v = serde_json::json!({"library_dir": dir.path(), "fallback_params": {"nonsense": 1}});
    let e = create(&v, &toy_device()).err().unwrap().to_string();
    assert!(e.contains("nonsense"), "{e}");
    let v = serde_json::json!({"library": "x"});
    assert!(create(&v, &toy_device()).err().unwrap().to_string().contains("unknown field"));
    let e = create(&serde_json::json!({}), &toy_device()).err().unwrap().to_string();
    assert!(e.contains("library_dir") && e.contains("vidur_profile"), "{e}");
}

#[test]
fn bad_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "D_matmul_latency.csv", "B,M,K,N,latency\n1,16,4096,4096,2e-5\n1,x,4096,4096,3e-5\n");
    let e = Table::new(&params(dir.path()), &toy_device()).unwrap_err().to_string();
    assert!(e.contains("D_matmul_latency.csv:3") && e.contains("M = `x`"), "{e}");

    write(dir.path(), "D_matmul_latency.csv", "M,K,N,latency\n");
    let e = Table::new(&params(dir.path()), &toy_device()).unwrap_err().to_string();
    assert!(e.contains("D_matmul_latency.csv:1") && e.contains("B,M,K,N,latency"), "{e}");

    write(dir.path(), "D_matmul_latency.csv", "B,M,K,N,latency\n1,16,4096,4096\n");
    let e = Table::new(&params(dir.path()), &toy_device()).unwrap_err().to_string();
    assert!(e.contains(":2") && e.contains("4 fields"), "{e}");

    write(dir.path(), "D_matmul_latency.csv", "B,M,K,N,latency\n1,16,4096,4096,-1\n");
    assert!(Table::new(&params(dir.path()), &toy_device()).unwrap_err().to_string().contains("non-negative"));

    // Two devices need `device`; a missing one is named.
    write(dir.path(), "D_matmul_latency.csv", "B,M,K,N,latency\n1,16,4096,4096,1e-5\n");
    write(dir.path(), "E_add_latency.csv", "M,N,latency\n1,16,1e-6\n");
    let e = Table::new(&params(dir.path()), &toy_device()).unwrap_err().to_string();
    assert!(e.contains("several devices") && e.contains("D, E"), "{e}");
    let mut p = params(dir.path());
    p.device = Some("E".into());
    assert!(Table::new(&p, &toy_device()).is_ok());
    p.device = Some("F".into());
    assert!(Table::new(&p, &toy_device()).unwrap_err().to_string().contains("no `F_<kind>_latency.csv`"));

    let mut p = params(&dir.path().join("missing"));
    p.device = None;
    assert!(Table::new(&p, &toy_device()).unwrap_err().to_string().contains("cannot read"));

    // A grouped-matmul file is not taken for a matmul file of device `D_grouped`.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "D_grouped_matmul_latency.csv", "G,ROWS,MAX_ROWS,K,N,latency\n8,64,16,1024,512,1e-5\n");
    let t = Table::new(&params(dir.path()), &toy_device()).unwrap();
    let g = Kernel::GroupedGemm { groups: 8, rows: 64, max_rows: 16, k: 1024, n: 512, a: DType::F16, w: DType::F16, out: DType::F16 };
    assert_eq!(t.kernel_time(&g).unwrap(), 1e-5);
}

/// A two-row Vidur profile (Llama-2-7B shapes, TP 1 and 2) with round numbers.
fn vidur_csv(dir: &Path) -> PathBuf {
    let ops = [
        "input_layernorm",
        "attn_pre_proj",
        "attn_rope",
        "attn_post_proj",
        "post_attention_layernorm",
        "mlp_up_proj",
        "mlp_act",
        "mlp_down_proj",
        "add",
    ];
    let mut header: Vec<String> = Vec::new();
    for op in ops {
        for s in ["min", "max", "mean", "median", "std"] {
            header.push(format!("time_stats.{op}.{s}"));
        }
    }
    for c in
        ["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "vocab_size", "use_gated_mlp", "num_tokens", "num_tensor_parallel_workers"]
    {
        header.push(c.into());
    }
    let row = |t: u64, tp: u64, scale: f64| -> String {
        let mut f: Vec<String> = Vec::new();
        for (i, _) in ops.iter().enumerate() {
            // median = (i + 1) · scale ms; other stats 0.
            for s in 0..5 {
                f.push(if s == 3 { format!("{}", (i + 1) as f64 * scale) } else { "0".into() });
            }
        }
        for v in ["32", "32", "4096", "11008", "32000", "True"] {
            f.push(v.into());
        }
        f.push(t.to_string());
        f.push(tp.to_string());
        f.join(",")
    };
    let text = format!("{}\n{}\n{}\n{}\n", header.join(","), row(64, 1, 0.01), row(128, 1, 0.02), row(64, 2, 0.5));
    write(dir, "mlp.csv", &text)
}

#[test]
fn vidur_profile_maps_columns_to_kernels() {
    let dir = tempfile::tempdir().unwrap();
    let path = vidur_csv(dir.path());
    let p = TableParams { vidur_profile: Some(path.clone()), ..Default::default() };
    let t = Table::new(&p, &toy_device()).unwrap();
    let f = DType::F16;
    // attn_pre_proj is column 2 → 0.02 ms at T = 64: [64, 4096] × [4096, (32 + 64)·128 = 12288].
    assert!((t.kernel_time(&Kernel::matmul(64, 4096, 12288, f)).unwrap() - 0.02e-3).abs() < 1e-15);
    // bf16 matches the fp16 profile; fp8 weights do not.
    assert!((t.kernel_time(&Kernel::matmul(64, 4096, 12288, DType::Bf16)).unwrap() - 0.02e-3).abs() < 1e-15);
    let fp8 = Kernel::Gemm { b: 1, m: 64, k: 4096, n: 12288, a: f, w: DType::F8, out: f };
    assert!(t.lookup(&fp8).is_none());
    // T = 96 halfway: 0.02 + 0.5·(0.04 − 0.02) = 0.03 ms.
    assert!((t.kernel_time(&Kernel::matmul(96, 4096, 12288, f)).unwrap() - 0.03e-3).abs() < 1e-15);
    // mlp_up_proj (col 6): [64, 4096] × [4096, 22016]; mlp_down_proj (col 8): [64, 11008] × [11008, 4096].
    assert!((t.kernel_time(&Kernel::matmul(64, 4096, 22016, f)).unwrap() - 0.06e-3).abs() < 1e-15);
    assert!((t.kernel_time(&Kernel::matmul(64, 11008, 4096, f)).unwrap() - 0.08e-3).abs() < 1e-15);
    // attn_post_proj (col 4): [64, 4096] × [4096, 4096].
    assert!((t.kernel_time(&Kernel::matmul(64, 4096, 4096, f)).unwrap() - 0.04e-3).abs() < 1e-15);
    // Norms (cols 1 and 5) averaged: 0.03 ms; rope (col 3) [64, 8192]; add (col 9).
    assert!((t.kernel_time(&Kernel::LayerNorm { m: 64, n: 4096, dtype: f }).unwrap() - 0.03e-3).abs() < 1e-15);
    assert!((t.kernel_time(&Kernel::Rope { m: 64, n: 8192, dtype: f }).unwrap() - 0.03e-3).abs() < 1e-15);
    assert!((t.kernel_time(&Kernel::Add { m: 64, n: 4096, dtype: f }).unwrap() - 0.09e-3).abs() < 1e-15);
    // mlp_act (col 7, 0.07 ms) split 2/5 SiLU + 3/5 Mul over [64, 11008].
    let silu = t.kernel_time(&Kernel::Silu { m: 64, n: 11008, dtype: f }).unwrap();
    let mul = t.kernel_time(&Kernel::Mul { m: 64, n: 11008, dtype: f }).unwrap();
    assert!((silu - 0.028e-3).abs() < 1e-15 && (mul - 0.042e-3).abs() < 1e-15);
    assert_eq!(t.fallback_count(), 0);

    // TP 2 rows: attn_pre_proj n = 12288 / 2, 0.5·2 = 1 ms.
    let p2 = TableParams { vidur_profile: Some(path.clone()), tp: Some(2), ..Default::default() };
    let t2 = Table::new(&p2, &toy_device()).unwrap();
    assert!((t2.kernel_time(&Kernel::matmul(64, 4096, 6144, f)).unwrap() - 1e-3).abs() < 1e-15);
    let p8 = TableParams { vidur_profile: Some(path), tp: Some(8), ..Default::default() };
    let e = Table::new(&p8, &toy_device()).unwrap_err().to_string();
    assert!(e.contains("num_tensor_parallel_workers = 8") && e.contains("present: 1, 2"), "{e}");

    let bad = write(dir.path(), "bad.csv", "a,b\n1,2\n");
    let e = Table::new(&TableParams { vidur_profile: Some(bad), ..Default::default() }, &toy_device()).unwrap_err().to_string();
    assert!(e.contains("bad.csv:1") && e.contains("n_head"), "{e}");
}

proptest! {
    /// Between any two measured points the interpolated time stays between the neighbours'
    /// times, and the curve is monotone where the data is.
    #[test]
    fn interpolation_is_bounded_and_monotone(
        mut pts in proptest::collection::btree_map(1u64..5000, 1e-7f64..1e-2, 2..12),
        q in 1u64..5000, r in 1u64..5000,
    ) {
        let points: Vec<(u64, f64)> = pts.iter().map(|(&x, &t)| (x, t)).collect();
        let c = Curve::from_points(&points);
        let (lo_x, hi_x) = (c.x[0], c.x[c.x.len() - 1]);
        match c.lookup(q) {
            None => prop_assert!(q < lo_x || q > hi_x),
            Some(t) => {
                let i = c.x.partition_point(|&x| x < q);
                if c.x[i] == q {
                    prop_assert_eq!(t, pts[&q]);
                } else {
                    let (a, b) = (c.t_s[i - 1], c.t_s[i]);
                    prop_assert!(t >= a.min(b) && t <= a.max(b));
                }
            }
        }
        // Make the data increasing: then the curve is non-decreasing everywhere in range.
        let mut acc = 0.0;
        for v in pts.values_mut() { acc += *v; *v = acc; }
        let c = Curve::from_points(&pts.iter().map(|(&x, &t)| (x, t)).collect::<Vec<_>>());
        let (a, b) = (q.min(r), q.max(r));
        if let (Some(ta), Some(tb)) = (c.lookup(a), c.lookup(b)) {
            prop_assert!(ta <= tb);
        }
    }
}
