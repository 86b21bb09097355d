//! [`CostModel`]: the cost of one iteration of a pool, with caches.

use super::memo::StepMemo;
use super::{StepCost, COMM_KIND};
use crate::error::{Result, SimError};
use reallm_plugin_api::{
    BatchShape, Collective, Kernel, KernelBackend, ModelArch, ModelGraph, ModelInfo, ParallelPlan, Parallelism, WorkKind,
};
use rustc_hash::FxHashMap;

/// A built parallelism pass and the name it reports errors under.
pub type Pass = (String, Box<dyn Parallelism>);

/// One pool's model, parallel plan and kernel backend: what an iteration over a batch shape
/// costs, per pipeline stage.
///
/// Kernel costs are cached by kernel value (unless the backend says its formula is cheaper
/// than a lookup), collective costs always; kernels a step misses are costed through one
/// [`KernelBackend::kernel_times`] call, so a dynamically loaded backend crosses the library
/// boundary once per step, not once per kernel. Decode-only steps are memoised by batch size
/// ([`super::memo`]).
pub struct CostModel {
    /// The model plugin.
    pub model: Box<dyn ModelArch>,
    /// Its description.
    pub info: ModelInfo,
    /// The parallel plan.
    pub plan: ParallelPlan,
    /// Parallelism passes, in the order they are applied.
    pub passes: Vec<Pass>,
    /// The kernel backend, bound to the pool's device.
    pub backend: Box<dyn KernelBackend>,
    /// The backend's name (for errors and reports).
    pub backend_name: String,
    use_cache: bool,
    /// (seconds, FLOPs, bytes) by kernel value.
    kernel_cache: FxHashMap<Kernel, (f64, f64, f64)>,
    comm_cache: FxHashMap<Collective, f64>,
    graph: ModelGraph,
    /// Kernels of the current step that the cache did not answer, and their times.
    pending: Vec<Kernel>,
    pending_s: Vec<f64>,
    /// Of a memoised step: the template index of each pending kernel, and each template's
    /// kernel at this step's context with its (seconds, FLOPs, bytes).
    pending_ix: Vec<usize>,
    step_kernels: Vec<(Kernel, (f64, f64, f64))>,
    /// Seconds of memoised attention kernels by (tag, context), direct-mapped
    /// ([`super::memo::CTX_SLOTS`]); empty until first used.
    ctx_times: Vec<(u64, u64, (f64, f64, f64))>,
    /// Per kernel of the graph being costed, in order: the cache's (seconds, FLOPs, bytes), or
    /// `None` when it is in `pending`.
    resolved: Vec<Option<(f64, f64, f64)>>,
    /// Memoised decode-only steps by (decoding sequences, speculative tokens): the index of
    /// the memo in `memos`, `None` when the shape is not memoisable.
    pub(super) step_memo: FxHashMap<(u64, u64), Option<u32>>,
    pub(super) memos: Vec<StepMemo>,
    /// The last key looked up and its answer (steady decode runs ask for the same one).
    pub(super) last_memo: Option<((u64, u64), Option<u32>)>,
}

impl CostModel {
    /// Assemble from built plugins. `passes` must already be validated against `plan`.
    pub fn new(
        model: Box<dyn ModelArch>,
        plan: ParallelPlan,
        passes: Vec<Pass>,
        backend: Box<dyn KernelBackend>,
        backend_name: &str,
    ) -> CostModel {
        let info = model.info().clone();
        let use_cache = backend.wants_cache();
        CostModel {
            model,
            info,
            plan,
            passes,
            backend,
            backend_name: backend_name.to_string(),
            use_cache,
            kernel_cache: FxHashMap::default(),
            comm_cache: FxHashMap::default(),
            graph: ModelGraph::default(),
            pending: Vec::new(),
            pending_s: Vec::new(),
            pending_ix: Vec::new(),
            step_kernels: Vec::new(),
            ctx_times: Vec::new(),
            resolved: Vec::new(),
            step_memo: FxHashMap::default(),
            memos: Vec::new(),
            last_memo: None,
        }
    }

