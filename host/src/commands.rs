//! Command dispatch: turns parsed CLI arguments into stage runs and prints results.

use crate::cli::{
    CapacityArgs, Cli, Command, ConfigCmd, KernelTimeArgs, ModelCmd, ModelShowArgs, PluginsCmd, SimArgs, SweepArgs, SweepCmd,
};
use crate::config::{self, Experiment};
use crate::stages::{self, Workspace};

use crate::error::{Error, Result};
use crate::registry;
use reallm_plugin_api::{BatchShape, Collective, CollectiveKind, CommAlgo, DType, Kernel, LinkScope, ModelGraph, PrefillChunk, WorkKind};
use std::path::{Path, PathBuf};

/// Where `config set` persists the current config (relative to the working directory).
pub const CURRENT_CONFIG_FILE: &str = ".reallm/current_config";

fn init_logging(cli: &Cli) {
    crate::report::progress::set_quiet(cli.global.quiet);
    let level = if cli.global.quiet {
        "error"
    } else {
        match cli.global.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    };
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).format_timestamp(None).try_init();
}

/// The config path in effect: `-c`, else the persisted current config, else none (default).
fn config_path(cli: &Cli) -> Result<Option<PathBuf>> {
    if let Some(p) = &cli.global.config {
        return Ok(Some(p.clone()));
    }
    let f = Path::new(CURRENT_CONFIG_FILE);
    if f.is_file() {
        let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
        let p = PathBuf::from(text.trim());
        if !p.is_file() {
            return Err(Error::config(
                CURRENT_CONFIG_FILE,
                format!("the current config `{}` no longer exists; run `reallm config set FILE`", p.display()),
            ));
        }
        return Ok(Some(p));
    }
    Ok(None)
}

/// The experiment of this invocation: the config parsed once (before plugins are loaded, for
/// its `plugin_dirs`), then `--plugin` overrides applied once the registry knows every plugin.
fn load_experiment(cli: &Cli) -> Result<Experiment> {
    let mut exp = PARSED
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| config::load(config_path(cli)?.as_deref(), &cli.global.all_overrides()))?;
    let overrides = plugin_overrides(cli)?;
    config::apply_plugin_overrides(&mut exp, &overrides);
    Ok(exp)
}

thread_local! {
    /// The config as parsed at the start of [`run`], taken by the first [`load_experiment`].
    static PARSED: std::cell::RefCell<Option<Result<Experiment>>> = const { std::cell::RefCell::new(None) };
}

/// `--plugin KIND=NAME` selections, checked against the registry.
fn plugin_overrides(cli: &Cli) -> Result<Vec<config::PluginOverride>> {
    let mut v = Vec::new();
    for spec in &cli.global.plugins {
        let o = config::PluginOverride::parse(spec).map_err(Error::Usage)?;
        registry::find(o.kind, &o.name)?;
        v.push(o);
    }
    Ok(v)
}

fn workspace(cli: &Cli, exp: &Experiment) -> Workspace {
    Workspace::new(cli.global.workspace.clone().or_else(|| exp.workspace.clone()).unwrap_or_else(|| PathBuf::from("workspace")))
}

/// Find and load the plugin libraries (CLI, environment, config, beside the binary) and add
/// them to the registry. Files that fail are reported and skipped.
fn load_plugins(cli: &Cli, config_dirs: &[PathBuf]) -> Result<()> {
    let dirs = crate::loader::default_dirs(&cli.global.plugin_dirs, config_dirs);
    let report = crate::loader::load_dirs(&dirs);
    for f in &report.failures {
        log::warn!("skipped plugin file {}: {}", f.path.display(), f.reason);
        log::debug!("{}: {}", f.path.display(), f.detail);
    }
    for p in &report.plugins {
        log::info!("loaded {} plugin `{}` {} from {}", p.kind.name(), p.name, p.version, p.origin.display());
    }
    registry::init(report.plugins, report.failures)
}

