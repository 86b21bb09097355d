//! Dynamic plugins: real cdylibs and a real C library, built, copied into temporary plugin
//! directories and loaded through `reallm::loader`.
//!
//! The Rust plugin libraries are workspace members, built here with `cargo build -p ...` into
//! this test binary's own target directory and profile (a no-op when `cargo test --workspace`
//! already built them). The C example is compiled with `cc` (or `$CC`).

use reallm::loader::{self, DynCtor, DynPlugin, LoadReport};
use reallm_plugin_api::{
    BatchPlan, BatchShape, Collective, CollectiveKind, CommAlgo, DType, DeviceSpec, Kernel, KernelBackend, KvView, Limits, LinkScope,
    ModelGraph, ParallelPlan, PluginError, PluginKind, PrefillChunk, RequestState, SchedulerView,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The plugin crates this module loads, and their library files.
const CRATES: &[&str] =
    &["reallm-roofline-cdylib", "reallm-builtins-cdylib", "reallm-example-backend", "reallm-panicky-backend", "reallm-future-abi-plugin"];

fn lib_file(krate: &str) -> String {
    format!("{}{}{}", std::env::consts::DLL_PREFIX, krate.replace('-', "_"), std::env::consts::DLL_SUFFIX)
}

/// `target/<profile>` of this test binary (`target/<profile>/deps/it-…`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).expect("test binary lives in target/<profile>/deps").to_path_buf()
}

/// Build the plugin crates once per test run; returns the directory holding the libraries.
fn built() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let profile_dir = profile_dir();
        let target_dir = profile_dir.parent().unwrap();
        let profile = profile_dir.file_name().unwrap().to_string_lossy().to_string();
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(crate::support::repo()).arg("build").arg("--quiet").arg("--target-dir").arg(target_dir);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        for c in CRATES {
            cmd.args(["-p", c]);
        }
        let out = cmd.output().expect("run cargo to build the plugin libraries");
        assert!(out.status.success(), "building the plugin libraries failed:\n{}", String::from_utf8_lossy(&out.stderr));
        for c in CRATES {
            assert!(profile_dir.join(lib_file(c)).is_file(), "{} was not built", lib_file(c));
        }
        profile_dir
    })
}

/// Compile a C source into a shared library in `dir`.
fn compile_c(source: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("{}{name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX));
    let include = crate::support::repo().join("plugin-api/include");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg(source)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("a C compiler (`cc` or $CC) is needed to build the C example backend");
    assert!(status.success(), "compiling {} failed", source.display());
    out
}

/// A fresh plugin directory holding copies of the named crates' libraries.
fn plugin_dir(crates: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for c in crates {
        std::fs::copy(built().join(lib_file(c)), dir.path().join(lib_file(c))).unwrap();
    }
    dir
}

fn load(dir: &Path) -> LoadReport {
    init_logging();
    loader::load_dirs(&[dir.to_path_buf()])
}

fn find<'a>(r: &'a LoadReport, kind: PluginKind, name: &str) -> &'a DynPlugin {
    r.plugins.iter().find(|p| p.kind == kind && p.name == name).unwrap_or_else(|| {
        let names: Vec<_> = r.plugins.iter().map(|p| format!("{}:{}", p.kind.name(), p.name)).collect();
        panic!("no {kind:?} plugin `{name}` among {names:?}; failures {:?}", r.failures)
    })
}

fn backend(p: &DynPlugin, params: serde_json::Value, dev: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    match &p.ctor {
        DynCtor::Backend(f) => f(&params, dev),
        other => panic!("{} is {other:?}", p.name),
    }
}

fn device(name: &str) -> DeviceSpec {
    reallm::devices::resolve(name, None).unwrap().spec
}

