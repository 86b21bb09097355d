//! A built serving system (one pool): model, parallel plan, kernel backend, and the cost of
//! one iteration, with a cost cache keyed by kernel shape.

use crate::config::{Experiment, PoolConfig};
use crate::devices::Device;
use crate::error::{Error, Result};
use crate::registry;
use reallm_plugin_api::{
    BatchPolicy, BatchShape, Collective, Kernel, KernelBackend, ModelArch, ModelGraph, ModelInfo, ParallelPlan, Parallelism, WorkKind,
};
use rustc_hash::FxHashMap;

/// The parallelism passes in the order they are applied, with the test that enables each.
pub const PASS_ORDER: [&str; 5] = ["dp", "cp", "tp", "ep", "pp"];

/// Cost of one iteration, broken down.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepCost {
    /// Wall time of the iteration (all stages in sequence), seconds.
    pub total_s: f64,
    /// Kernel time, seconds.
    pub compute_s: f64,
    /// Collective time, seconds.
    pub comm_s: f64,
    /// FLOPs executed per device (summed over stages).
    pub flops: f64,
    /// DRAM bytes moved per device (summed over stages).
    pub bytes: f64,
    /// Time by kind of work, seconds, indexed like [`WORK_KINDS`] (kernel kinds, then
    /// collectives).
    pub by_kind_s: [f64; WORK_KINDS.len()],
}

/// The kinds of work an iteration's time is broken down into.
pub const WORK_KINDS: [&str; 15] = [
    "matmul",
    "bmm",
    "grouped_matmul",
    "flash_attention",
    "decode_attention",
    "softmax",
    "layernorm",
    "silu",
    "gelu",
    "mul",
    "add",
    "rope",
    "embedding",
    "topk",
    "communication",
];

/// Index of a kernel's kind in [`WORK_KINDS`].
pub fn kind_index(k: &Kernel) -> usize {
    match k {
        Kernel::Gemm { b: 1, .. } => 0,
        Kernel::Gemm { .. } => 1,
        Kernel::GroupedGemm { .. } => 2,
        Kernel::Attention { .. } => 3,
        Kernel::DecodeAttention { .. } => 4,
        Kernel::Softmax { .. } => 5,
        Kernel::LayerNorm { .. } => 6,
        Kernel::Silu { .. } => 7,
        Kernel::Gelu { .. } => 8,
        Kernel::Mul { .. } => 9,
        Kernel::Add { .. } => 10,
        Kernel::Rope { .. } => 11,
        Kernel::Embedding { .. } => 12,
        Kernel::TopK { .. } => 13,
    }
}

/// Memory footprint of the model on this pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryPlan {
    pub capacity_bytes_per_device: u64,
    pub weight_bytes_per_device: u64,
    pub activation_reserve_bytes: u64,
    pub kv_bytes_per_device: u64,
    /// KV bytes one token occupies on one device.
    pub kv_bytes_per_token_per_device: u64,
    /// Tokens of KV the replica holds.
    pub kv_token_capacity: u64,
}

/// One pool, ready to cost iterations.
pub struct System {
    pub device: Device,
    pub model: Box<dyn ModelArch>,
    pub info: ModelInfo,
    pub plan: ParallelPlan,
    pub passes: Vec<(String, Box<dyn Parallelism>)>,
    pub backend: Box<dyn KernelBackend>,
    pub backend_name: String,
    pub policy: Box<dyn BatchPolicy>,
    pub pool: PoolConfig,
    pub notes: Vec<String>,
    pub memory: MemoryPlan,
    pub iteration_overhead_s: f64,
    /// Sorted CUDA-graph batch sizes (see `sim.cuda_graph_batch_sizes`).
    pub cuda_graph_batch_sizes: Vec<u32>,
    /// Cache kernel costs by shape (unless the backend says its formula is cheaper).
    pub use_cache: bool,
    /// (seconds, FLOPs, bytes) by kernel shape.
    kernel_cache: FxHashMap<Kernel, (f64, f64, f64)>,
    comm_cache: FxHashMap<Collective, f64>,
    graph: ModelGraph,
    /// Step-cost memo for shapes whose work depends on the decode context only through the
    /// decode-attention kernels (see [`System::step_cost_stages`]).
    /// Keyed by the decode batch size (only decode-only shapes are memoised); `None`: that
    /// shape's graph depends on the context in other ways and is never memoised.
    step_memo: FxHashMap<u64, Option<StepMemo>>,
}