/// Run one CLI invocation.
pub fn run(cli: Cli) -> Result<()> {
    init_logging(&cli);
    // The config is parsed once: its `plugin_dirs` are needed before the plugins are loaded,
    // and the command takes the parsed experiment afterwards.
    let parsed = config_path(&cli).and_then(|p| config::load(p.as_deref(), &cli.global.all_overrides()));
    let config_dirs = parsed.as_ref().map(|e| e.plugin_dirs.clone()).unwrap_or_default();
    PARSED.with(|p| *p.borrow_mut() = Some(parsed));
    load_plugins(&cli, &config_dirs)?;
    match &cli.command {
        Command::Config(ConfigCmd::Set { path }) => {
            config::load(Some(path), &[])?;
            let abs = std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
            crate::output::write_atomic(Path::new(CURRENT_CONFIG_FILE), format!("{}\n", abs.display()).as_bytes())?;
            println!("current config: {}", abs.display());
            Ok(())
        }
        Command::Config(ConfigCmd::Current) => {
            match config_path(&cli)? {
                Some(p) => println!("current config: {}", p.display()),
                None => println!("current config: built-in default\n\n{}", config::DEFAULT_CONFIG),
            }
            Ok(())
        }
        Command::Plugins { cmd } => plugins(cmd.as_ref()),
        Command::Model(ModelCmd::Show(args)) => model_show(&cli, args),
        Command::KernelTime(a) => kernel_time(a),
        Command::Sweep(a) => sweep(&cli, a),
        Command::Capacity(a) => capacity(&cli, a),
        Command::Search(a) => search(&cli, a),
        Command::Report { runs, format, out } => {
            let f = crate::report::ReportFormat::parse(format)
                .ok_or_else(|| Error::Usage(format!("--format `{format}`: expected table, md, csv or html")))?;
            let text = crate::report::report(runs, f)?;
            match out {
                Some(p) => {
                    crate::output::write_atomic(p, text.as_bytes())?;
                    println!("report: wrote {}", p.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Plot { runs, out } => {
            let files = crate::report::plot(runs, out)?;
            for f in &files {
                println!("plot: {}", f.display());
            }
            Ok(())
        }
        Command::Validate { data, out } => {
            if !data.is_dir() {
                return Err(Error::input(
                    data.display().to_string(),
                    "calibration data folder not found (run from a checkout, or pass --data DIR)",
                ));
            }
            let text = crate::validate::run(data).map_err(|m| Error::input(data.display().to_string(), m))?;
            match out {
                Some(p) => {
                    crate::output::write_atomic(p, text.as_bytes())?;
                    println!("validate: wrote {}", p.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Traces(a) => {
            let exp = load_experiment(&cli)?;
            let ws = workspace(&cli, &exp);
            let tasks = if a.tasks.is_empty() { exp.trace_gen.tasks.clone() } else { a.tasks.clone() };
            let rates = if a.rates.is_empty() { exp.trace_gen.request_rates.clone() } else { a.rates.clone() };
            let files = stages::run_traces(&exp, &ws, &tasks, &rates)?;
            println!("traces: wrote {} files to {}", files.len(), ws.traces_dir().display());
            Ok(())
        }
        Command::Kernel => {
            let exp = load_experiment(&cli)?;
            let ws = workspace(&cli, &exp);
            kernel(&exp, &ws)
        }
        Command::Sim(a) => {
            let exp = load_experiment(&cli)?;
            let ws = workspace(&cli, &exp);
            sim(&exp, &ws, a)
        }
        Command::ExportTrace(a) => {
            let exp = load_experiment(&cli)?;
            let ws = workspace(&cli, &exp);
            export_trace(&exp, &ws, a)
        }
        Command::All => {
            let exp = load_experiment(&cli)?;
            let ws = workspace(&cli, &exp);
            kernel(&exp, &ws)?;
            let files = stages::run_traces(&exp, &ws, &exp.trace_gen.tasks, &exp.trace_gen.request_rates)?;
            println!("traces: wrote {} files to {}", files.len(), ws.traces_dir().display());
            sim(&exp, &ws, &SimArgs::default())
        }
    }
}

fn kernel(exp: &Experiment, ws: &Workspace) -> Result<()> {
    let start = std::time::Instant::now();
    let files = stages::run_kernel(exp, ws)?;
    println!("kernel: wrote {} files to {} in {:.2} s", files.len(), ws.kernel_lib_dir().display(), start.elapsed().as_secs_f64());
    Ok(())
}

fn export_trace(exp: &Experiment, ws: &Workspace, a: &crate::cli::ExportTraceArgs) -> Result<()> {
    let reqs = match (&a.trace, &exp.workload.conversations) {
        (Some(t), _) => stages::load_trace(exp, t)?,
        (None, Some(c)) => {
            crate::workload::synth::conversations(c, exp.workload.system_prompt.as_ref(), exp.trace_gen.seed)?.open_loop_requests()
        }
        (None, None) => {
            let traces = stages::default_traces(exp, ws, &[], &[])?;
            let t = traces.first().ok_or_else(|| Error::Usage("no trace to export: pass --trace FILE".into()))?;
            stages::load_trace(exp, t)?
        }
    };
    let bt = a.block_tokens.unwrap_or(exp.workload.hash_block_tokens);
    if bt == 0 {
        return Err(Error::Usage("--block-tokens 0: expected at least 1 token per block".into()));
    }
    crate::workload::jsonl::write(&a.out, &reqs, bt)?;
    println!("export-trace: wrote {} requests to {}", reqs.len(), a.out.display());
    Ok(())
}

fn sim(exp: &Experiment, ws: &Workspace, a: &SimArgs) -> Result<()> {
    let sources = crate::workload::source::sources(exp, ws, &a.traces, &a.tasks.tasks, &a.tasks.rates, &a.concurrency)?;
    let mut last = None;
    for src in &sources {
        let start = std::time::Instant::now();
        let timeline = if a.timeline {
            crate::report::Timeline::Always
        } else if a.no_timeline {
            crate::report::Timeline::Never
        } else {
            crate::report::Timeline::Auto
        };
        let run = stages::run_source(exp, ws, src, timeline)?;
        let pools: Vec<String> = exp
            .pools()
            .map(|p| {
                let reps = if p.replicas > 1 { format!("{} replicas × ", p.replicas) } else { String::new() };
                let role = if exp.decode_pool.is_some() { format!("{} ", p.role.name()) } else { String::new() };
                format!("{role}{reps}{} × {} ({} / {}, {})", p.num_devices, p.device, p.attention, p.ffn, p.batching.name)
            })
            .collect();
        let engine = exp.engine.as_ref().map(|e| format!(", engine profile {}", e.name)).unwrap_or_default();
        let what = match src {
            crate::workload::source::RunSource::Trace(t) => format!("trace {}", t.display()),
            crate::workload::source::RunSource::SyntheticRate(r) => format!("synthetic requests at {r} req/s"),
            crate::workload::source::RunSource::Closed { clients, .. } => format!("{} ({clients} concurrent clients)", src.name()),
            crate::workload::source::RunSource::Conversations => "closed-loop conversations".to_string(),
        };
        let title = format!("sim: {} on {}, backend {}{engine}, {what}", exp.model.label, pools.join(" + "), exp.backend.name);
        print!("{}", stages::format_summary(&title, &run.summary));
        println!("  results: {} ({:.2} s wall)", run.dir.display(), start.elapsed().as_secs_f64());
        last = Some(run.summary);
    }
    if let (Some(p), Some(s)) = (&a.summary_json, last) {
        let json = serde_json::to_string_pretty(&s).map_err(|e| Error::Internal(e.to_string()))?;
        crate::output::write_atomic(p, format!("{json}\n").as_bytes())?;
    }
    Ok(())
}

fn plugins(cmd: Option<&PluginsCmd>) -> Result<()> {
    match cmd {
        None => {
            println!("{:<12} {:<20} {:<9} {:<10} summary", "kind", "name", "version", "origin");
            for e in registry::all() {
                let aliases = if e.aliases.is_empty() { String::new() } else { format!(" (aliases: {})", e.aliases.join(", ")) };
                println!("{:<12} {:<20} {:<9} {:<10} {}{}", e.kind.name(), e.name, e.version, e.origin, e.summary, aliases);
                if let Some(other) = &e.conflicts_with {
                    println!(
                        "{:<12} CONFLICT: `{}` also answers to a name of the plugin from {other}; selecting it is an error",
                        "", e.name
                    );
                }
            }
            for f in registry::failures() {
                println!("failed       {}: {}", f.path.display(), f.reason);
            }
            Ok(())
        }
        Some(PluginsCmd::Describe { name }) => {
            let e = registry::all()
                .iter()
                .find(|e| e.name.eq_ignore_ascii_case(name) || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
                .ok_or_else(|| Error::Plugin {
                    plugin: name.clone(),
                    message: "no plugin of that name; run `reallm plugins` for the list".into(),
                })?;
            println!("{} `{}` {} ({})", e.kind.name(), e.name, e.version, e.origin);
            println!("{}", e.summary);
            if !e.aliases.is_empty() {
                println!("aliases: {}", e.aliases.join(", "));
            }
            if !e.presets.is_empty() {
                println!("presets: {}", e.presets.join(", "));
            }
            println!("example parameters:\n{}", e.example_params);
            Ok(())
        }
    }
}

fn model_show(cli: &Cli, a: &ModelShowArgs) -> Result<()> {
    let mut exp = load_experiment(cli)?;
    if let Some(n) = &a.name {
        let by_name = config::ModelSel { plugin: None, label: n.clone(), params: serde_json::json!({ "preset": n }) };
        exp.model = crate::model_import::resolve_model_path(by_name, None)?;
    }
    let mut system = crate::assemble::build_pool(&exp, &exp.pool)?;
    let i = system.cost.info.clone();
    println!(
        "{} ({}): {} layers, hidden {}, {} heads / {} KV heads × {}, FFN {}, vocab {}",
        i.name, i.family, i.n_layers, i.hidden, i.n_heads, i.n_kv_heads, i.head_dim, i.ffn_dim, i.vocab
    );
    if i.is_moe() {
        println!(
            "  MoE: {} routed + {} shared experts, top-{}, expert FFN {}, first {} layers dense",
            i.n_routed_experts, i.n_shared_experts, i.experts_per_token, i.moe_ffn_dim, i.first_dense_layers
        );
    }
    println!(
        "  params {:.2} B total / {:.2} B active; weights {:.2} GiB ({}); KV {} bytes/token ({})",
        i.params_total as f64 / 1e9,
        i.params_active as f64 / 1e9,
        i.weights.total() as f64 / (1u64 << 30) as f64,
        i.weight_dtype,
        i.kv_bytes_per_token,
        i.kv_dtype
    );
    let m = &system.memory;
    println!(
        "  on {} × {} ({} / {}): {:.2} GiB weights per device, KV capacity {} tokens",
        exp.pool.num_devices,
        system.device_key,
        exp.pool.attention,
        exp.pool.ffn,
        m.weight_bytes_per_device as f64 / (1u64 << 30) as f64,
        m.kv_token_capacity
    );
    let prefills: Vec<u64> = if a.prefill.is_empty() && a.decode_ctx.is_empty() { vec![1024] } else { a.prefill.clone() };
    let shape = BatchShape {
        prefills: prefills.iter().map(|&t| PrefillChunk { tokens: t, prefix: 0, last: true }).collect(),
        decode_seqs: a.decode_ctx.len() as u64,
        decode_ctx_sum: a.decode_ctx.iter().sum(),
        seed: 0,
        spec_tokens: 0,
    };
    let mut graph = ModelGraph::default();
    system.cost.device_graph(&shape, &mut graph)?;
    println!("  step: prefill chunks {:?}, decode contexts {:?} (per device, backend {})", prefills, a.decode_ctx, exp.backend.name);
    if !a.json {
        println!(
            "  {:<5} {:<8} {:<10} {:<6} {:>8} {:>12} {:>12} {:>11}  shape",
            "stage", "layers", "phase", "shard", "count", "GFLOP", "MB", "time (µs)"
        );
    }
    let mut total = 0.0;
    for (si, stage) in graph.stages.iter().enumerate() {
        for seg in &stage.segments {
            for it in &seg.items {
                let (t, flops, bytes, desc) = match &it.work {
                    WorkKind::Kernel(k) => {
                        (system.cost.kernel_time(k)?, k.flops(), k.bytes(), serde_json::to_string(k).unwrap_or_default())
                    }
                    WorkKind::Comm(c) => {
                        (system.cost.collective_time(c)?, 0.0, c.bytes as f64, serde_json::to_string(c).unwrap_or_default())
                    }
                };
                let n = it.count as f64 * seg.n_layers as f64;
                total += t * n;
                if a.json {
                    println!("{{\"stage\":{si},\"first_layer\":{},\"n_layers\":{},\"phase\":\"{}\",\"count\":{},\"time_s\":{t},\"work\":{desc}}}", seg.first_layer, seg.n_layers, it.phase.name(), it.count);
                } else {
                    println!(
                        "  {:<5} {:<8} {:<10} {:<6} {:>8} {:>12.3} {:>12.3} {:>11.2}  {}",
                        si,
                        format!("{}+{}", seg.first_layer, seg.n_layers),
                        it.phase.name(),
                        format!("{:?}", it.shard).to_lowercase(),
                        it.count,
                        flops / 1e9,
                        bytes / 1e6,
                        t * 1e6,
                        desc
                    );
                }
            }
        }
    }
    if !a.json {
        println!("  total step time: {:.3} ms (each row's time is per launch; multiply by layers × count)", total * 1e3);
    }
    Ok(())
}

/// What `kernel-time` was asked to time.
pub enum Query {
    Kernel(Kernel),
    Comm(Collective),
}

/// Parse `--op` / `--shape` / `--dtype` into a kernel or collective.
pub fn parse_query(op: &str, shape: &[u64], dtype: DType, algo: CommAlgo, scale_out: bool) -> Result<Query> {
    let need = |n: usize, what: &str| -> Result<()> {
        if shape.len() != n {
            return Err(Error::Usage(format!("--op {op} takes --shape {what} ({n} numbers), got {} number(s)", shape.len())));
        }
        if shape.contains(&0) {
            return Err(Error::Usage(format!("--shape {shape:?}: every dimension must be positive")));
        }
        Ok(())
    };
    let s = shape;
    let mn = |f: fn(u64, u64, DType) -> Kernel| -> Result<Query> {
        need(2, "M,N")?;
        Ok(Query::Kernel(f(s[0], s[1], dtype)))
    };
    // Aliases, then the one list of kernel kinds (`KernelKind`) and of collectives.
    let canonical = match op {
        "gemm" => "matmul",
        "batched_matmul" => "bmm",
        "rmsnorm" => "layernorm",
        "attention" => "flash_attention",
        other => other,
    };
    if let Some(kind) = reallm_plugin_api::KernelKind::parse(canonical) {
        use reallm_plugin_api::KernelKind as K;
        return Ok(match kind {
            K::Matmul => {
                need(3, "M,K,N")?;
                Query::Kernel(Kernel::matmul(s[0], s[1], s[2], dtype))
            }
            K::Bmm => {
                need(4, "B,M,K,N")?;
                Query::Kernel(Kernel::Gemm { b: s[0], m: s[1], k: s[2], n: s[3], a: dtype, w: dtype, out: dtype })
            }
            K::GroupedMatmul => {
                need(5, "G,ROWS,MAX_ROWS,K,N")?;
                Query::Kernel(Kernel::GroupedGemm {
                    groups: s[0],
                    rows: s[1],
                    max_rows: s[2],
                    k: s[3],
                    n: s[4],
                    a: dtype,
                    w: dtype,
                    out: dtype,
                })
            }
            K::Softmax => mn(|m, n, dtype| Kernel::Softmax { m, n, dtype })?,
            K::LayerNorm => mn(|m, n, dtype| Kernel::LayerNorm { m, n, dtype })?,
            K::Silu => mn(|m, n, dtype| Kernel::Silu { m, n, dtype })?,
            K::Gelu => mn(|m, n, dtype| Kernel::Gelu { m, n, dtype })?,
            K::Mul => mn(|m, n, dtype| Kernel::Mul { m, n, dtype })?,
            K::Add => mn(|m, n, dtype| Kernel::Add { m, n, dtype })?,
            K::Rope => mn(|m, n, dtype| Kernel::Rope { m, n, dtype })?,
            K::Embedding => mn(|tokens, hidden, dtype| Kernel::Embedding { tokens, hidden, dtype })?,
            K::TopK => {
                need(3, "M,N,K")?;
                Query::Kernel(Kernel::TopK { m: s[0], n: s[1], k: s[2], dtype })
            }
            K::FlashAttention => {
                let causal = match s.len() {
                    6 => true,
                    7 => s[6] != 0,
                    _ => {
                        return Err(Error::Usage(format!(
                            "--op {op} takes --shape SEQS,Q,KV,HEADS,KV_HEADS,HEAD_DIM[,CAUSAL], got {} numbers",
                            s.len()
                        )))
                    }
                };
                if s[..6].contains(&0) {
                    return Err(Error::Usage(format!("--shape {s:?}: every dimension must be positive")));
                }
                Query::Kernel(Kernel::Attention {
                    seqs: s[0],
                    q_len: s[1],
                    kv_len: s[2],
                    q_heads: s[3],
                    kv_heads: s[4],
                    d_qk: s[5],
                    d_v: s[5],
                    causal,
                    kv_shared: false,
                    act: dtype,
                    kv: dtype,
                })
            }
            K::DecodeAttention => {
                need(5, "SEQS,KV_TOTAL,HEADS,KV_HEADS,HEAD_DIM")?;
                Query::Kernel(Kernel::DecodeAttention {
                    seqs: s[0],
                    kv_total: s[1],
                    q_heads: s[2],
                    kv_heads: s[3],
                    d_qk: s[4],
                    d_v: s[4],
                    kv_shared: false,
                    act: dtype,
                    kv: dtype,
                })
            }
            other => return Err(Error::Usage(format!("--op {op}: `kernel-time` cannot build a {} kernel", other.name()))),
        });
    }
    const COLLECTIVES: [CollectiveKind; 5] = [
        CollectiveKind::AllReduce,
        CollectiveKind::AllGather,
        CollectiveKind::ReduceScatter,
        CollectiveKind::AllToAll,
        CollectiveKind::SendRecv,
    ];
    if let Some(kind) = COLLECTIVES.into_iter().find(|c| c.name() == op) {
        need(2, "BYTES,RANKS")?;
        let ranks = u32::try_from(s[1]).map_err(|_| Error::Usage(format!("{} ranks is too many", s[1])))?;
        return Ok(Query::Comm(Collective {
            kind,
            bytes: s[0],
            ranks,
            scope: if scale_out { LinkScope::ScaleOut } else { LinkScope::ScaleUp },
            algo,
        }));
    }
    let names: Vec<&str> =
        reallm_plugin_api::KernelKind::ALL.iter().map(|k| k.name()).chain(COLLECTIVES.iter().map(|c| c.name())).collect();
    Err(Error::Usage(format!("unknown --op `{op}`; expected one of {}", names.join(", "))))
}

fn kernel_time(a: &KernelTimeArgs) -> Result<()> {
    let device = crate::devices::resolve(&a.device, None)?;
    let dtype = DType::parse(&a.dtype).ok_or_else(|| {
        Error::Usage(format!("--dtype `{}`: expected fp32, bf16, fp16, fp8, fp8_block, int8, fp4 (nvfp4) or mxfp4", a.dtype))
    })?;
    let algo =
        CommAlgo::parse(&a.algo).ok_or_else(|| Error::Usage(format!("--algo `{}`: expected auto, ring, ring2d or multishot", a.algo)))?;
    let params = match &a.params {
        Some(t) => config::yaml::parse(t, "--params")?,
        None => serde_json::Value::Null,
    };
    let backend = registry::backend(&a.backend, &params, &device.spec)?;
    let q = parse_query(&a.op, &a.shape, dtype, algo, a.scale_out)?;
    let (t, flops, bytes, desc) = match &q {
        Query::Kernel(k) => {
            (backend.kernel_time(k).map_err(|e| Error::plugin(&a.backend, e))?, k.flops(), k.bytes(), serde_json::to_value(k))
        }
        Query::Comm(c) => {
            (backend.collective_time(c).map_err(|e| Error::plugin(&a.backend, e))?, 0.0, c.bytes as f64, serde_json::to_value(c))
        }
    };
    let desc = desc.map_err(|e| Error::Internal(e.to_string()))?;
    if a.json {
        let v = serde_json::json!({"device": device.key, "backend": a.backend, "op": a.op, "shape": a.shape, "dtype": dtype.name(), "time_s": t, "flops": flops, "bytes": bytes, "kernel": desc});
        println!("{v}");
    } else {
        let rate = if t > 0.0 { format!(", {:.1} TFLOP/s, {:.1} GB/s", flops / t / 1e12, bytes / t / 1e9) } else { String::new() };
        println!("{} {:?} {} on {} ({}): {:.3} µs{}", a.op, a.shape, dtype, device.key, a.backend, t * 1e6, rate);
    }
    Ok(())
}

fn sweep(cli: &Cli, a: &SweepArgs) -> Result<()> {
    if let Some(SweepCmd::Merge { inputs, out }) = &a.cmd {
        let n = crate::sweep::merge(inputs, out)?;
        println!("sweep merge: {n} rows from {} files into {}", inputs.len(), out.display());
        return Ok(());
    }
    if a.grid.is_empty() {
        return Err(Error::Usage("sweep: give at least one --grid KEY=V1,V2,...".into()));
    }
    let axes = a.grid.iter().map(|g| crate::sweep::parse_axis(g)).collect::<Result<Vec<_>>>()?;
    let spec = crate::sweep::SweepSpec {
        config: config_path(cli)?,
        base_overrides: cli.global.all_overrides(),
        plugin_overrides: plugin_overrides(cli)?,
        axes,
        out: a.out.clone(),
        jobs: a.jobs,
        shard: a.shard.as_deref().map(crate::sweep::parse_shard).transpose()?,
        workspace: cli.global.workspace.clone(),
        keep_runs: a.keep_runs,
    };
    let start = std::time::Instant::now();
    let r = crate::sweep::run(&spec)?;
    if r.interrupted {
        println!(
            "sweep interrupted: {} rows kept in {} (rerun the same command to finish)",
            r.rows,
            spec.out.with_extension("csv.partial").display()
        );
        return Err(Error::Interrupted);
    }
    println!(
        "sweep: {} points, {} runs done now, {} already done, {} rows in {} ({:.2} s)",
        r.points,
        r.ran,
        r.skipped,
        r.rows,
        spec.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn search(cli: &Cli, a: &crate::search::SearchArgs) -> Result<()> {
    let start = std::time::Instant::now();
    if let Some(crate::search::SearchCmd::Merge { inputs, out }) = &a.cmd {
        let r = crate::search::merge(inputs, out)?;
        print!("{}", crate::search::format_report(&r, out));
        return Ok(());
    }
    let mut overrides = cli.global.all_overrides();
    if let Some(m) = &a.model {
        overrides.push(format!("model={m}"));
    }
    let path = config_path(cli)?;
    let plugins = plugin_overrides(cli)?;
    let load = |extra: Option<&str>| -> Result<config::Experiment> {
        let mut ov = overrides.clone();
        ov.extend(extra.map(|e| format!("engine={e}")));
        let mut exp = config::load(path.as_deref(), &ov)?;
        config::apply_plugin_overrides(&mut exp, &plugins);
        crate::search::apply_args(&mut exp, a)?;
        Ok(exp)
    };
    let exp = load(None)?;
    let bases = crate::search::engine_bases(&exp, &|e| load(Some(e)))?;
    let opts = crate::search::RunOpts {
        out: a.out.clone(),
        jobs: a.jobs,
        shard: a.shard.as_deref().map(crate::sweep::parse_shard).transpose()?,
        dry_run: a.dry_run,
    };
    let r = crate::search::run_bases(&bases, &opts)?;
    if r.interrupted {
        println!(
            "search interrupted: {} deployments kept in {} (rerun the same command to finish)",
            r.rows.len(),
            a.out.join("search.csv.partial").display()
        );
        return Err(Error::Interrupted);
    }
    print!("{}", crate::search::format_report(&r, &a.out));
    if !a.dry_run {
        println!("search: {} deployments simulated now, {} already done, in {:.2} s", r.ran, r.skipped, start.elapsed().as_secs_f64());
    }
    if let Some(y) = &r.best_yaml {
        println!("\n{y}");
    }
    Ok(())
}

fn capacity(cli: &Cli, a: &CapacityArgs) -> Result<()> {
    let exp = load_experiment(cli)?;
    let task =
        crate::workload::azure::Task::parse(&a.task).ok_or_else(|| Error::Usage(format!("--task `{}`: expected code or conv", a.task)))?;
    if a.ttft_p99.is_none() && a.tbt_p99.is_none() {
        return Err(Error::Usage("capacity: give at least one SLO (--ttft-p99, --tbt-p99)".into()));
    }
    if !(a.lo > 0.0 && a.hi >= a.lo && a.tol > 0.0 && a.requests > 0) {
        return Err(Error::Usage("capacity: need 0 < --lo ≤ --hi, --tol > 0 and --requests ≥ 1".into()));
    }
    let spec = crate::sweep::CapacitySpec {
        task,
        requests: a.requests,
        ttft_p99_s: a.ttft_p99,
        tbt_p99_s: a.tbt_p99,
        lo: a.lo,
        hi: a.hi,
        tol: a.tol,
    };
    let (best, probes) = crate::sweep::capacity(&exp, &spec)?;
    println!("{:>12} {:>6} {:>14} {:>14}", "rate (req/s)", "meets", "TTFT p99 (ms)", "TBT p99 (ms)");
    for p in &probes {
        println!("{:>12.3} {:>6} {:>14.2} {:>14.2}", p.rate, if p.ok { "yes" } else { "no" }, p.ttft_p99_s * 1e3, p.tbt_p99_s * 1e3);
    }
    let devices: u64 = exp.pools().map(|p| p.num_devices as u64 * p.replicas as u64).sum();
    match best {
        Some(r) => println!("capacity: {:.3} req/s ({:.4} req/s per device over {} devices)", r, r / devices as f64, devices),
        None => println!("capacity: even {} req/s misses the SLOs", a.lo),
    }
    Ok(())
}