/// Several hundred kernels of every kind, data type and shape regime.
fn kernels() -> Vec<Kernel> {
    use DType::*;
    let mut v = Vec::new();
    for &m in &[1u64, 7, 64, 333, 4096, 65536] {
        for &(k, n) in &[(4096u64, 4096u64), (8192, 28672), (128, 50000), (7168, 1536)] {
            for &(a, w) in &[(Bf16, Bf16), (F8, F8), (Bf16, F8), (F32, F32), (Bf16, F4), (I8, I8)] {
                v.push(Kernel::Gemm { b: 1, m, k, n, a, w, out: Bf16 });
            }
            v.push(Kernel::Gemm { b: 8, m, k: k / 8, n: n / 8, a: F16, w: F16, out: F16 });
            v.push(Kernel::GroupedGemm { groups: 16, rows: m * 8, max_rows: m, k, n: n / 4, a: Bf16, w: F8, out: Bf16 });
        }
        for &dt in &[Bf16, F32, F8] {
            v.push(Kernel::Softmax { m, n: 4096, dtype: dt });
            v.push(Kernel::LayerNorm { m, n: 8192, dtype: dt });
            v.push(Kernel::Silu { m, n: 14336, dtype: dt });
            v.push(Kernel::Gelu { m, n: 14336, dtype: dt });
            v.push(Kernel::Mul { m, n: 14336, dtype: dt });
            v.push(Kernel::Add { m, n: 8192, dtype: dt });
            v.push(Kernel::Rope { m, n: 6144, dtype: dt });
            v.push(Kernel::Embedding { tokens: m, hidden: 8192, dtype: dt });
            v.push(Kernel::TopK { m, n: 256, k: 8, dtype: dt });
        }
    }
    for &(seqs, q, kv) in &[(1u64, 1u64, 1u64), (1, 2048, 2048), (4, 512, 4096), (16, 128, 640), (2, 8192, 8192)] {
        for &causal in &[true, false] {
            for &(d_qk, d_v, kv_shared, kvt) in &[(128u64, 128u64, false, Bf16), (192, 128, false, F8), (576, 512, true, Bf16)] {
                v.push(Kernel::Attention {
                    seqs,
                    q_len: q,
                    kv_len: kv,
                    q_heads: 64,
                    kv_heads: 8,
                    d_qk,
                    d_v,
                    causal,
                    kv_shared,
                    act: Bf16,
                    kv: kvt,
                });
            }
        }
        v.push(Kernel::DecodeAttention {
            seqs: seqs * 16,
            kv_total: seqs * 16 * kv,
            q_heads: 32,
            kv_heads: 8,
            d_qk: 128,
            d_v: 128,
            kv_shared: false,
            act: Bf16,
            kv: F8,
        });
    }
    v
}

fn collectives() -> Vec<Collective> {
    let mut v = Vec::new();
    for kind in [
        CollectiveKind::AllReduce,
        CollectiveKind::AllGather,
        CollectiveKind::ReduceScatter,
        CollectiveKind::AllToAll,
        CollectiveKind::SendRecv,
    ] {
        for &(ranks, scope) in &[(2u32, LinkScope::ScaleUp), (8, LinkScope::ScaleUp), (16, LinkScope::ScaleOut), (64, LinkScope::ScaleOut)]
        {
            for algo in [CommAlgo::Auto, CommAlgo::Ring, CommAlgo::Multishot] {
                for &bytes in &[1u64, 4096, 16 << 20, 1 << 30] {
                    v.push(Collective { kind, bytes, ranks, scope, algo });
                }
            }
        }
    }
    v
}