    /// Switch to another parallel plan (same model and backend), with its passes; clears the
    /// step memo.
    pub fn set_plan(&mut self, plan: ParallelPlan, passes: Vec<Pass>) {
        self.plan = plan;
        self.passes = passes;
        self.step_memo.clear();
        self.memos.clear();
        self.last_memo = None;
        self.ctx_times.clear();
    }

    /// The per-device work of one step (model graph after every parallelism pass).
    pub fn device_graph(&self, shape: &BatchShape, graph: &mut ModelGraph) -> Result<()> {
        graph.clear();
        self.model.build_step(shape, graph).map_err(|e| SimError::plugin(&self.info.family, e))?;
        for (name, p) in &self.passes {
            p.apply(&self.info, &self.plan, graph).map_err(|e| SimError::plugin(name, e))?;
        }
        Ok(())
    }

    /// Whether `k`'s time may be cached: attention kernels carry the batch's context lengths,
    /// which change every iteration, so caching them would only grow the map.
    fn cacheable(&self, k: &Kernel) -> bool {
        self.use_cache && !matches!(k, Kernel::Attention { .. } | Kernel::DecodeAttention { .. })
    }

    /// Seconds of one kernel (cached where cacheable).
    pub fn kernel_time(&mut self, k: &Kernel) -> Result<f64> {
        let cacheable = self.cacheable(k);
        if cacheable {
            if let Some(t) = self.kernel_cache.get(k) {
                return Ok(t.0);
            }
        }
        let t = self.checked(self.backend.kernel_time(k), k)?;
        if cacheable {
            self.kernel_cache.insert(*k, (t, k.flops(), k.bytes()));
        }
        Ok(t)
    }

    /// A backend's answer for `k`, checked to be a finite, non-negative number of seconds.
    fn checked(&self, t: std::result::Result<f64, reallm_plugin_api::PluginError>, k: &Kernel) -> Result<f64> {
        checked_time(&self.backend_name, t, k)
    }
}

/// A backend's answer for `k`, checked to be a finite, non-negative number of seconds.
pub(super) fn checked_time(backend: &str, t: std::result::Result<f64, reallm_plugin_api::PluginError>, k: &Kernel) -> Result<f64> {
    let t = t.map_err(|e| SimError::plugin(backend, e))?;
    if !(t.is_finite() && t >= 0.0) {
        return Err(SimError::plugin(backend, format!("returned time {t} for {k:?}; expected a finite, non-negative number of seconds")));
    }
    Ok(t)
}

impl CostModel {
    /// Cost `self.pending` in one backend call into `self.pending_s`, caching what may be.
    fn cost_pending(&mut self) -> Result<()> {
        self.pending_s.clear();
        if self.pending.is_empty() {
            return Ok(());
        }
        self.pending_s.resize(self.pending.len(), 0.0);
        self.backend.kernel_times(&self.pending, &mut self.pending_s).map_err(|e| SimError::plugin(&self.backend_name, e))?;
        for i in 0..self.pending.len() {
            let k = self.pending[i];
            let t = self.checked(Ok(self.pending_s[i]), &k)?;
            if self.cacheable(&k) {
                self.kernel_cache.insert(k, (t, k.flops(), k.bytes()));
            }
        }
        Ok(())
    }

    /// Seconds of one collective (cached).
    pub fn collective_time(&mut self, c: &Collective) -> Result<f64> {
        if let Some(t) = self.comm_cache.get(c) {
            return Ok(*t);
        }
        let t = self.backend.collective_time(c).map_err(|e| SimError::plugin(&self.backend_name, e))?;
        if !(t.is_finite() && t >= 0.0) {
            return Err(SimError::plugin(
                &self.backend_name,
                format!("returned time {t} for {c:?}; expected a finite, non-negative number of seconds"),
            ));
        }
        self.comm_cache.insert(*c, t);
        Ok(t)
    }

