//! Per-kernel overhead of a dynamically loaded backend against the same backend linked
//! statically, with and without the host's cost cache (an `FxHashMap<Kernel, f64>`, as in
//! `host/src/engine/system.rs`).
//!
//! Run: `cargo bench -p reallm-roofline-cdylib` (builds this crate's cdylib in the same
//! profile first, then loads it from `target/<profile>/`). Prints ns per kernel.

use reallm_plugin_api::ffi::load_library;
use reallm_plugin_api::{DType, DeviceSpec, Interconnect, Kernel, KernelBackend, ScaleOut, Topology};
use rustc_hash::FxHashMap;
use std::hint::black_box;
use std::time::Instant;

fn device() -> DeviceSpec {
    // H100-SXM5 spec-sheet figures (shared/reference/hardware.md): 989 TFLOP/s dense bf16,
    // 3.35 TB/s HBM3, 18 NVLink4 links of 25 GB/s per direction.
    DeviceSpec {
        name: "bench-h100".into(),
        frequency_hz: 1.83e9,
        core_count: 132,
        sublane_count: 4,
        systolic_array_height: 16,
        systolic_array_width: 16,
        mac_per_cycle: 1.0,
        systolic_dtype: DType::Bf16,
        vector_width: 32,
        vector_flop_per_cycle: 2,
        sram_bytes_per_core: 233_472,
        l2_bytes: 52_428_800,
        l2_bytes_per_cycle: 5_120.0,
        mem_bw_bytes_per_s: 3.35e12,
        mem_capacity_bytes: 85_899_345_920,
        peak_matmul_flops: 9.89e14,
        peak_vector_flops: 6.7e13,
        fp8_multiplier: 2.0,
        int8_multiplier: 2.0,
        fp4_multiplier: 0.0,
        fp32_multiplier: 0.5,
        interconnect: Interconnect {
            link_name: "nvlink4".into(),
            link_bw_per_direction_bytes_per_s: 2.5e10,
            link_bw_both_directions_bytes_per_s: 5.0e10,
            link_latency_s: 8.92e-6,
            flit_bytes: 16,
            header_bytes: 16,
            max_payload_bytes: 256,
            link_count: 18,
            topology: Topology::FullyConnected,
            devices_per_node: 8,
        },
        scale_out: ScaleOut { bw_per_device_bytes_per_s: 5.0e10, latency_s: 5e-6 },
    }
}

/// One decode iteration's distinct kernel shapes (Llama-3-70B-like, TP-8) for 64 batch sizes:
/// 64 × 8 = 512 distinct kernels.
fn kernels() -> Vec<Kernel> {
    let mut v = Vec::new();
    for b in 1..=64u64 {
        v.push(Kernel::matmul(b, 8192, 1280, DType::Bf16));
        v.push(Kernel::matmul(b, 1024, 8192, DType::Bf16));
        v.push(Kernel::matmul(b, 8192, 7168, DType::Bf16));
        v.push(Kernel::matmul(b, 3584, 8192, DType::Bf16));
        v.push(Kernel::DecodeAttention {
            seqs: b,
            kv_total: b * 2048,
            q_heads: 8,
            kv_heads: 1,
            d_qk: 128,
            d_v: 128,
            kv_shared: false,
            act: DType::Bf16,
            kv: DType::Bf16,
        });
        v.push(Kernel::LayerNorm { m: b, n: 8192, dtype: DType::Bf16 });
        v.push(Kernel::Silu { m: b, n: 3584, dtype: DType::Bf16 });
        v.push(Kernel::Add { m: b, n: 8192, dtype: DType::Bf16 });
    }
    v
}

/// Nanoseconds per kernel of `f` run over `n` kernels, best of 7 rounds of `reps` passes.
fn time(n: usize, reps: usize, mut f: impl FnMut() -> f64) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..7 {
        let t0 = Instant::now();
        let mut acc = 0.0;
        for _ in 0..reps {
            acc += f();
        }
        black_box(acc);
        best = best.min(t0.elapsed().as_nanos() as f64 / (reps * n) as f64);
    }
    best
}

fn cached(cache: &mut FxHashMap<Kernel, f64>, b: &dyn KernelBackend, k: &Kernel) -> f64 {
    if let Some(t) = cache.get(k) {
        return *t;
    }
    let t = b.kernel_time(k).unwrap();
    cache.insert(*k, t);
    t
}

fn main() {
    // `cargo bench` does not build a cdylib-only library target: build it (a no-op when up
    // to date) into this bench's target directory and profile (`target/<profile>/deps/..`).
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let profile = profile_dir.file_name().unwrap().to_string_lossy().to_string();
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "-p", "reallm-roofline-cdylib", "--profile", if profile == "debug" { "dev" } else { &profile }])
        .arg("--target-dir")
        .arg(profile_dir.parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "building reallm-roofline-cdylib failed");
    let lib = profile_dir.join(format!("{}reallm_roofline_cdylib{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX));
    let dynlib = load_library(&lib).unwrap_or_else(|e| panic!("{}: {e} (build it: cargo build -p reallm-roofline-cdylib)", lib.display()));
    let dev = device();
    let params = serde_json::json!({});
    let stat: Box<dyn KernelBackend> = Box::new(reallm_roofline::Roofline::new(dev.clone(), Default::default()).unwrap());
    let dynm = dynlib.new_backend("roofline", &params, &dev).unwrap();
    let ks = kernels();
    let n = ks.len();
    for k in &ks {
        assert_eq!(stat.kernel_time(k).unwrap().to_bits(), dynm.kernel_time(k).unwrap().to_bits());
    }

    let single = |b: &dyn KernelBackend| time(n, 200, || ks.iter().map(|k| b.kernel_time(black_box(k)).unwrap()).sum());
    let batched = |b: &dyn KernelBackend| {
        let mut out = vec![0.0; n];
        time(n, 200, || {
            b.kernel_times(black_box(&ks), &mut out).unwrap();
            out[n - 1]
        })
    };
    // Cache on: a simulation's steady state, where nearly every lookup hits (the first pass
    // fills the cache; later passes only look up).
    let with_cache = |b: &dyn KernelBackend| {
        let mut cache = FxHashMap::default();
        time(n, 200, || ks.iter().map(|k| cached(&mut cache, b, black_box(k))).sum())
    };

    let rows = [
        ("no cache, one call per kernel", single(stat.as_ref()), single(dynm.as_ref())),
        ("no cache, one batched call (512 kernels)", batched(stat.as_ref()), batched(dynm.as_ref())),
        ("host cache on (steady state)", with_cache(stat.as_ref()), with_cache(dynm.as_ref())),
    ];
    println!("roofline backend, {n} distinct kernels; ns per kernel (best of 7)");
    println!("{:<44} {:>10} {:>10} {:>10}", "case", "static", "dynamic", "overhead");
    for (name, s, d) in rows {
        println!("{name:<44} {s:>10.1} {d:>10.1} {:>10.1}", d - s);
    }
}