/// A backend's time for `k`, checked to be a finite, non-negative number of seconds.
fn raw_kernel_time(backend: &dyn KernelBackend, name: &str, k: &Kernel) -> Result<f64> {
    let t = backend.kernel_time(k).map_err(|e| Error::plugin(name, e))?;
    if !(t.is_finite() && t >= 0.0) {
        return Err(Error::plugin(name, format!("returned time {t} for {k:?}; expected a finite, non-negative number of seconds")));
    }
    Ok(t)
}

/// The cost of a decode-only step minus its decode-attention kernels (total, per stage), and
/// those kernels, which are re-costed for each iteration's context sum.
type StepMemo = (StepCost, Vec<f64>, Vec<DecodeTemplate>);

/// A decode-attention kernel of a memoised shape: (stage, kernel with a placeholder context,
/// launches per step).
type DecodeTemplate = (usize, Kernel, f64);

/// Build the model plugin an experiment names.
pub fn build_model(exp: &Experiment) -> Result<Box<dyn ModelArch>> {
    let plugin = match &exp.model.plugin {
        Some(p) => p.clone(),
        None => registry::find_model_preset(&exp.model.label)?.name.clone(),
    };
    registry::model(&plugin, &exp.model.params)
}

impl System {
    /// Build the experiment's first pool (colocated, or the prefill pool).
    pub fn build(exp: &Experiment) -> Result<System> {
        Self::build_pool(exp, &exp.pool)
    }

    /// Build one pool of an experiment.
    pub fn build_pool(exp: &Experiment, pool: &PoolConfig) -> Result<System> {
        let pool = pool.clone();
        let device = crate::devices::resolve(&pool.device, exp.base_dir.as_deref())?;
        let model = build_model(exp)?;
        let info = model.info().clone();
        let plan = ParallelPlan {
            devices: pool.num_devices,
            attention: pool.attention,
            ffn: pool.ffn,
            sequence_parallel: pool.sequence_parallel,
            comm_algo: pool.comm_algo,
            devices_per_node: device.spec.interconnect.devices_per_node,
        };
        let (passes, notes) = build_passes(&info, &plan).map_err(|e| match e {
            Error::Plugin { plugin, message } if plugin == "plan" => Error::config(&exp.origin, message),
            other => other,
        })?;
        let backend = registry::backend(&exp.backend.name, &exp.backend.params, &device.spec)?;
        let policy = registry::batching(&pool.batching.name, &pool.batching.params)?;
        let memory = memory_plan(&info, &plan, &pool, &device)?;
        let use_cache = backend.wants_cache();
        Ok(System {
            use_cache,
            device,
            model,
            info,
            plan,
            passes,
            backend,
            backend_name: exp.backend.name.clone(),
            policy,
            pool,
            notes,
            memory,
            iteration_overhead_s: exp.sim.iteration_overhead_s,
            cuda_graph_batch_sizes: exp.sim.cuda_graph_batch_sizes.clone(),
            kernel_cache: FxHashMap::default(),
            comm_cache: FxHashMap::default(),
            graph: ModelGraph::default(),
            step_memo: FxHashMap::default(),
        })
    }

    /// Switch to another parallel plan (same devices and model); used by the kernel stage to
    /// enumerate every plan. Errors if the plan does not fit the model.
    pub fn set_plan(&mut self, plan: ParallelPlan) -> Result<()> {
        let (passes, notes) = build_passes(&self.info, &plan)?;
        self.passes = passes;
        self.notes = notes;
        self.plan = plan;
        Ok(())
    }
}

type Passes = Vec<(String, Box<dyn Parallelism>)>;