    /// Cost of one iteration over `shape`, all stages in sequence (no iteration overhead).
    pub fn step_cost(&mut self, shape: &BatchShape) -> Result<StepCost> {
        let mut stage_s = Vec::new();
        self.step_cost_stages(shape, &mut stage_s)
    }

    /// Cost of one iteration, with the time of each pipeline stage in `stage_s` (cleared
    /// first). Decode-only shapes go through the step memo.
    pub fn step_cost_stages(&mut self, shape: &BatchShape, stage_s: &mut Vec<f64>) -> Result<StepCost> {
        let mut c = StepCost::default();
        self.step_cost_into(shape, stage_s, &mut c)?;
        Ok(c)
    }

    /// [`CostModel::step_cost_stages`] into `out` (the engine's hot path: no copies of the
    /// cost through return values).
    pub fn step_cost_into(&mut self, shape: &BatchShape, stage_s: &mut Vec<f64>, out: &mut StepCost) -> Result<()> {
        if self.memoised_cost(shape, stage_s, out)? {
            return Ok(());
        }
        let mut graph = std::mem::take(&mut self.graph);
        let r = self.device_graph(shape, &mut graph).and_then(|_| self.cost_graph_stages(&graph, stage_s));
        self.graph = graph;
        *out = r?;
        Ok(())
    }

    /// Sum the costs of a per-device graph (stages run one after another).
    pub fn cost_graph(&mut self, graph: &ModelGraph) -> Result<StepCost> {
        let mut scratch = Vec::new();
        self.cost_graph_stages(graph, &mut scratch)
    }

    /// Like [`CostModel::cost_graph`], also filling the time of each stage.
    pub fn cost_graph_stages(&mut self, graph: &ModelGraph, stage_s: &mut Vec<f64>) -> Result<StepCost> {
        // 1. Every kernel the cache cannot answer, costed in one backend call.
        //    What the cache answers is kept in graph order (`resolved`), so each kernel is
        //    looked up once.
        self.pending.clear();
        self.resolved.clear();
        for stage in &graph.stages {
            for seg in &stage.segments {
                for item in &seg.items {
                    if let WorkKind::Kernel(k) = &item.work {
                        let hit = if self.cacheable(k) { self.kernel_cache.get(k).copied() } else { None };
                        if hit.is_none() {
                            self.pending.push(*k);
                        }
                        self.resolved.push(hit);
                    }
                }
            }
        }
        self.cost_pending()?;
        // 2. Sum, in graph order.
        stage_s.clear();
        let (mut next_pending, mut next_kernel) = (0usize, 0usize);
        let mut c = StepCost::default();
        for stage in &graph.stages {
            let before = c.compute_s + c.comm_s;
            for seg in &stage.segments {
                let layers = seg.n_layers as f64;
                for item in &seg.items {
                    let n = item.count as f64 * layers;
                    match &item.work {
                        WorkKind::Kernel(k) => {
                            let hit = self.resolved[next_kernel];
                            next_kernel += 1;
                            let (t, flops, bytes) = match hit {
                                Some(v) => v,
                                None => {
                                    // The kernels the cache lacked were queued in this order.
                                    let t = self.pending_s[next_pending];
                                    next_pending += 1;
                                    (t, k.flops(), k.bytes())
                                }
                            };
                            c.compute_s += t * n;
                            c.flops += flops * n;
                            c.bytes += bytes * n;
                            c.by_kind_s[k.kind().index()] += t * n;
                        }
                        WorkKind::Comm(col) => {
                            let t = self.collective_time(col)?;
                            c.comm_s += t * n;
                            c.by_kind_s[COMM_KIND] += t * n;
                        }
                    }
                }
            }
            stage_s.push(c.compute_s + c.comm_s - before);
        }
        c.total_s = c.compute_s + c.comm_s;
        Ok(c)
    }