/// Static and dynamic backends agree to the bit on every kernel and collective, one at a
/// time and batched. Errors must agree too.
fn assert_identical(stat: &dyn KernelBackend, dynm: &dyn KernelBackend, ks: &[Kernel], what: &str) -> usize {
    let mut checked = 0;
    for k in ks {
        match (stat.kernel_time(k), dynm.kernel_time(k)) {
            (Ok(a), Ok(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{what}: {k:?}: static {a} dynamic {b}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}: {k:?}"),
            (a, b) => panic!("{what}: {k:?}: static {a:?} dynamic {b:?}"),
        }
        checked += 1;
    }
    let ok: Vec<Kernel> = ks.iter().copied().filter(|k| stat.kernel_time(k).is_ok()).collect();
    let (mut a, mut b) = (vec![0.0; ok.len()], vec![0.0; ok.len()]);
    stat.kernel_times(&ok, &mut a).unwrap();
    dynm.kernel_times(&ok, &mut b).unwrap();
    assert_eq!(a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), "{what}: batched");
    for c in collectives() {
        match (stat.collective_time(&c), dynm.collective_time(&c)) {
            (Ok(a), Ok(b)) => assert_eq!(a.to_bits(), b.to_bits(), "{what}: {c:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{what}: {c:?}"),
            (a, b) => panic!("{what}: {c:?}: static {a:?} dynamic {b:?}"),
        }
        checked += 1;
    }
    checked
}

// ---- a logger that records what reaches the host ----

static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            RECORDS.lock().unwrap().push((r.level(), r.target().to_string(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

/// The host's logger for this module, at level info (as `RUST_LOG=info` would set it).
fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if log::set_logger(&Capture).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
    });
}

// ---- the tests ----

#[test]
fn dynamic_roofline_is_bit_identical_to_the_static_one() {
    let dir = plugin_dir(&["reallm-roofline-cdylib"]);
    let r = load(dir.path());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let p = find(&r, PluginKind::Backend, "roofline");
    assert_eq!(p.origin, dir.path().join(lib_file("reallm-roofline-cdylib")));
    assert!(!p.summary.is_empty() && !p.version.is_empty());
    let mut checked = 0;
    for dev in ["A100-SXM-80GB", "H100-SXM", "GH100"] {
        let d = device(dev);
        for params in [
            serde_json::json!({}),
            serde_json::json!({"calibration": "none"}),
            serde_json::json!({"compute_efficiency": 0.7, "link_efficiency": 0.8}),
        ] {
            let stat = reallm::registry::backend("roofline", &params, &d).unwrap();
            let dynm = backend(p, params.clone(), &d).unwrap();
            checked += assert_identical(stat.as_ref(), dynm.as_ref(), &kernels(), &format!("roofline on {dev} with {params}"));
        }
    }
    assert!(checked > 3000, "{checked}");
    // Bad parameters are reported the same way as for the static plugin.
    let e = backend(p, serde_json::json!({"compute_efficiency": 2.0}), &device("H100-SXM")).err().unwrap();
    let s = reallm::registry::backend("roofline", &serde_json::json!({"compute_efficiency": 2.0}), &device("H100-SXM")).err().unwrap();
    assert!(s.to_string().contains(&e.to_string()), "static `{s}` dynamic `{e}`");
}

