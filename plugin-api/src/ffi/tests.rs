//! In-process round trips through both halves of the ABI (no `dlopen`: the library side's
//! root module is called directly). The integration tests load real cdylibs.

use super::abi::FfiLogger;
use super::host_side::from_root;
use super::*;
use crate::batch::{BatchPlan, KvView, Limits, RequestState, SchedulerView, Source};
use crate::device::DeviceSpec;
use crate::dtype::DType;
use crate::error::PluginError;
use crate::kernel::{Collective, CollectiveKind, CommAlgo, Kernel, LinkScope};
use crate::model::{BatchShape, ModelGraph, ModelInfo, Phase, Segment, SegmentKind, Shard, Stage, WeightBytes, WorkItem};
use crate::parallel::ParallelPlan;
use crate::registry::{Constructor, PluginInfo, PluginRegistration};
use crate::traits::{BatchPolicy, KernelBackend, ModelArch, Parallelism};
use crate::{parse_params, register_plugin};
use abi_stable::std_types::RStr;
use std::path::Path;
use std::sync::Mutex;

// ---- a test plugin of each kind, registered in this test binary ----

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct ScaleParams {
    scale: f64,
}

/// Time = FLOPs / peak × scale; a softmax panics; a collective costs bytes / link bandwidth.
struct TestBackend {
    peak: f64,
    link_bw: f64,
    scale: f64,
}

impl KernelBackend for TestBackend {
    fn kernel_time(&self, k: &Kernel) -> Result<f64, PluginError> {
        match k {
            Kernel::Softmax { .. } => panic!("softmax is not implemented"),
            Kernel::Rope { .. } => Err(PluginError::unsupported("rope")),
            _ => {
                log::info!(target: "ffi_test", "costing {}", k.kind_name());
                log::trace!(target: "ffi_test", "trace detail");
                Ok(k.flops() / self.peak * self.scale)
            }
        }
    }
    fn collective_time(&self, c: &Collective) -> Result<f64, PluginError> {
        Ok(c.bytes as f64 / self.link_bw)
    }
}

fn test_backend(params: &serde_json::Value, device: &DeviceSpec) -> Result<Box<dyn KernelBackend>, PluginError> {
    let p: ScaleParams = parse_params("ffi-test-backend", params)?;
    Ok(Box::new(TestBackend {
        peak: device.peak_matmul_flops,
        link_bw: device.interconnect.link_bw_per_direction_bytes_per_s,
        scale: p.scale,
    }))
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Backend,
        name: "ffi-test-backend",
        aliases: &["ffi-alias"],
        version: "0.0.1",
        summary: "test",
        example_params: "scale: 1.0\n",
        presets: &[],
    },
    ctor: Constructor::Backend(test_backend),
});

fn test_info() -> ModelInfo {
    ModelInfo {
        name: "tiny".into(),
        family: "test".into(),
        n_layers: 2,
        hidden: 64,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
        ffn_dim: 128,
        vocab: 1000,
        n_routed_experts: 0,
        n_shared_experts: 0,
        experts_per_token: 0,
        moe_ffn_dim: 0,
        first_dense_layers: 0,
        weight_dtype: DType::Bf16,
        act_dtype: DType::Bf16,
        kv_dtype: DType::Bf16,
        params_total: 123_456,
        params_active: 123_456,
        weights: WeightBytes { attention: 1, ..Default::default() },
        kv_bytes_per_token: 256,
        max_context: 4096,
        kv_window_tokens: 0,
        kv_windowed_layers: 0,
    }
}

struct TestModel(ModelInfo);

impl ModelArch for TestModel {
    fn info(&self) -> &ModelInfo {
        &self.0
    }
    fn build_step(&self, batch: &BatchShape, graph: &mut ModelGraph) -> Result<(), PluginError> {
        let t = batch.tokens();
        graph.stages.push(Stage {
            segments: vec![Segment {
                kind: SegmentKind::Layers,
                first_layer: 0,
                n_layers: self.0.n_layers,
                items: vec![WorkItem::kernel(Kernel::matmul(t, 64, 128, DType::Bf16), Shard::Column, Phase::Ffn)],
            }],
        });
        // A value that a lossy float parser would not return bit-exactly.
        graph.replicated_flops = 0.1 + 0.2;
        Ok(())
    }
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Model,
        name: "ffi-test-model",
        aliases: &[],
        version: "0.0.1",
        summary: "test",
        example_params: "",
        presets: &["tiny"]
    },
    ctor: Constructor::Model(|_| Ok(Box::new(TestModel(test_info())))),
});

/// Halves every GEMM's `n` (a TP-2 column split) and notes the degree.
struct TestPar;