/// The parallelism passes a plan needs, validated against the model. A validation failure is
/// reported as `Error::Plugin { plugin: "plan", .. }`.
fn build_passes(info: &ModelInfo, plan: &ParallelPlan) -> Result<(Passes, Vec<String>)> {
    {
        let mut passes = Vec::new();
        let mut notes = Vec::new();
        for name in PASS_ORDER {
            let (a, f) = (&plan.attention, &plan.ffn);
            let on = match name {
                "dp" => a.dp > 1 || f.dp > 1,
                "cp" => a.cp > 1 || f.cp > 1,
                "tp" => a.tp > 1 || f.tp > 1,
                "ep" => f.ep > 1 || a.ep > 1,
                _ => a.pp > 1 || f.pp > 1,
            };
            if !on {
                continue;
            }
            let p = registry::parallelism(name, &serde_json::Value::Null)?;
            let n = p.validate(info, plan).map_err(|e| Error::Plugin {
                plugin: "plan".into(),
                message: format!("parallel plan attention `{}` / ffn `{}` for {}: {e}", plan.attention, plan.ffn, info.name),
            })?;
            notes.extend(n);
            passes.push((name.to_string(), p));
        }
        Ok((passes, notes))
    }
}

impl System {
    /// The per-device work of one step (model graph after every parallelism pass).
    pub fn device_graph(&self, shape: &BatchShape, graph: &mut ModelGraph) -> Result<()> {
        graph.clear();
        self.model.build_step(shape, graph).map_err(|e| Error::plugin(&self.info.family, e))?;
        for (name, p) in &self.passes {
            p.apply(&self.info, &self.plan, graph).map_err(|e| Error::plugin(name, e))?;
        }
        Ok(())
    }

    /// Seconds of one kernel (cached).
    pub fn kernel_time(&mut self, k: &Kernel) -> Result<f64> {
        // Attention kernels carry the batch's context lengths, which change every iteration:
        // caching them would only grow the map.
        let cacheable = self.use_cache && !matches!(k, Kernel::Attention { .. } | Kernel::DecodeAttention { .. });
        if cacheable {
            if let Some(t) = self.kernel_cache.get(k) {
                return Ok(t.0);
            }
        }
        let t = raw_kernel_time(&*self.backend, &self.backend_name, k)?;
        if cacheable {
            self.kernel_cache.insert(*k, (t, k.flops(), k.bytes()));
        }
        Ok(t)
    }

    /// (seconds, FLOPs, bytes) of one kernel, from the cache when possible.
    pub fn kernel_cost(&mut self, k: &Kernel) -> Result<(f64, f64, f64)> {
        if self.use_cache {
            if let Some(t) = self.kernel_cache.get(k) {
                return Ok(*t);
            }
        }
        Ok((self.kernel_time(k)?, k.flops(), k.bytes()))
    }