#[test]
fn every_builtin_gives_identical_results_dynamically() {
    let dir = plugin_dir(&["reallm-builtins-cdylib", "reallm-roofline-cdylib"]);
    let r = load(dir.path());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    // Every built-in is in one of the two libraries, with the same description.
    for reg in reallm::registry::all() {
        let p = r.plugins.iter().find(|p| p.kind == reg.kind && p.name == reg.name).unwrap_or_else(|| {
            panic!("built-in {} `{}` is in neither plugin library (add its crate to plugins/builtins-cdylib)", reg.kind.name(), reg.name)
        });
        assert_eq!(p.aliases, reg.aliases);
        assert_eq!(p.presets, reg.presets);
        assert_eq!(p.example_params, reg.example_params);
    }

    // llmcompass: bit-identical costs.
    let h100 = device("H100-SXM");
    let stat = reallm::registry::backend("llmcompass", &serde_json::Value::Null, &h100).unwrap();
    let dynm = backend(find(&r, PluginKind::Backend, "llmcompass"), serde_json::Value::Null, &h100).unwrap();
    // (A sample: the tile search makes llmcompass slow in debug builds.)
    let sample: Vec<Kernel> = kernels().into_iter().step_by(9).collect();
    assert_identical(stat.as_ref(), dynm.as_ref(), &sample, "llmcompass");

    // Models: identical info and step graphs (graphs cross as JSON; floats must round-trip).
    let shapes = [
        BatchShape { prefills: vec![PrefillChunk { tokens: 1000, prefix: 0, last: true }], ..Default::default() },
        BatchShape {
            prefills: vec![PrefillChunk { tokens: 512, prefix: 1024, last: false }],
            decode_seqs: 37,
            decode_ctx_sum: 37 * 1500,
            seed: 42,
        },
    ];
    let mut graphs = Vec::new();
    for (family, preset) in [("llama", "llama3-70b"), ("deepseek", "deepseekv3")] {
        let params = serde_json::json!({ "preset": preset });
        let stat = reallm::registry::model(family, &params).unwrap();
        let DynCtor::Model(f) = &find(&r, PluginKind::Model, family).ctor else { unreachable!() };
        let dynm = f(&params).unwrap();
        assert_eq!(stat.info(), dynm.info(), "{family}");
        for shape in &shapes {
            let (mut a, mut b) = (ModelGraph::default(), ModelGraph::default());
            stat.build_step(shape, &mut a).unwrap();
            dynm.build_step(shape, &mut b).unwrap();
            assert_eq!(a, b, "{family} {shape:?}");
            assert_eq!(a.replicated_flops.to_bits(), b.replicated_flops.to_bits());
            graphs.push((stat.info().clone(), a));
        }
    }

    // Parallelism: identical notes and rewritten graphs.
    let mut plan = ParallelPlan::tensor(8);
    plan.ffn.ep = 1;
    for name in ["tp", "dp", "cp", "ep", "pp"] {
        let stat = reallm::registry::parallelism(name, &serde_json::Value::Null).unwrap();
        let DynCtor::Parallelism(f) = &find(&r, PluginKind::Parallelism, name).ctor else { unreachable!() };
        let dynm = f(&serde_json::Value::Null).unwrap();
        for (info, graph) in &graphs {
            let (a, b) = (stat.validate(info, &plan), dynm.validate(info, &plan));
            assert_eq!(a.as_ref().map_err(|e| e.to_string()), b.as_ref().map_err(|e| e.to_string()), "{name} validate");
            let (mut ga, mut gb) = (graph.clone(), graph.clone());
            let (a, b) = (stat.apply(info, &plan, &mut ga), dynm.apply(info, &plan, &mut gb));
            assert_eq!(a.map_err(|e| e.to_string()), b.map_err(|e| e.to_string()), "{name} apply");
            assert_eq!(ga, gb, "{name}");
        }
    }

    // Batch policies: identical plans.
    let mut waiting: Vec<RequestState> = (0..40).map(|i| RequestState::new(i, i as f64 * 0.25, 100 + 37 * i as u32 % 900, 50)).collect();
    waiting[3].priority = 2;
    let mut running: Vec<RequestState> = (100..120).map(|i| RequestState::new(i, 0.0, 300, 80)).collect();
    for (j, r) in running.iter_mut().enumerate() {
        r.prefilled = if j % 3 == 0 { 128 } else { 300 };
        r.generated = if j % 3 == 0 { 0 } else { 1 + j as u32 };
        r.kv_blocks = 20;
    }
    let view = SchedulerView {
        now_s: 10.0,
        waiting: &waiting,
        running: &running,
        kv: KvView { total_blocks: 2000, free_blocks: 600, block_tokens: 16, watermark_blocks: 20 },
        limits: Limits { max_batch_seqs: 64, max_batch_tokens: 2048, chunk_tokens: 512 },
    };
    let names: Vec<String> = r.plugins.iter().filter(|p| p.kind == PluginKind::Batching).map(|p| p.name.clone()).collect();
    assert!(names.len() >= 4, "{names:?}");
    for name in &names {
        let stat = reallm::registry::batching(name, &serde_json::Value::Null).unwrap();
        let DynCtor::Batching(f) = &find(&r, PluginKind::Batching, name).ctor else { unreachable!() };
        let dynm = f(&serde_json::Value::Null).unwrap();
        let (mut a, mut b) = (BatchPlan::default(), BatchPlan::default());
        stat.schedule(&view, &mut a);
        dynm.schedule(&view, &mut b);
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn template_backend_changes_results_as_expected() {
    let dir = plugin_dir(&["reallm-example-backend"]);
    let r = load(dir.path());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let p = find(&r, PluginKind::Backend, "example-accel");
    assert!(p.example_params.contains("sram_bytes"));
    let h100 = device("H100-SXM");
    let plain = backend(p, serde_json::json!({"compute_efficiency": 1.0, "memory_efficiency": 1.0}), &h100).unwrap();
    let sram =
        backend(p, serde_json::json!({"memory_efficiency": 1.0, "sram_bytes": 50_000_000, "sram_bw_bytes_per_s": 2.0e13}), &h100).unwrap();
    let ideal = reallm::registry::backend("roofline", &serde_json::json!({"calibration": "none"}), &h100).unwrap();

    // A residual add of [1024, 8192] bf16 moves 3·1024·8192·2 = 50 331 648 bytes: over the 50 MB
    // SRAM, so it runs from DRAM as in the ideal roofline (FLOPs 8.4e6 are negligible).
    let big = Kernel::Add { m: 1024, n: 8192, dtype: DType::Bf16 };
    assert_eq!(plain.kernel_time(&big).unwrap(), 50_331_648.0 / h100.mem_bw_bytes_per_s);
    assert_eq!(sram.kernel_time(&big).unwrap(), 50_331_648.0 / h100.mem_bw_bytes_per_s);
    // With efficiencies of 1 the template is the ideal roofline for this memory-bound kernel.
    assert_eq!(plain.kernel_time(&big).unwrap(), ideal.kernel_time(&big).unwrap());
    // Half the rows (25 165 824 bytes) fit: SRAM at 2e13 B/s → 1.2583e-6 s instead of
    // 25 165 824 / 3.35e12 ≈ 7.51e-6 s from HBM.
    let small = Kernel::Add { m: 512, n: 8192, dtype: DType::Bf16 };
    assert_eq!(sram.kernel_time(&small).unwrap(), 25_165_824.0 / 2.0e13);
    assert!(sram.kernel_time(&small).unwrap() < plain.kernel_time(&small).unwrap() / 5.0);
    // A compute-bound GEMM is unaffected by the SRAM: 2·8192³ / (peak · 0.8 default efficiency).
    let gemm = Kernel::matmul(8192, 8192, 8192, DType::Bf16);
    assert_eq!(sram.kernel_time(&gemm).unwrap(), 2.0 * 8192f64.powi(3) / (h100.peak_matmul_flops * 0.8));
    // Its own validation: errors name the plugin.
    let e = backend(p, serde_json::json!({"compute_efficiency": 0.0}), &h100).err().unwrap().to_string();
    assert!(e.contains("example-accel") && e.contains("compute_efficiency"), "{e}");
}

#[test]
fn a_panicking_plugin_is_an_error_naming_it_not_an_abort() {
    let dir = plugin_dir(&["reallm-panicky-backend"]);
    let r = load(dir.path());
    let p = find(&r, PluginKind::Backend, "panicky");
    let b = backend(p, serde_json::Value::Null, &device("A100-SXM-80GB")).unwrap();
    let gemm = Kernel::matmul(16, 16, 16, DType::Bf16);
    assert_eq!(b.kernel_time(&gemm).unwrap(), 1e-6);
    let e = b.kernel_time(&Kernel::Silu { m: 1, n: 1, dtype: DType::Bf16 }).unwrap_err().to_string();
    assert!(e.contains("plugin `panicky`") && e.contains("panicked") && e.contains("cannot cost a silu"), "{e}");
    assert!(e.contains(&lib_file("reallm-panicky-backend")), "names the library: {e}");
    // The batch form reports it too, and the instance keeps working afterwards.
    let mut out = [0.0; 2];
    assert!(b.kernel_times(&[gemm, Kernel::Add { m: 1, n: 1, dtype: DType::Bf16 }], &mut out).is_err());
    assert_eq!(b.kernel_time(&gemm).unwrap(), 1e-6);
    // A panic in the constructor.
    let e = backend(p, serde_json::json!({"panic_in_create": true}), &device("A100-SXM-80GB")).err().unwrap().to_string();
    assert!(e.contains("panicked") && e.contains("asked to panic in its constructor"), "{e}");
    // A plugin error crosses as itself.
    let c = Collective { kind: CollectiveKind::AllReduce, bytes: 8, ranks: 2, scope: LinkScope::ScaleUp, algo: CommAlgo::Auto };
    assert_eq!(b.collective_time(&c), Err(PluginError::Unsupported("panicky costs no collectives".into())));

    // A batch policy cannot return an error: the host side raises a panic naming the plugin.
    let DynCtor::Batching(f) = &find(&r, PluginKind::Batching, "panicky-batch").ctor else { unreachable!() };
    let policy = f(&serde_json::Value::Null).unwrap();
    let waiting = [RequestState::new(0, 0.0, 10, 10)];
    let view = SchedulerView {
        now_s: 0.0,
        waiting: &waiting,
        running: &[],
        kv: KvView { total_blocks: 10, free_blocks: 10, block_tokens: 16, watermark_blocks: 0 },
        limits: Limits { max_batch_seqs: 8, max_batch_tokens: 256, chunk_tokens: 0 },
    };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| policy.schedule(&view, &mut BatchPlan::default()))).unwrap_err();
    let msg = caught.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("plugin `panicky-batch`") && msg.contains("refuses to schedule 1 waiting"), "{msg}");
}