impl Parallelism for TestPar {
    fn validate(&self, model: &ModelInfo, plan: &ParallelPlan) -> Result<Vec<String>, PluginError> {
        if model.n_heads.checked_rem(plan.attention.tp as u64) != Some(0) {
            return Err(PluginError::invalid("tp does not divide heads"));
        }
        Ok(vec![format!("tp{}", plan.attention.tp)])
    }
    fn apply(&self, _model: &ModelInfo, plan: &ParallelPlan, graph: &mut ModelGraph) -> Result<(), PluginError> {
        for seg in graph.stages.iter_mut().flat_map(|s| s.segments.iter_mut()) {
            for it in &mut seg.items {
                if let crate::model::WorkKind::Kernel(Kernel::Gemm { n, .. }) = &mut it.work {
                    *n /= plan.attention.tp as u64;
                }
            }
        }
        Ok(())
    }
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Parallelism,
        name: "ffi-test-par",
        aliases: &[],
        version: "0.0.1",
        summary: "",
        example_params: "",
        presets: &[]
    },
    ctor: Constructor::Parallelism(|_| Ok(Box::new(TestPar))),
});

/// Admits every waiting request whole, decodes every running one; panics when the clock
/// reads exactly 13 s.
struct TestBatch;

impl BatchPolicy for TestBatch {
    fn schedule(&self, view: &SchedulerView<'_>, plan: &mut BatchPlan) {
        assert!(view.now_s != 13.0, "unlucky time");
        for (i, r) in view.running.iter().enumerate() {
            plan.push(Source::Running, i, 1 + r.preemptions);
        }
        for (i, r) in view.waiting.iter().enumerate() {
            plan.push(Source::Waiting, i, r.prompt_tokens.min(view.limits.chunk_tokens) + view.kv.free_blocks as u32);
        }
    }
}

register_plugin!(PluginRegistration {
    info: PluginInfo {
        kind: PluginKind::Batching,
        name: "ffi-test-batch",
        aliases: &[],
        version: "0.0.1",
        summary: "",
        example_params: "",
        presets: &[]
    },
    ctor: Constructor::Batching(|_| Ok(Box::new(TestBatch))),
});

// ---- the harness ----

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

extern "C" fn capture(level: u8, target: RStr<'_>, message: RStr<'_>) {
    LOG.lock().unwrap().push(format!("{level} {target}: {message}"));
}

fn library() -> DynLibrary {
    // Host level "info" (3): trace records must not cross.
    from_root(plugin_root_module(), Path::new("in-process"), FfiLogger { max_level: 3, log: capture }).unwrap()
}

fn device() -> DeviceSpec {
    crate::test_support::toy_device()
}

#[test]
fn lists_the_libraries_plugins() {
    let lib = library();
    let b = lib.plugins().iter().find(|p| p.name == "ffi-test-backend").unwrap();
    assert_eq!(b.kind, PluginKind::Backend);
    assert_eq!(b.aliases, vec!["ffi-alias".to_string()]);
    assert_eq!(b.example_params, "scale: 1.0\n");
    let m = lib.plugins().iter().find(|p| p.name == "ffi-test-model").unwrap();
    assert_eq!(m.presets, vec!["tiny".to_string()]);
    for kind in PluginKind::ALL {
        assert!(lib.plugins().iter().any(|p| p.kind == kind), "{kind:?}");
    }
}

#[test]
fn backend_round_trip_is_exact_and_errors_name_the_plugin() {
    let lib = library();
    let dev = device();
    let b = lib.new_backend("ffi-test-backend", &serde_json::json!({"scale": 3.0}), &dev).unwrap();
    let k = Kernel::matmul(4096, 4096, 4096, DType::Bf16);
    // 2·4096³ = 1.374e11 FLOPs / 1e15 FLOP/s (the toy device) × 3 (scale) ≈ 4.123e-4 s.
    let want = k.flops() / 1e15 * 3.0;
    assert_eq!(b.kernel_time(&k).unwrap().to_bits(), want.to_bits());
    let ks = [k, Kernel::matmul(1, 8, 8, DType::F8)];
    let mut out = [0.0; 2];
    b.kernel_times(&ks, &mut out).unwrap();
    assert_eq!(out[1], 2.0 * 64.0 / 1e15 * 3.0);
    assert!(b.kernel_times(&ks, &mut [0.0; 1]).is_err());

    // A collective: 1 MiB over a 25 GB/s link = 4.194e-5 s.
    let c = Collective { kind: CollectiveKind::AllReduce, bytes: 1 << 20, ranks: 8, scope: LinkScope::ScaleUp, algo: CommAlgo::Ring };
    assert_eq!(b.collective_time(&c).unwrap(), (1u64 << 20) as f64 / 2.5e10);

    // The plugin's own error kinds survive; a panic becomes an error naming the plugin.
    let rope = Kernel::Rope { m: 1, n: 1, dtype: DType::Bf16 };
    assert_eq!(b.kernel_time(&rope), Err(PluginError::Unsupported("rope".into())));
    let soft = Kernel::Softmax { m: 1, n: 1, dtype: DType::Bf16 };
    let e = b.kernel_time(&soft).unwrap_err().to_string();
    assert!(e.contains("plugin `ffi-test-backend`") && e.contains("panicked") && e.contains("softmax is not implemented"), "{e}");
    // ... and the instance still works afterwards.
    assert!(b.kernel_time(&k).is_ok());

    // Parameters are checked by the plugin, unknown fields rejected.
    let e = lib.new_backend("ffi-test-backend", &serde_json::json!({"scael": 1}), &dev).err().unwrap();
    assert!(matches!(&e, PluginError::Params { plugin, message } if plugin == "ffi-test-backend" && message.contains("scael")), "{e}");
    let e = lib.new_backend("nope", &serde_json::Value::Null, &dev).err().unwrap().to_string();
    assert!(e.contains("no backend plugin named `nope`"), "{e}");
}