    /// Seconds of one collective (cached).
    pub fn collective_time(&mut self, c: &Collective) -> Result<f64> {
        if let Some(t) = self.comm_cache.get(c) {
            return Ok(*t);
        }
        let t = self.backend.collective_time(c).map_err(|e| Error::plugin(&self.backend_name, e))?;
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::plugin(
                &self.backend_name,
                format!("returned time {t} for {c:?}; expected a finite, non-negative number of seconds"),
            ));
        }
        self.comm_cache.insert(*c, t);
        Ok(t)
    }

    /// Cost of one iteration over `shape`.
    pub fn step_cost(&mut self, shape: &BatchShape) -> Result<StepCost> {
        let mut graph = std::mem::take(&mut self.graph);
        let r = self.device_graph(shape, &mut graph).and_then(|_| self.cost_graph(&graph));
        self.graph = graph;
        let mut c = r?;
        c.total_s += self.iteration_overhead_s;
        Ok(c)
    }

    /// Cost of one iteration, with the time of each pipeline stage in `stage_s` (cleared
    /// first). The iteration overhead is charged to the first stage.
    pub fn step_cost_stages(&mut self, shape: &BatchShape, stage_s: &mut Vec<f64>) -> Result<StepCost> {
        let mut c = match self.memoised_cost(shape, stage_s)? {
            Some(c) => c,
            None => {
                let mut graph = std::mem::take(&mut self.graph);
                let r = self.device_graph(shape, &mut graph).and_then(|_| self.cost_graph_stages(&graph, stage_s));
                self.graph = graph;
                r?
            }
        };
        c.total_s += self.iteration_overhead_s;
        if let Some(s0) = stage_s.first_mut() {
            *s0 += self.iteration_overhead_s;
        }
        Ok(c)
    }

    /// Decode iterations repeat the same shape with a different context sum. When a shape's
    /// per-device graph depends on the context only through `DecodeAttention.kv_total` (checked
    /// once per shape by building it at two context sums and two seeds and comparing), the
    /// rest is costed once and only the decode-attention kernels are re-costed. The result
    /// equals the full path's up to the rounding of a different summation order.
    fn memoised_cost(&mut self, shape: &BatchShape, stage_s: &mut Vec<f64>) -> Result<Option<StepCost>> {
        // Only decode-only shapes repeat often enough to pay for the probe builds.
        if shape.decode_seqs == 0 || !shape.prefills.is_empty() {
            return Ok(None);
        }
        if !self.step_memo.contains_key(&shape.decode_seqs) {
            let memo = self.build_memo(shape)?;
            self.step_memo.insert(shape.decode_seqs, memo);
        }
        let Some((base, base_stages, templates)) = &self.step_memo[&shape.decode_seqs] else { return Ok(None) };
        let mut c = *base;
        stage_s.clear();
        stage_s.extend_from_slice(base_stages);
        for &(stage, mut k, n) in templates {
            if let Kernel::DecodeAttention { kv_total, .. } = &mut k {
                *kv_total = shape.decode_ctx_sum;
            }
            // Decode attention is never in the kernel cache (its context changes every step).
            let t = raw_kernel_time(&*self.backend, &self.backend_name, &k)?;
            let (flops, bytes) = (k.flops(), k.bytes());
            c.compute_s += t * n;
            c.flops += flops * n;
            c.bytes += bytes * n;
            c.by_kind_s[kind_index(&k)] += t * n;
            c.total_s += t * n;
            stage_s[stage] += t * n;
        }
        Ok(Some(c))
    }

    fn build_memo(&mut self, shape: &BatchShape) -> Result<Option<StepMemo>> {
        let memo = None;
        let probe = |ctx: u64, seed: u64| BatchShape {
            prefills: shape.prefills.clone(),
            decode_seqs: shape.decode_seqs,
            decode_ctx_sum: ctx,
            seed,
        };
        let (a, b) = (probe(shape.decode_seqs * 1000 + 7, 1), probe(shape.decode_seqs * 3000 + 11, 2));
        let (mut ga, mut gb) = (ModelGraph::default(), ModelGraph::default());
        self.device_graph(&a, &mut ga)?;
        self.device_graph(&b, &mut gb)?;
        // The two graphs must agree everywhere except DecodeAttention kv_total, which must be
        // the context sum itself (no pass rescaled it).
        let mut templates = Vec::new();
        let same_shape = ga.stages.len() == gb.stages.len()
            && ga.stages.iter().zip(&gb.stages).all(|(x, y)| {
                x.segments.len() == y.segments.len()
                    && x.segments.iter().zip(&y.segments).all(|(p, q)| p.n_layers == q.n_layers && p.items.len() == q.items.len())
            });
        if !same_shape || ga.expert_tokens != gb.expert_tokens {
            return Ok(memo);
        }
        let mut base_graph = ga.clone();
        for (si, (sa, sb)) in ga.stages.iter().zip(&gb.stages).enumerate() {
            for (gi, (pa, pb)) in sa.segments.iter().zip(&sb.segments).enumerate() {
                let mut keep = Vec::with_capacity(pa.items.len());
                for (ia, ib) in pa.items.iter().zip(&pb.items) {
                    match (&ia.work, &ib.work) {
                        (
                            WorkKind::Kernel(Kernel::DecodeAttention { kv_total: ka, .. }),
                            WorkKind::Kernel(Kernel::DecodeAttention { kv_total: kb, .. }),
                        ) => {
                            if *ka != a.decode_ctx_sum || *kb != b.decode_ctx_sum {
                                return Ok(memo);
                            }
                            if let WorkKind::Kernel(k) = ia.work {
                                templates.push((si, k, ia.count as f64 * pa.n_layers as f64));
                            }
                        }
                        (x, y) if x == y && ia.count == ib.count => keep.push(*ia),
                        _ => return Ok(memo),
                    }
                }
                base_graph.stages[si].segments[gi].items = keep;
            }
        }
        let mut st = Vec::new();
        let c = self.cost_graph_stages(&base_graph, &mut st)?;
        Ok(Some((c, st, templates)))
    }

    /// Sum the costs of a per-device graph (stages run one after another).
    pub fn cost_graph(&mut self, graph: &ModelGraph) -> Result<StepCost> {
        let mut scratch = Vec::new();
        self.cost_graph_stages(graph, &mut scratch)
    }

    /// Like [`System::cost_graph`], also filling the time of each stage.
    pub fn cost_graph_stages(&mut self, graph: &ModelGraph, stage_s: &mut Vec<f64>) -> Result<StepCost> {
        stage_s.clear();
        let mut c = StepCost::default();
        for stage in &graph.stages {
            let before = c.compute_s + c.comm_s;
            for seg in &stage.segments {
                let layers = seg.n_layers as f64;
                for item in &seg.items {
                    let n = item.count as f64 * layers;
                    match &item.work {
                        WorkKind::Kernel(k) => {
                            let (t, flops, bytes) = self.kernel_cost(k)?;
                            c.compute_s += t * n;
                            c.flops += flops * n;
                            c.bytes += bytes * n;
                            c.by_kind_s[kind_index(k)] += t * n;
                        }
                        WorkKind::Comm(col) => {
                            let t = self.collective_time(col)?;
                            c.comm_s += t * n;
                            c.by_kind_s[WORK_KINDS.len() - 1] += t * n;
                        }
                    }
                }
            }
            stage_s.push(c.compute_s + c.comm_s - before);
        }
        c.total_s = c.compute_s + c.comm_s;
        Ok(c)
    }
}