#[test]
fn incompatible_and_foreign_libraries_are_reported_and_skipped() {
    let dir = plugin_dir(&["reallm-future-abi-plugin", "reallm-roofline-cdylib"]);
    let ext = std::env::consts::DLL_SUFFIX;
    // Not a shared library at all.
    std::fs::write(dir.path().join(format!("libnotes{ext}")), "these are notes, not code\n").unwrap();
    // A genuine shared library that is no plugin.
    let src = dir.path().join("plain.c");
    std::fs::write(&src, "int plain_answer(void) { return 42; }\n").unwrap();
    compile_c(&src, dir.path(), "plain");
    // Ignored: not a library file name.
    std::fs::write(dir.path().join("README.txt"), "ignored").unwrap();

    let r = load(dir.path());
    // The good library still loads.
    find(&r, PluginKind::Backend, "roofline");
    assert_eq!(r.plugins.len(), 1, "{:?}", r.plugins.iter().map(|p| &p.name).collect::<Vec<_>>());
    let reason = |file: &str| {
        r.failures
            .iter()
            .find(|f| f.path.file_name().unwrap() == file)
            .unwrap_or_else(|| panic!("no failure for {file}: {:?}", r.failures))
            .reason
            .clone()
    };
    assert_eq!(r.failures.len(), 3, "{:?}", r.failures);
    let future = reason(&lib_file("reallm-future-abi-plugin"));
    assert_eq!(
        future,
        format!(
            "incompatible plugin: built against reallm-plugin-api 2.0.0, this host implements {} (major versions must match)",
            reallm_plugin_api::API_VERSION
        )
    );
    assert!(reason(&format!("libnotes{ext}")).starts_with("not a loadable shared library"), "{}", reason(&format!("libnotes{ext}")));
    assert_eq!(
        reason(&format!("{}plain{ext}", std::env::consts::DLL_PREFIX)),
        "not a ReaLLM plugin: it exports neither a Rust plugin root module nor `reallm_backend_abi_version`"
    );
    for f in &r.failures {
        assert!(!f.reason.contains('\n'), "one line: {}", f.reason);
        assert!(!f.detail.is_empty());
    }
}