#[test]
fn logs_cross_at_the_hosts_level() {
    let lib = library();
    let b = lib.new_backend("ffi-test-backend", &serde_json::json!({"scale": 1.0}), &device()).unwrap();
    b.kernel_time(&Kernel::Add { m: 1, n: 1, dtype: DType::Bf16 }).unwrap();
    let log = LOG.lock().unwrap().clone();
    assert!(log.iter().any(|l| l == "3 ffi_test: costing add"), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("trace detail")), "{log:?}");
}

#[test]
fn model_and_parallelism_round_trip() {
    let lib = library();
    let m = lib.new_model("ffi-test-model", &serde_json::Value::Null).unwrap();
    assert_eq!(m.info(), &test_info());
    let batch = BatchShape { decode_seqs: 3, decode_ctx_sum: 30, ..Default::default() };
    let mut graph = ModelGraph::default();
    m.build_step(&batch, &mut graph).unwrap();
    let mut native = ModelGraph::default();
    TestModel(test_info()).build_step(&batch, &mut native).unwrap();
    assert_eq!(graph, native);
    assert_eq!(graph.replicated_flops.to_bits(), (0.1f64 + 0.2).to_bits());

    let p = lib.new_parallelism("ffi-test-par", &serde_json::Value::Null).unwrap();
    let plan = ParallelPlan::tensor(2);
    assert_eq!(p.validate(&test_info(), &plan).unwrap(), vec!["tp2".to_string()]);
    assert!(p.validate(&test_info(), &ParallelPlan::tensor(3)).unwrap_err().to_string().contains("tp does not divide"));
    p.apply(&test_info(), &plan, &mut graph).unwrap();
    TestPar.apply(&test_info(), &plan, &mut native).unwrap();
    assert_eq!(graph, native);
}

#[test]
fn batching_round_trip_and_panic() {
    let lib = library();
    let policy = lib.new_batching("ffi-test-batch", &serde_json::Value::Null).unwrap();
    let waiting = [RequestState::new(7, 1.5, 100, 10), RequestState::new(8, 2.5, 10, 10)];
    let mut r = RequestState::new(3, 0.5, 50, 5);
    r.prefilled = 50;
    r.generated = 2;
    r.preemptions = 1;
    let running = [r];
    let kv = KvView { total_blocks: 100, free_blocks: 2, block_tokens: 16, watermark_blocks: 1 };
    let limits = Limits { max_batch_seqs: 8, max_batch_tokens: 512, chunk_tokens: 64 };
    let view = SchedulerView { now_s: 3.0, waiting: &waiting, running: &running, kv, limits };
    let mut plan = BatchPlan::default();
    policy.schedule(&view, &mut plan);
    let mut native = BatchPlan::default();
    TestBatch.schedule(&view, &mut native);
    // Running 0: 1 + 1 preemption = 2 tokens; waiting 0: min(100, 64) + 2 free = 66; waiting 1: 10 + 2 = 12.
    assert_eq!(plan, native);
    assert_eq!(plan.entries.iter().map(|e| e.tokens).collect::<Vec<_>>(), vec![2, 66, 12]);

    let bad = SchedulerView { now_s: 13.0, ..view };
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| policy.schedule(&bad, &mut plan))).unwrap_err();
    let msg = super::plugin_side::panic_message(caught.as_ref());
    assert!(msg.contains("plugin `ffi-test-batch`") && msg.contains("unlucky time"), "{msg}");
}
