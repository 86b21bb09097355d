//! Command-line definitions (clap derive). Each flag is defined once, with its help.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// ReaLLM: trace-driven simulation of large-scale LLM inference serving on customisable
/// hardware.
///
/// Three stages, each runnable alone: `kernel` (cost the kernel shapes a model produces),
/// `traces` (generate request traces from the Azure distributions), `sim` (discrete-event
/// simulation of the serving system). `all` runs them in order.
///
/// Examples:
///   reallm all                                   # the built-in default experiment
///   reallm -c configs/system/default_homo.yaml sim
///   reallm sim --task code conv --rate 1 3 5
///   reallm --engine vllm sim --concurrency 1 2 4 8 16 32 64
///   reallm --set system.num_devices=4 --set system.parallelism.attention=tp4 all
///   reallm --plugin backend=llmcompass sim --trace workspace/traces/rr_code_1.csv
#[derive(Debug, Parser)]
#[command(name = "reallm", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Experiment config (YAML, either form). Default: the config set with `config set`, else
    /// the built-in default.
    #[arg(short, long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Workspace directory for traces, the kernel library and results.
    #[arg(long, global = true, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Override a config key: `--set system.num_devices=4` (value parsed as YAML). Repeatable.
    #[arg(long = "set", global = true, value_name = "KEY.PATH=VALUE")]
    pub overrides: Vec<String>,
    /// Serving-engine profile whose defaults fill the keys the config leaves out: vllm, sglang
    /// or trtllm (the config's `engine:`; see docs/engines.md).
    #[arg(long, global = true, value_name = "ENGINE")]
    pub engine: Option<String>,
    /// Pick a plugin for this run: `--plugin backend=llmcompass`, `batching=chunked`,
    /// `model=llama`. Repeatable.
    #[arg(long = "plugin", global = true, value_name = "KIND=NAME")]
    pub plugins: Vec<String>,
    /// Load plugin libraries from this directory (repeatable; also REALLM_PLUGIN_PATH, the
    /// config's `plugin_dirs`, and `plugins/` beside the binary).
    #[arg(long = "plugin-dir", global = true, value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// More log output (-v info, -vv debug). RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run kernel, traces and sim in order.
    All,
    /// Enumerate and cost the model's kernel shapes; write the kernel library.
    Kernel,
    /// Generate request traces `rr_{task}_{rate}.csv`.
    Traces(TaskRateArgs),
    /// Simulate the serving system over traces (or the config's `workload.conversations`).
    Sim(SimArgs),
    /// Write the workload a run would simulate as a Mooncake-format JSON Lines trace (with
    /// `hash_ids`): a trace after `time_scale` and system prompts, or the config's
    /// conversations (arrivals as if every answer were instant).
    ///
    /// Example: reallm --set workload.system_prompt='{groups: 4, tokens: 1000}' export-trace --trace t.csv --out t.jsonl
    #[command(verbatim_doc_comment)]
    ExportTrace(ExportTraceArgs),
    /// Set or show the persisted current config.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// List the registered plugins, or describe one.
    Plugins {
        #[command(subcommand)]
        cmd: Option<PluginsCmd>,
    },
    /// Inspect a model: its dimensions and the kernels one step runs.
    #[command(subcommand)]
    Model(ModelCmd),
    /// Time one kernel or collective on a device with a backend (what-if queries).
    ///
    /// Ops and shapes: matmul M,K,N; bmm B,M,K,N; grouped_matmul G,ROWS,MAX_ROWS,K,N;
    /// softmax|layernorm|silu|gelu|mul|add|rope M,N; embedding TOKENS,HIDDEN; topk M,N,K;
    /// flash_attention SEQS,Q,KV,HEADS,KV_HEADS,HEAD_DIM[,CAUSAL(0/1)];
    /// decode_attention SEQS,KV_TOTAL,HEADS,KV_HEADS,HEAD_DIM;
    /// all_reduce|all_gather|reduce_scatter|all_to_all|send_recv BYTES,RANKS.
    ///
    /// Example: reallm kernel-time --device GH100 --backend llmcompass --op matmul --shape 4096,8192,8192
    #[command(verbatim_doc_comment)]
    KernelTime(KernelTimeArgs),
    /// Run a grid of experiments in parallel, one CSV row per (point, trace); resumable.
    ///
    /// Example: reallm sweep --grid workload.request_rates=1,2,4,8 --grid system.batching.policy=continuous,chunked --out sweep.csv
    #[command(verbatim_doc_comment, args_conflicts_with_subcommands = true)]
    Sweep(SweepArgs),
    /// Find the highest request rate that meets the SLOs (bisection), per device.
    Capacity(CapacityArgs),
    /// Search deployments (plans, replicas, aggregated or disaggregated, batching, KV dtype) for
    /// the best way to serve a model on a GPU budget: search.csv, a Pareto frontier, the winner.
    ///
    /// Example: reallm search --model llama3.1-70b --device H100-SXM --gpus 8 --isl 4000 --osl 500 --ttft 2 --tpot 0.05
    #[command(verbatim_doc_comment)]
    Search(Box<crate::search::SearchArgs>),
    /// Compare runs: one column per run directory (a results folder with summary.json).
    Report {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// table, md, csv or html (html bundles the table and the plots in one file).
        #[arg(long, default_value = "table")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Draw SVG plots of runs (CDFs, percentiles and throughput vs rate, batch and KV over time).
    Plot {
        /// Run directories.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output directory.
        #[arg(long, default_value = "plots")]
        out: PathBuf,
    },
    /// Compare kernel backends against the measured GPU kernel times; write a Markdown report.
    Validate {
        /// The calibration data (Vidur profiles).
        #[arg(long, default_value = "host/data/calibration")]
        data: PathBuf,
        /// Write the report here (stdout if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub cmd: Option<SweepCmd>,
    /// An axis: KEY.PATH=V1,V2,... (values parsed as YAML). Repeatable; first is outermost.
    #[arg(long = "grid", value_name = "KEY=V1,V2,...")]
    pub grid: Vec<String>,
    /// Output CSV.
    #[arg(long, default_value = "sweep.csv")]
    pub out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only points with index % N == I (for cluster job arrays).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Also write every run's result files under the workspace.
    #[arg(long)]
    pub keep_runs: bool,
}

#[derive(Debug, Subcommand)]
pub enum SweepCmd {
    /// Merge sweep CSVs (e.g. shard outputs) into one, sorted by point.
    Merge {
        /// Input CSVs.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output CSV.
        #[arg(long, default_value = "sweep.csv")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// Workload task whose lengths the probe traces use.
    #[arg(long, default_value = "conv")]
    pub task: String,
    /// Requests per probe.
    #[arg(long, default_value_t = 500)]
    pub requests: u64,
    /// SLO on the p99 TTFT, seconds.
    #[arg(long)]
    pub ttft_p99: Option<f64>,
    /// SLO on the p99 TBT, seconds.
    #[arg(long)]
    pub tbt_p99: Option<f64>,
    /// Lowest rate probed (requests/s).
    #[arg(long, default_value_t = 0.25)]
    pub lo: f64,
    /// Highest rate probed (requests/s).
    #[arg(long, default_value_t = 256.0)]
    pub hi: f64,
    /// Relative tolerance of the answer.
    #[arg(long, default_value_t = 0.02)]
    pub tol: f64,
}

#[derive(Debug, Args)]
pub struct KernelTimeArgs {
    /// Device preset or JSON file.
    #[arg(long, default_value = "H100-SXM")]
    pub device: String,
    /// Kernel backend plugin.
    #[arg(long, default_value = "roofline")]
    pub backend: String,
    /// Backend parameters as YAML/JSON (e.g. '{compute_efficiency: 0.8}').
    #[arg(long, value_name = "YAML")]
    pub params: Option<String>,
    /// Operation (see above).
    #[arg(long)]
    pub op: String,
    /// Comma-separated shape.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub shape: Vec<u64>,
    /// Data type (fp32, bf16, fp16, fp8, int8, fp4).
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
    /// Collective algorithm for collectives (auto, ring, ring2d, multishot).
    #[arg(long, default_value = "auto")]
    pub algo: String,
    /// Collective crosses nodes (scale-out link).
    #[arg(long)]
    pub scale_out: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Default)]
pub struct TaskRateArgs {
    /// Tasks (code, conv). Default: from the config.
    #[arg(long = "task", num_args = 1.., value_name = "TASK")]
    pub tasks: Vec<String>,
    /// Request rates in requests/s. Default: from the config.
    #[arg(long = "rate", num_args = 1.., value_name = "RATE")]
    pub rates: Vec<f64>,
}

#[derive(Debug, Args, Default)]
pub struct SimArgs {
    /// Trace files to simulate (generated or raw Azure format). Repeatable.
    #[arg(long = "trace", num_args = 1.., value_name = "FILE")]
    pub traces: Vec<PathBuf>,
    #[command(flatten)]
    pub tasks: TaskRateArgs,
    /// Closed loop: run once per client count, each client sending its next request when its
    /// previous one completes (benchmark clients' `--max-concurrency`). Lengths come from
    /// `workload.synthetic`, the traces, or the tasks.
    #[arg(long = "concurrency", num_args = 1.., value_name = "CLIENTS", conflicts_with = "rates")]
    pub concurrency: Vec<u32>,
    /// Also write the summary of the (last) run to this path.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// Always write iterations.csv and trace.json (by default only for runs of at most
    /// 100,000 iterations).
    #[arg(long, conflicts_with = "no_timeline")]
    pub timeline: bool,
    /// Never write iterations.csv and trace.json.
    #[arg(long)]
    pub no_timeline: bool,
}

#[derive(Debug, Args)]
pub struct ExportTraceArgs {
    /// The trace to export (default: the config's conversations, else its first trace).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Output file (JSON Lines).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Tokens per `hash_ids` entry in the output (default: `workload.hash_block_tokens`, 512).
    #[arg(long, value_name = "TOKENS")]
    pub block_tokens: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Make FILE the config used when no `-c` is given.
    Set { path: PathBuf },
    /// Show the current config and where it comes from.
    Current,
}

#[derive(Debug, Subcommand)]
pub enum PluginsCmd {
    /// Show a plugin's summary and an example of its parameters.
    Describe { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ModelCmd {
    /// Print a model's dimensions and the per-device kernels of one step under the config's
    /// device, plan and backend.
    Show(ModelShowArgs),
}

#[derive(Debug, Args)]
pub struct ModelShowArgs {
    /// Model preset (e.g. llama3-70b, deepseekv3) or the path of a Hugging Face config.json (or
    /// of a folder holding one). Default: the config's model.
    pub name: Option<String>,
    /// Prefill chunk sizes (tokens) in the step.
    #[arg(long, num_args = 1.., value_name = "TOKENS")]
    pub prefill: Vec<u64>,
    /// Decode context lengths: one decoding sequence per value.
    #[arg(long = "decode-ctx", num_args = 1.., value_name = "TOKENS")]
    pub decode_ctx: Vec<u64>,
    /// Print the kernels as JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl GlobalArgs {
    /// The `--set` overrides, with `--engine NAME` as `engine=NAME`.
    pub fn all_overrides(&self) -> Vec<String> {
        let mut v = self.overrides.clone();
        if let Some(e) = &self.engine {
            v.push(format!("engine={e}"));
        }
        v
    }
}