    /// Cost the context-dependent attention kernels (decode attention, verification spans) of
    /// memo `mi` at `shape`'s context sum, adding them to `c` and `stage_s`: kernels seen
    /// before from the time cache (when the backend wants caching), the rest in one backend
    /// call. Sums in template order either way, so a cached answer changes nothing.
    pub(super) fn add_decode_templates(&mut self, mi: usize, shape: &BatchShape, c: &mut StepCost, stage_s: &mut [f64]) -> Result<()> {
        use super::memo::{ctx_of, ctx_slot, ctx_tag, with_context};
        let cache = self.use_cache;
        if cache && self.ctx_times.is_empty() {
            self.ctx_times = vec![(u64::MAX, 0, (0.0, 0.0, 0.0)); super::memo::CTX_SLOTS];
        }
        let memo = &self.memos[mi];
        let add = |c: &mut StepCost, stage_s: &mut [f64], stage: usize, n: f64, kind: usize, (t, flops, bytes): (f64, f64, f64)| {
            c.compute_s += t * n;
            c.flops += flops * n;
            c.bytes += bytes * n;
            c.by_kind_s[kind] += t * n;
            c.total_s += t * n;
            stage_s[stage] += t * n;
        };
        if let [(stage, k, n, rule)] = memo.templates[..] {
            // One template (the common case): no lists.
            let k = with_context(k, rule, shape);
            let key = match (cache, ctx_tag(shape, 0), ctx_of(&k)) {
                (true, Some(tag), Some(ctx)) => Some((tag, ctx, ctx_slot(tag, ctx))),
                _ => None,
            };
            let v = match key.map(|(tag, ctx, slot)| (tag, ctx, self.ctx_times[slot])) {
                Some((tag, ctx, (t_tag, t_ctx, v))) if t_tag == tag && t_ctx == ctx => v,
                _ => {
                    let mut t = [0.0];
                    self.backend.kernel_times(std::slice::from_ref(&k), &mut t).map_err(|e| SimError::plugin(&self.backend_name, e))?;
                    let v = (checked_time(&self.backend_name, Ok(t[0]), &k)?, k.flops(), k.bytes());
                    if let Some((tag, ctx, slot)) = key {
                        self.ctx_times[slot] = (tag, ctx, v);
                    }
                    v
                }
            };
            add(c, stage_s, stage, n, k.kind().index(), v);
            return Ok(());
        }
        self.pending.clear();
        self.pending_ix.clear();
        self.step_kernels.clear();
        for (i, &(_, k, _, rule)) in memo.templates.iter().enumerate() {
            let k = with_context(k, rule, shape);
            let hit = match (cache, ctx_tag(shape, i), ctx_of(&k)) {
                (true, Some(tag), Some(ctx)) => match self.ctx_times[ctx_slot(tag, ctx)] {
                    (t_tag, t_ctx, t) if t_tag == tag && t_ctx == ctx => Some(t),
                    _ => None,
                },
                _ => None,
            };
            match hit {
                Some(v) => self.step_kernels.push((k, v)),
                None => {
                    self.pending_ix.push(i);
                    self.pending.push(k);
                    self.step_kernels.push((k, (0.0, 0.0, 0.0)));
                }
            }
        }
        if !self.pending.is_empty() {
            self.pending_s.clear();
            self.pending_s.resize(self.pending.len(), 0.0);
            self.backend.kernel_times(&self.pending, &mut self.pending_s).map_err(|e| SimError::plugin(&self.backend_name, e))?;
            for (j, &i) in self.pending_ix.iter().enumerate() {
                let k = self.pending[j];
                let t = checked_time(&self.backend_name, Ok(self.pending_s[j]), &k)?;
                let v = (t, k.flops(), k.bytes());
                self.step_kernels[i].1 = v;
                if let (true, Some(tag), Some(ctx)) = (cache, ctx_tag(shape, i), ctx_of(&k)) {
                    self.ctx_times[ctx_slot(tag, ctx)] = (tag, ctx, v);
                }
            }
        }
        for (&(stage, _, n, _), &(k, v)) in memo.templates.iter().zip(&self.step_kernels) {
            add(c, stage_s, stage, n, k.kind().index(), v);
        }
        Ok(())
    }
}