/// Weights, reserve and KV capacity per device under the plan.
pub fn memory_plan(info: &ModelInfo, plan: &ParallelPlan, pool: &PoolConfig, device: &Device) -> Result<MemoryPlan> {
    let w = &info.weights;
    let (a, f) = (plan.attention, plan.ffn);
    let pp = a.pp.max(1) as u64;
    // Attention weights split over attention TP (replicated over DP/CP); FFN over FFN TP;
    // routed experts over EP·TP; embedding and LM head vocab-parallel over TP. Layers over PP.
    let per_dev = w.attention / a.tp as u64
        + (w.dense_ffn + w.shared_experts) / f.tp as u64
        + w.routed_experts / (f.ep as u64 * f.tp as u64)
        + w.router
        + w.norms;
    let per_dev = per_dev / pp + w.embedding / a.tp as u64 + w.lm_head / f.tp as u64;
    let capacity = device.spec.mem_capacity_bytes;
    let usable = (capacity as f64 * pool.memory.usable_fraction) as u64;
    let reserve = (pool.memory.activation_reserve_gib * (1u64 << 30) as f64) as u64;
    let shown = |b: u64| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64);
    if per_dev + reserve >= usable {
        return Err(Error::Infeasible(format!(
            "{} does not fit: weights need {} per device under attention `{}` / ffn `{}` on {} devices, plus an activation reserve of {}, but each {} offers {} usable ({} × {})",
            info.name,
            shown(per_dev),
            a,
            f,
            plan.devices,
            shown(reserve),
            device.key,
            shown(usable),
            shown(capacity),
            pool.memory.usable_fraction
        )));
    }
    let kv_bytes = usable - per_dev - reserve;
    // KV heads are split over attention TP up to the number of KV heads (beyond that they are
    // replicated); MLA's latent cache (one shared head) is replicated across TP.
    let kv_split = (a.tp as u64).min(info.n_kv_heads.max(1)) * pp * a.cp as u64;
    let per_tok = info.kv_bytes_per_token.div_ceil(kv_split).max(1);
    let tokens = kv_bytes / per_tok * a.dp as u64;
    Ok(MemoryPlan {
        capacity_bytes_per_device: capacity,
        weight_bytes_per_device: per_dev,
        activation_reserve_bytes: reserve,
        kv_bytes_per_device: kv_bytes,
        kv_bytes_per_token_per_device: per_tok,
        kv_token_capacity: tokens,
    })
}