#[test]
fn plugin_logs_reach_the_hosts_logger_at_its_level() {
    let dir = plugin_dir(&["reallm-panicky-backend"]);
    let r = load(dir.path());
    let mut d = device("A100-SXM-80GB");
    d.name = "log-test-device".into();
    backend(find(&r, PluginKind::Backend, "panicky"), serde_json::Value::Null, &d).unwrap();
    let records = RECORDS.lock().unwrap().clone();
    let target = "reallm_panicky_backend";
    let got = |msg: &str| records.iter().find(|(_, t, m)| t == target && m == msg).map(|(l, _, _)| *l);
    assert_eq!(got("panicky created on log-test-device"), Some(log::Level::Info), "{records:?}");
    assert_eq!(got("panicky warn record"), Some(log::Level::Warn));
    assert_eq!(got("panicky error record"), Some(log::Level::Error));
    // The host runs at info: the library's debug and trace records never cross.
    assert!(!records.iter().any(|(_, _, m)| m == "panicky debug record" || m == "panicky trace record"), "{records:?}");
}

#[test]
fn c_backend_loads_and_costs_through_the_c_abi() {
    let dir = tempfile::tempdir().unwrap();
    let src = crate::support::repo().join("plugins/example-c-backend/example_c_backend.c");
    let lib = compile_c(&src, dir.path(), "c_roofline");
    let r = load(dir.path());
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let p = find(&r, PluginKind::Backend, "c-roofline");
    assert_eq!(p.origin, lib);
    assert_eq!(p.version, "0.1.0");
    assert!(p.example_params.contains("efficiency"));
    let h100 = device("H100-SXM");
    let b = backend(p, serde_json::json!({"efficiency": 0.5, "launch_overhead_s": 1e-6}), &h100).unwrap();

    // The same formula in Rust: max(flops / (peak(dtype) · 0.5), bytes / bw) + 1 µs.
    let expect = |k: &Kernel| {
        let peak = if k.uses_matrix_units() { h100.peak_matmul_flops_for(k.compute_dtype()) } else { h100.peak_vector_flops };
        (k.flops() / (peak * 0.5)).max(k.bytes() / h100.mem_bw_bytes_per_s) + 1e-6
    };
    let ks = kernels();
    let mut out = vec![0.0; ks.len()];
    b.kernel_times(&ks, &mut out).unwrap();
    for (k, t) in ks.iter().zip(&out) {
        let e = expect(k);
        assert!((t - e).abs() <= 1e-12 * e, "{k:?}: C {t} Rust {e}");
        assert_eq!(b.kernel_time(k).unwrap().to_bits(), t.to_bits());
    }
    // A 8192³ bf16 GEMM: 2·8192³ = 1.0995e12 FLOPs at half the H100's peak, plus 1 µs.
    let g = Kernel::matmul(8192, 8192, 8192, DType::Bf16);
    assert!((b.kernel_time(&g).unwrap() - (1.0995116277760e12 / (h100.peak_matmul_flops * 0.5) + 1e-6)).abs() < 1e-9);

    // Ring all-reduce of 1 GiB over 8 ranks: 14 · latency + 14/8 · 2³⁰ / (link bw · links).
    let ic = &h100.interconnect;
    let ar = Collective { kind: CollectiveKind::AllReduce, bytes: 1 << 30, ranks: 8, scope: LinkScope::ScaleUp, algo: CommAlgo::Ring };
    let want = 14.0 * ic.link_latency_s + 1.75 * (1u64 << 30) as f64 / (ic.link_bw_per_direction_bytes_per_s * ic.link_count as f64);
    assert!((b.collective_time(&ar).unwrap() - want).abs() <= 1e-12 * want);
    // Its errors: unsupported collective, bad parameters.
    let ag = Collective { kind: CollectiveKind::AllGather, ..ar };
    let e = b.collective_time(&ag).unwrap_err();
    assert!(matches!(&e, PluginError::Unsupported(m) if m.contains("c-roofline") && m.contains("only all-reduce")), "{e}");
    let e = backend(p, serde_json::json!({"efficiency": 3}), &h100).err().unwrap().to_string();
    assert!(e.contains("c-roofline") && e.contains("efficiency must be in (0, 1]"), "{e}");
}

#[test]
fn a_library_is_loaded_once_and_directories_are_searched_in_order() {
    let a = plugin_dir(&["reallm-example-backend"]);
    let b = plugin_dir(&["reallm-roofline-cdylib"]);
    // The same directory twice, and a missing one.
    let missing = a.path().join("nope");
    let r = {
        init_logging();
        loader::load_dirs(&[b.path().to_path_buf(), a.path().to_path_buf(), b.path().to_path_buf(), missing.clone()])
    };
    let names: Vec<&str> = r.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, vec!["roofline", "example-accel"]);
    assert_eq!(r.failures.len(), 1);
    assert_eq!((r.failures[0].path.clone(), r.failures[0].reason.as_str()), (missing, "plugin directory does not exist"));
    // CLI first, then the configuration's directories.
    let dirs = loader::dirs_from(&[a.path().into()], None, &[b.path().into()], None);
    assert_eq!(dirs, vec![a.path().to_path_buf(), b.path().to_path_buf()]);
}

/// Through the CLI: a plugin directory is listed with its origin, its backend is selected with
/// `--plugin`, it changes the results, a built-in shadowed by a library is an error naming both,
/// and a panicking backend ends the run with the plugin error code, not an abort.
#[test]
fn cli_loads_selects_and_rejects_plugins() {
    let dir = plugin_dir(&["reallm-example-backend"]);
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut c = crate::support::reallm(work.path());
        c.arg("--plugin-dir").arg(dir.path()).args(["--set", "workload.max_requests=5"]).args(args);
        c.output().unwrap()
    };
    let out = run(&["plugins"]);
    let text = crate::support::stdout(&out);
    assert!(text.contains("example-accel") && text.contains(&lib_file("reallm-example-backend")), "{text}");
    let ours = run(&["--plugin", "backend=example-accel", "sim", "--summary-json", "a.json"]);
    assert!(ours.status.success(), "{}", crate::support::stderr(&ours));
    let base = run(&["sim", "--summary-json", "b.json"]);
    assert!(base.status.success());
    let a = std::fs::read_to_string(work.path().join("a.json")).unwrap();
    let b = std::fs::read_to_string(work.path().join("b.json")).unwrap();
    assert_ne!(a, b, "the template backend changes the results");
    // A library that re-exports the built-in roofline shadows it: `plugins` lists both and
    // marks the conflict (exit 0); selecting the ambiguous name is the error, naming both.
    let clash = plugin_dir(&["reallm-roofline-cdylib"]);
    let out = crate::support::reallm(work.path()).arg("--plugin-dir").arg(clash.path()).arg("plugins").output().unwrap();
    let listing = crate::support::stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::stderr(&out));
    assert!(listing.contains("CONFLICT") && listing.contains(&lib_file("reallm-roofline-cdylib")), "{listing}");
    let out = crate::support::reallm(work.path())
        .arg("--plugin-dir")
        .arg(clash.path())
        .args(["--plugin", "backend=roofline", "sim"])
        .output()
        .unwrap();
    let err = crate::support::stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("ambiguous") && err.contains("built-in") && err.contains(&lib_file("reallm-roofline-cdylib")), "{err}");
    // A panicking backend: a clear error and a non-zero exit.
    let bad = plugin_dir(&["reallm-panicky-backend"]);
    let out = crate::support::reallm(work.path()).arg("--plugin-dir").arg(bad.path()).args(["plugins"]).output().unwrap();
    let listing = crate::support::stdout(&out);
    let name = listing.lines().find(|l| l.contains("panicky")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("panicky").to_string();
    let out = crate::support::reallm(work.path())
        .arg("--plugin-dir")
        .arg(bad.path())
        .args(["--plugin", &format!("backend={name}"), "--set", "workload.max_requests=3", "sim"])
        .output()
        .unwrap();
    let err = crate::support::stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("panick") && !err.contains("Aborted"), "{err}");
}
