//! Reliability: bad input gives a clear one-line error and a documented exit code, never a
//! panic; fuzzed loaders never panic; outputs are deterministic; an interrupted run leaves no
//! half-written file (docs/reliability.md).
//!
//! The table of bad inputs below ([`cases`]) is the source of the table in
//! `docs/reliability.md`: [`bad_inputs_table`] runs every case, checks its exit code and
//! message, and fails if the document is out of date. `REALLM_REGEN_DOCS=1 cargo test -p reallm
//! --test it reliability::bad_inputs_table` rewrites the table.

use crate::support::*;
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ the table of bad inputs

/// One bad input: files written into a fresh directory, the command, what must come out.
struct Case {
    /// What is wrong (the doc table's first column).
    what: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    args: Vec<&'static str>,
    code: i32,
    needles: Vec<&'static str>,
}

fn case(what: &'static str, args: &[&'static str], code: i32, needles: &[&'static str]) -> Case {
    Case { what, files: vec![], args: args.to_vec(), code, needles: needles.to_vec() }
}

impl Case {
    fn file(mut self, name: &'static str, content: impl Into<Vec<u8>>) -> Case {
        self.files.push((name, content.into()));
        self
    }
}

const GA100: &str = include_str!("../../configs/device/GA100.json");
const RR: &str = "request_id,request_type,application_id,arrival_timestamp,batch_size,prompt_size,token_size";

/// A GA100 device file with one replacement (which must apply).
fn device_with(from: &str, to: &str) -> String {
    assert!(GA100.contains(from), "GA100.json has no `{from}`");
    GA100.replacen(from, to, 1)
}

fn trace(rows: &str) -> String {
    format!("{RR}\n{rows}")
}

const INLINE_LLAMA: &str = "model={plugin: llama, params: {config: {hidden_size: 4096, num_attention_heads: 32, num_key_value_heads: 8, \
     num_hidden_layers: 32, intermediate_size: 14336, vocab_size: 128256}}}";

fn cases() -> Vec<Case> {
    use reallm::error::exit::*;
    let sim_t = ["sim", "--trace", "t.csv"];
    let dev = ["--set", "system.device=d.json", "kernel"];
    vec![
        // ---- config files and --set
        case("YAML syntax error", &["-c", "c.yaml", "sim"], CONFIG, &["c.yaml", "YAML syntax error", "line 3, column 1"])
            .file("c.yaml", "model: llama3-70b\nsystem: [\n"),
        case("top level is a list, not a mapping", &["-c", "c.yaml", "sim"], CONFIG, &["c.yaml", "mapping"]).file("c.yaml", "- a\n- b\n"),
        case("unknown top-level key", &["-c", "c.yaml", "sim"], CONFIG, &["modle", "did you mean `model`"])
            .file("c.yaml", "modle: llama3-70b\nsystem: {device: H100-SXM, num_devices: 8}\n"),
        case("unknown nested key", &["--set", "system.batching.max_batch_seq=4", "sim"], CONFIG, &["max_batch_seq", "did you mean `max_batch_seqs`"]),
        case("wrong type: text for a count", &["--set", "system.num_devices=eight", "sim"], CONFIG, &["system.num_devices", "expected u32"]),
        case("negative device count", &["--set", "system.num_devices=-8", "sim"], CONFIG, &["system.num_devices", "-8"]),
        case("zero devices", &["--set", "system.num_devices=0", "sim"], CONFIG, &["num_devices is 0"]),
        case("10^7 devices", &["--set", "system.num_devices=10000000", "sim"], CONFIG, &["10000000 devices", "limit 1,000,000"]),
        case("zero replicas", &["--set", "system.replicas=0", "sim"], CONFIG, &["replicas = 0", "1 to 100,000"]),
        case("10^6 replicas", &["--set", "system.replicas=1000000", "sim"], CONFIG, &["replicas = 1000000"]),
        case("degrees do not multiply to the device count", &["--set", "system.num_devices=16", "sim"], CONFIG, &["tp8", "num_devices = 16"]),
        case("TP that does not divide the heads", &["--set", "system.num_devices=3", "--set", "system.parallelism.attention=tp3", "kernel"], CONFIG, &["3", "64"]),
        case("unknown parallelism in a plan", &["--set", "system.parallelism.attention=tp4_xp2", "sim"], CONFIG, &["unknown parallelism `xp`"]),
        case("degree 0 in a plan", &["--set", "system.parallelism.attention=tp0", "sim"], CONFIG, &["degree 0"]),
        case("attention and FFN pipeline degrees differ", &["--set", "system.parallelism.ffn=pp2_tp4", "sim"], CONFIG, &["pipeline degree differs"]),
        case("negative request rate", &["--set", "workload.request_rates=-1", "sim"], CONFIG, &["request rate -1"]),
        case("zero request rate", &["--set", "workload.request_rates=[1, 0]", "traces"], CONFIG, &["request rate 0"]),
        case("request rate that is not a number", &["--set", "workload.request_rates=fast", "sim"], CONFIG, &["workload.request_rates", "\"fast\""]),
        case("unknown task", &["--set", "workload.tasks=chat2", "traces"], CONFIG, &["task `chat2`", "code"]),
        case("memory fraction above 1", &["--set", "system.memory.usable_fraction=1.5", "sim"], CONFIG, &["usable_fraction", "1.5"]),
        case("watermark fraction of 1", &["--set", "system.memory.watermark_fraction=1", "sim"], CONFIG, &["watermark_fraction"]),
        case("zero tokens per KV block", &["--set", "system.memory.block_tokens=0", "sim"], CONFIG, &["block_tokens"]),
        case("zero batch size", &["--set", "system.batching.max_batch_seqs=0", "sim"], CONFIG, &["max_batch_seqs"]),
        case("unknown speculative-decoding method", &["--set", "spec_decode.method=medusa", "sim"], CONFIG, &["spec_decode.method", "medusa", "eagle"]),
        case(
            "n-gram speculation without an acceptance model",
            &["--set", "spec_decode.method=ngram", "--set", "spec_decode.num_speculative_tokens=3", "sim"],
            CONFIG,
            &["spec_decode.acceptance", "required"],
        ),
        case(
            "speculative acceptance rate above 1",
            &["--set", "spec_decode.method=mtp", "--set", "spec_decode.acceptance.rates=[1.5]", "sim"],
            CONFIG,
            &["spec_decode.acceptance.rates", "[0, 1]"],
        ),
        case("zero end time", &["--set", "sim.end_time_s=0", "sim"], CONFIG, &["sim.end_time_s", "positive"]),
        case("number beyond f64 (1e400)", &["--set", "workload.end_time_s=1e400", "traces"], CONFIG, &["workload.end_time_s", "expected f64"]),
        case("end time of 0", &["--set", "workload.end_time_s=0", "traces"], CONFIG, &["end time 0 s must be positive"]),
        case("negative iteration overhead", &["--set", "sim.iteration_overhead_s=-0.001", "sim"], CONFIG, &["iteration_overhead_s"]),
        case("unknown collective algorithm", &["--set", "system.parallelism.io_algo=telepathy", "sim"], CONFIG, &["telepathy", "ring"]),
        case("unknown router", &["--set", "system.router=psychic", "sim"], CONFIG, &["psychic", "round_robin"]),
        case("zero kernel block size", &["--set", "kernel.prefill_blocks=[0]", "kernel"], CONFIG, &["prefill_blocks"]),
        case("negative SLO", &["--set", "slo.ttft_s=-1", "sim"], CONFIG, &["slo"]),
        case("both `system` and `disaggregated`", &["-c", "c.yaml", "sim"], CONFIG, &["both `system` and `disaggregated`"]).file(
            "c.yaml",
            "model: llama3-8b\nsystem: {device: H100-SXM, num_devices: 1}\ndisaggregated:\n  prefill: {device: H100-SXM, num_devices: 1}\n  decode: {device: H100-SXM, num_devices: 1}\n",
        ),
        case("no system at all", &["-c", "c.yaml", "sim"], CONFIG, &["missing key `system`"]).file("c.yaml", "model: llama3-8b\n"),
        case("negative KV-transfer bandwidth", &["-c", "c.yaml", "sim"], CONFIG, &["bandwidth_bytes_per_s = -1"]).file(
            "c.yaml",
            "model: llama3-8b\ndisaggregated:\n  prefill: {device: H100-SXM, num_devices: 1}\n  decode: {device: H100-SXM, num_devices: 1}\n  kv_transfer: {bandwidth_bytes_per_s: -1}\n",
        ),
        // ---- benchmark workloads and engine profiles: degenerate numbers are errors
        case("chunked policy with chunk_tokens 0", &["--set", "system.batching.policy=chunked", "--set", "system.batching.chunk_tokens=0", "sim"], CONFIG, &["system.batching.chunk_tokens` = 0", "chunked"]),
        case("original form: sarathi with prefill_chunk 0", &["-c", "c.yaml", "sim"], CONFIG, &["system.prefill_chunk` = 0", "mixed-sarathi"])
            .file("c.yaml", "model: llama70b\nsystem: {device: GA100, num_devices: 8, batching_algo: mixed-sarathi, prefill_chunk: 0}\n"),
        case("zero concurrency", &["--set", "workload.concurrency=[4, 0]", "sim"], CONFIG, &["workload.concurrency` = 0"]),
        case("zero concurrency on the command line", &["sim", "--concurrency", "0"], USAGE, &["--concurrency 0"]),
        case("--concurrency with --rate", &["sim", "--concurrency", "4", "--rate", "1"], USAGE, &["--concurrency", "--rate"]),
        case("negative think time", &["--set", "workload.think_time_s=-1", "sim"], CONFIG, &["workload.think_time_s` = -1"]),
        case("zero duration", &["--set", "workload.duration_s=0", "sim"], CONFIG, &["workload.duration_s` = 0"]),
        case("distribution with min above max", &["--set", "workload.synthetic={requests: 10, input_tokens: {dist: uniform, min: 500, max: 100}, output_tokens: 8}", "sim"], CONFIG, &["workload.synthetic.input_tokens", "min = 500 is above max = 100"]),
        case("zero-length synthetic output", &["--set", "workload.synthetic={requests: 10, input_tokens: 100, output_tokens: 0}", "sim"], CONFIG, &["workload.synthetic.output_tokens", "at least 1 token"]),
        case("normal length without std", &["--set", "workload.synthetic={requests: 10, input_tokens: {dist: normal, mean: 100}, output_tokens: 8}", "sim"], CONFIG, &["workload.synthetic.input_tokens", "needs `std`"]),
        case("negative mean length", &["--set", "workload.synthetic={requests: 10, input_tokens: {dist: lognormal, mean: -5, std: 1}, output_tokens: 8}", "sim"], CONFIG, &["workload.synthetic.input_tokens", "mean = -5"]),
        case("unknown length distribution", &["--set", "workload.synthetic={requests: 10, input_tokens: {dist: zipf, mean: 5}, output_tokens: 8}", "sim"], CONFIG, &["workload.synthetic.input_tokens", "zipf"]),
        case("zero synthetic requests", &["--set", "workload.synthetic={requests: 0, input_tokens: 100, output_tokens: 8}", "sim"], CONFIG, &["workload.synthetic.requests", "0 requests"]),
        case("warm-up leaves nothing to measure", &["--set", "workload.synthetic={requests: 10, input_tokens: 100, output_tokens: 8}", "--set", "workload.warmup_requests=10", "sim"], CONFIG, &["workload.warmup_requests` = 10"]),
        case("unknown engine profile", &["--engine", "tgi", "sim"], CONFIG, &["unknown engine `tgi`", "vllm"]),
        case("`auto` memory without an engine profile", &["--set", "system.memory.usable_fraction=auto", "sim"], CONFIG, &["memory.usable_fraction` = auto", "engine"]),
        case("engine profile in the original form", &["-c", "c.yaml", "--engine", "vllm", "sim"], CONFIG, &["engine profiles apply to ReaLLM's own config form"])
            .file("c.yaml", "model: llama70b\nsystem: {device: GA100, num_devices: 8, batching_algo: continuous}\n"),
        case("original form: unknown sim_method", &["-c", "c.yaml", "sim"], CONFIG, &["sim_method", "warp"])
            .file("c.yaml", "model: llama70b\nsystem: {device: GA100, num_devices: 8}\nsystem_sim: {sim_method: warp}\n"),
        case("config file missing", &["-c", "missing.yaml", "sim"], IO, &["missing.yaml", "No such file"]),
        case("config path is a directory", &["-c", ".", "sim"], IO, &["."]),
        case("--set without `=`", &["--set", "system.num_devices", "sim"], USAGE, &["--set", "KEY.PATH=VALUE"]),
        case("--set with an empty key segment", &["--set", "system..num_devices=4", "sim"], USAGE, &["empty key segment"]),
        case("unknown command-line flag", &["sim", "--tarce", "t.csv"], USAGE, &["--tarce"]),
        // ---- plugins
        case("unknown backend", &["--set", "backend=warp-drive", "kernel"], PLUGIN, &["warp-drive", "roofline"]),
        case("unknown batching policy", &["--set", "system.batching.policy=magic", "sim"], PLUGIN, &["magic", "continuous"]),
        case("unknown batching parameter", &["--set", "system.batching.params={chunk: 3}", "sim"], PLUGIN, &["chunk"]),
        case("unknown model preset", &["--set", "model=gpt-17", "sim"], PLUGIN, &["gpt-17", "known models"]),
        case("model config path missing", &["--set", "model=models/Qwen3-8B", "sim"], INPUT, &["models/Qwen3-8B", "no model config found"]),
        case("model config of an unsupported architecture", &["--set", "model=m/config.json", "sim"], INPUT, &["MambaForCausalLM", "supported: llama"])
            .file("m/config.json", r#"{"architectures": ["MambaForCausalLM"], "model_type": "mamba"}"#),
        case("--plugin without `=`", &["--plugin", "backend", "sim"], USAGE, &["--plugin `backend`", "KIND=NAME"]),
        case("--plugin of an unknown kind", &["--plugin", "engine=v8", "sim"], USAGE, &["unknown kind `engine`"]),
        case("--plugin naming a plugin no library provides", &["--plugin-dir", "plugins", "--plugin", "backend=missing", "sim"], PLUGIN, &["missing", "failed to load"])
            .file("plugins/libbroken.so", b"\x7fELF not really a shared library".to_vec()),
        // ---- model configs (reported by the model plugin)
        case("inline model config missing a field", &["--set", "model={plugin: llama, params: {config: {hidden_size: 4096}}}", "sim"], PLUGIN, &["num_attention_heads", "missing"]),
        case("heads not a multiple of KV heads", &["--set", "model={plugin: llama, params: {config: {hidden_size: 4096, num_attention_heads: 32, num_key_value_heads: 5, num_hidden_layers: 2, intermediate_size: 64, vocab_size: 100}}}", "sim"], PLUGIN, &["not a multiple of 5"]),
        case("4·10^9 layers", &["--set", "model={plugin: llama, params: {config: {hidden_size: 8192, num_attention_heads: 64, num_hidden_layers: 4000000000, intermediate_size: 64, vocab_size: 100}}}", "sim"], PLUGIN, &["num_hidden_layers", "limit"]),
        case("negative hidden size", &["--set", "model={plugin: llama, params: {config: {hidden_size: -1, num_attention_heads: 64, num_hidden_layers: 2, vocab_size: 100}}}", "sim"], PLUGIN, &["hidden_size", "non-negative integer"]),
        case("hf_config file missing", &["--set", "model={plugin: llama, params: {hf_config: nope/config.json}}", "sim"], PLUGIN, &["nope/config.json"]),
        case("hf_config file not JSON", &["--set", "model={plugin: llama, params: {hf_config: config.json}}", "sim"], PLUGIN, &["config.json", "not valid JSON"])
            .file("config.json", "{\"hidden_size\": 4096,"),
        case("model that does not fit in memory", &["--set", "model=llama405b", "--set", "system.num_devices=1", "--set", "system.parallelism.attention=tp1", "sim"], INFEASIBLE, &["does not fit", "GiB"]),
        case("unknown weight data type", &["--set", INLINE_LLAMA, "--set", "model.params.weight_dtype=fp7", "sim"], PLUGIN, &["fp7", "not a data type"]),
        // ---- trace files
        case("trace file missing", &sim_t, INPUT, &["t.csv", "trace file not found"]),
        case("empty trace file", &sim_t, INPUT, &["t.csv", "empty trace file"]).file("t.csv", ""),
        case("trace with a header only", &sim_t, INPUT, &["t.csv", "no requests"]).file("t.csv", format!("{RR}\n")),
        case("trace missing a column", &sim_t, INPUT, &["t.csv", "missing column `token_size`"])
            .file("t.csv", "request_id,arrival_timestamp,prompt_size\n0,0.5,10\n"),
        case("trace row with too few fields", &sim_t, INPUT, &["t.csv", "line 3"]).file("t.csv", trace("0,0,0,0.5,1,10,2\n1,0,0,0.6\n")),
        case("non-numeric arrival time", &sim_t, INPUT, &["t.csv", "line 2", "`soon`"]).file("t.csv", trace("0,0,0,soon,1,10,2\n")),
        case("negative arrival time", &sim_t, INPUT, &["t.csv", "line 2", "non-negative"]).file("t.csv", trace("0,0,0,-1,1,10,2\n")),
        case("NaN arrival time", &sim_t, INPUT, &["t.csv", "line 2", "NaN"]).file("t.csv", trace("0,0,0,nan,1,10,2\n")),
        case("unsorted arrivals", &sim_t, INPUT, &["t.csv", "line 3", "sorted"]).file("t.csv", trace("0,0,0,1.0,1,10,2\n1,0,0,0.5,1,10,2\n")),
        case("duplicate request id (duplicate timestamps are legal)", &sim_t, INPUT, &["t.csv", "line 3", "duplicate request_id 0"])
            .file("t.csv", trace("0,0,0,1.0,1,10,2\n0,0,0,1.0,1,10,2\n")),
        case("negative request id", &sim_t, INPUT, &["t.csv", "request_id `-3`"]).file("t.csv", trace("-3,0,0,1.0,1,10,2\n")),
        case("zero prompt tokens", &sim_t, INPUT, &["t.csv", "prompt_size = 0"]).file("t.csv", trace("0,0,0,1.0,1,0,2\n")),
        case("fractional token count", &sim_t, INPUT, &["t.csv", "token_size `2.5`"]).file("t.csv", trace("0,0,0,1.0,1,10,2.5\n")),
        case("huge token count (10^8)", &sim_t, INPUT, &["t.csv", "prompt_size = 100000000", "10000000"]).file("t.csv", trace("0,0,0,1.0,1,100000000,2\n")),
        case("token count beyond 64 bits", &sim_t, INPUT, &["t.csv", "99999999999999999999999"]).file("t.csv", trace("0,0,0,1.0,1,10,99999999999999999999999\n")),
        case("trace that is not UTF-8 text", &sim_t, INPUT, &["t.csv", "not UTF-8"]).file("t.csv", b"request_id,\xff\xfe\x00\x01\n".to_vec()),
        case("Azure trace with a bad timestamp", &sim_t, INPUT, &["t.csv", "line 2", "timestamp"])
            .file("t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-13-45 18:15:46,374,44\n"),
        case("Azure trace row with 4 fields", &sim_t, INPUT, &["t.csv", "line 2", "3 comma-separated fields"])
            .file("t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,374,44,9\n"),
        case("request longer than the KV cache holds (10^7 tokens)", &sim_t, INFEASIBLE, &["KV"]).file("t.csv", trace("0,0,0,0,1,10000000,1\n")),
        case("Mooncake line that is not JSON", &["sim", "--trace", "t.jsonl"], INPUT, &["t.jsonl", "line 2"])
            .file("t.jsonl", "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [0]}\n{\"timestamp\": 5,\n"),
        case("Mooncake line without input_length", &["sim", "--trace", "t.jsonl"], INPUT, &["t.jsonl", "line 1", "input_length"])
            .file("t.jsonl", "{\"timestamp\": 0, \"output_length\": 2}\n"),
        case("Mooncake unsorted timestamps", &["sim", "--trace", "t.jsonl"], INPUT, &["t.jsonl", "line 2", "sorted"]).file(
            "t.jsonl",
            "{\"timestamp\": 9, \"input_length\": 10, \"output_length\": 2}\n{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 2}\n",
        ),
        case("unknown eviction policy", &["--set", "system.memory.prefix_cache.eviction=random", "sim"], CONFIG, &["prefix_cache.eviction", "random", "lru"]),
        case("prefix-cache block not a multiple of the KV block", &["--set", "system.memory.prefix_cache.block_tokens=24", "sim"], CONFIG, &["block_tokens` = 24", "multiple"]),
        case("negative host-tier capacity", &["--set", "system.memory.prefix_cache.host={capacity_gib: -1}", "sim"], CONFIG, &["host.capacity_gib", "-1"]),
        case("zero SSD-tier bandwidth", &["--set", "system.memory.prefix_cache.ssd={capacity_gib: 1, bandwidth_bytes_per_s: 0}", "sim"], CONFIG, &["ssd.bandwidth_bytes_per_s"]),
        case("negative KV-router weight", &["--set", "system.kv_router.load_weight=-1", "sim"], CONFIG, &["kv_router.load_weight", "-1"]),
        case("zero time scale", &["--set", "workload.time_scale=0", "sim"], CONFIG, &["workload.time_scale"]),
        case("conversations at a negative rate", &["--set", "workload.conversations={rate: -2}", "sim"], CONFIG, &["conversations.rate", "-2"]),
        case("end_reqs excludes every request", &["--set", "workload.end_reqs=0", "sim", "--trace", "t.csv"], INPUT, &["end_reqs = 0"]).file("t.csv", trace("5,0,0,0,1,10,1\n")),
        // ---- device files
        case("device file missing", &["--set", "system.device=devices/TPU9.json", "kernel"], INPUT, &["TPU9.json", "no such device"]),
        case("device JSON syntax error", &dev, INPUT, &["d.json", "line 1"]).file("d.json", "{ \"name\": \"x\", "),
        case("device JSON missing a field", &dev, INPUT, &["d.json", "core_count"]).file("d.json", device_with("\"core_count\"", "\"core_cnt\"")),
        case("negative clock", &dev, INPUT, &["d.json", "device.frequency_Hz", "-1"]).file("d.json", device_with("1410e6", "-1")),
        case("absurd clock (10^15 Hz)", &dev, INPUT, &["d.json", "frequency_Hz", "100 GHz"]).file("d.json", device_with("1410e6", "1e15")),
        case("zero memory capacity", &dev, INPUT, &["d.json", "total_capacity_GB"]).file("d.json", device_with("\"total_capacity_GB\": 80", "\"total_capacity_GB\": 0")),
        case("unknown systolic data type", &dev, INPUT, &["d.json", "data_type", "fp9"]).file("d.json", device_with("\"data_type\": \"fp16\"", "\"data_type\": \"fp9\"")),
        case("text where a number belongs", &dev, INPUT, &["d.json", "link_count_per_device"]).file("d.json", device_with("\"link_count_per_device\": 12", "\"link_count_per_device\": \"twelve\"")),
        // ---- other commands
        case("sweep without a grid", &["sweep"], USAGE, &["--grid"]),
        case("sweep --grid without values", &["sweep", "--grid", "workload.request_rates="], USAGE, &["at least one value"]),
        case("sweep --shard out of range", &["sweep", "--grid", "workload.request_rates=1", "--shard", "3/3"], USAGE, &["--shard `3/3`"]),
        case("sweep point with a bad value", &["sweep", "--grid", "system.num_devices=8,0"], CONFIG, &["num_devices is 0"]),
        case("kernel-time with an unknown dtype", &["kernel-time", "--device", "H100", "--op", "matmul", "--shape", "8,8,8", "--dtype", "fp7"], USAGE, &["fp7"]),
        case("report on a folder without summary.json", &["report", "."], IO, &["summary.json", "No such file"]),
    ]
}

/// The message the doc shows: the `error:` line(s) of stderr, without the directory.
fn message(stderr: &str, dir: &Path) -> String {
    let d = dir.display().to_string();
    stderr.lines().filter(|l| l.starts_with("error:")).collect::<Vec<_>>().join(" / ").replace(&d, ".")
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn shell_word(a: &str) -> String {
    if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,".contains(c)) {
        a.to_string()
    } else {
        format!("'{a}'")
    }
}

/// Run every case (in parallel), check it, and return the doc table.
fn run_cases() -> String {
    let cases = cases();
    let results: Vec<(usize, Result<String, String>)> = std::thread::scope(|s| {
        let chunks: Vec<Vec<(usize, &Case)>> = {
            let n = 4;
            let mut v: Vec<Vec<(usize, &Case)>> = (0..n).map(|_| Vec::new()).collect();
            for (i, c) in cases.iter().enumerate() {
                v[i % n].push((i, c));
            }
            v
        };
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, c)| {
                            let dir = tempfile::tempdir().unwrap();
                            for (name, content) in &c.files {
                                let p = dir.path().join(name);
                                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                                std::fs::write(p, content).unwrap();
                            }
                            let out = reallm(dir.path()).env_remove("REALLM_PLUGIN_PATH").args(&c.args).output().unwrap();
                            let err = stderr(&out);
                            let what = format!("case {} ({}): reallm {}", i + 1, c.what, c.args.join(" "));
                            let msg = message(&err, dir.path());
                            let mut problems = Vec::new();
                            if out.status.code() != Some(c.code) {
                                problems.push(format!("exit code {:?}, expected {}", out.status.code(), c.code));
                            }
                            if err.contains("panicked") || err.contains("internal error") || msg.is_empty() {
                                problems.push(format!("stderr: {err}"));
                            }
                            for n in &c.needles {
                                if !msg.contains(n) {
                                    problems.push(format!("expected `{n}`"));
                                }
                            }
                            if !problems.is_empty() {
                                return (i, Err(format!("{what}: {} in: {msg}", problems.join("; "))));
                            }
                            let cmd = c.args.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" ");
                            let files = c.files.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ");
                            let what_col = if files.is_empty() { c.what.to_string() } else { format!("{} ({files})", c.what) };
                            (
                                i,
                                Ok(format!(
                                    "| {} | {} | `reallm {}` | {} | {} |",
                                    i + 1,
                                    md_escape(&what_col),
                                    md_escape(&cmd),
                                    c.code,
                                    md_escape(&msg)
                                )),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    let mut rows = results;
    rows.sort_by_key(|r| r.0);
    let failures: Vec<&String> = rows.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        rows.len(),
        failures.iter().map(|f| f.as_str()).collect::<Vec<_>>().join("\n")
    );
    let mut table = String::from("| # | bad input (files) | command | exit | message |\n|---|---|---|---|---|\n");
    for (_, r) in rows.into_iter().filter_map(|(i, r)| r.ok().map(|r| (i, r))) {
        table.push_str(&r);
        table.push('\n');
    }
    table
}

const BEGIN: &str = "<!-- BEGIN BAD-INPUT TABLE (generated by tests/it/reliability.rs; REALLM_REGEN_DOCS=1 to update) -->\n";
const END: &str = "<!-- END BAD-INPUT TABLE -->";

#[test]
fn bad_inputs_table() {
    let n = cases().len();
    assert!(n >= 40, "only {n} cases");
    let table = run_cases();
    let doc_path = repo().join("docs/reliability.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap_or_default();
    let (Some(a), Some(b)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/reliability.md lacks the table markers");
    };
    let current = &doc[a + BEGIN.len()..b];
    if current != table {
        if std::env::var_os("REALLM_REGEN_DOCS").is_some() {
            let new = format!("{}{BEGIN}{table}{}", &doc[..a], &doc[b..]);
            std::fs::write(&doc_path, new).unwrap();
        } else {
            panic!("docs/reliability.md is out of date; rerun with REALLM_REGEN_DOCS=1. Expected table:\n{table}");
        }
    }
}

// ------------------------------------------------------------------ panics and exit codes

#[test]
fn a_panic_is_one_line_with_exit_code_70() {
    let dir = tempfile::tempdir().unwrap();
    let out = reallm(dir.path()).env("REALLM_DEBUG_PANIC", "1").env_remove("RUST_BACKTRACE").args(["plugins"]).output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(70), "{err}");
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("error: internal error (please report): REALLM_DEBUG_PANIC=1: deliberate panic at "), "{err}");
    let out = reallm(dir.path()).env("REALLM_DEBUG_PANIC", "1").env("RUST_BACKTRACE", "1").args(["plugins"]).output().unwrap();
    assert_eq!(out.status.code(), Some(70));
    assert!(stderr(&out).lines().count() > 1, "a backtrace with RUST_BACKTRACE=1");
}

// ------------------------------------------------------------------ determinism

/// Every file under `root`, relative path → bytes.
fn tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A small MoE model (expert routing is sampled: the seed matters) on 2 devices.
const SMALL: &[&str] = &[
    "--set",
    "model=mixtral",
    "--set",
    "system.num_devices=2",
    "--set",
    "system.parallelism.attention=tp2",
    "--set",
    "system.parallelism.ffn=ep2",
    "--set",
    "workload.max_requests=40",
    "--set",
    "workload.request_rates=4",
    "--set",
    "sim.seed=5",
];

#[test]
fn two_sim_runs_give_identical_files() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [a.path(), b.path()] {
        let out = reallm(d).args(SMALL).args(["-q", "sim"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    let names: Vec<String> = ta.keys().filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string())).collect();
    for n in ["rr_code_4.csv", "sim_results.csv", "summary.json", "requests.csv", "iterations.csv", "trace.json"] {
        assert!(names.iter().any(|x| x == n), "{n} not written: {names:?}");
    }
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (p, x) in &ta {
        assert!(x == &tb[p], "{} differs between two identical runs", p.display());
    }
}

#[test]
fn sweep_with_one_or_two_threads_gives_identical_csv() {
    let dir = tempfile::tempdir().unwrap();
    let mut csvs = Vec::new();
    for jobs in ["1", "2"] {
        let out_name = format!("sweep_{jobs}.csv");
        let out = reallm(dir.path())
            .args(SMALL)
            .args(["-q", "sweep", "--grid", "workload.request_rates=2,8", "--grid", "system.batching.policy=continuous,chunked"])
            .args(["--jobs", jobs, "--out", &out_name])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        csvs.push(std::fs::read(dir.path().join(&out_name)).unwrap());
    }
    assert_eq!(String::from_utf8_lossy(&csvs[0]).lines().count(), 5, "header + 4 points");
    assert!(csvs[0] == csvs[1], "sweep CSV differs between --jobs 1 and --jobs 2");
}

// ------------------------------------------------------------------ interrupts

/// Send SIGINT to a child process.
#[cfg(unix)]
fn sigint(child: &std::process::Child) {
    let ok = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -INT failed");
}

/// A single-device Llama-3-8B run of `n` requests (about 1.5 s in debug for 8,000).
fn long_run(n: &'static str) -> Vec<&'static str> {
    vec![
        "-q",
        "--set",
        "model=llama3-8b",
        "--set",
        "system.num_devices=1",
        "--set",
        "system.parallelism.attention=tp1",
        "--set",
        n,
        "--set",
        "workload.end_time_s=4000",
        "--set",
        "workload.request_rates=10",
    ]
}

/// Interrupt a longer `sim` at several moments (the last ones usually land while the result
/// files are being written): the exit code is 130 (or 0 if it finished first), no temporary
/// file remains, and every result file present is complete: identical to the file of an
/// uninterrupted run. A rerun then completes and overwrites cleanly.
#[cfg(unix)]
#[test]
fn interrupted_sim_leaves_no_partial_file() {
    let mut args = long_run("workload.max_requests=8000");
    args.push("sim");
    let reference = tempfile::tempdir().unwrap();
    // Generate the trace first, so that the timed runs start at the simulation.
    let out = reallm(reference.path()).args(&args[..args.len() - 1]).arg("traces").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let traces = tree(reference.path());
    let start = std::time::Instant::now();
    let out = reallm(reference.path()).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let full = start.elapsed();
    let expected = tree(reference.path());
    let mut interrupted = 0;
    let dir = tempfile::tempdir().unwrap();
    for frac in [0.25, 0.5, 0.9, 0.97] {
        let _ = std::fs::remove_dir_all(dir.path().join("workspace"));
        for (p, bytes) in &traces {
            std::fs::create_dir_all(dir.path().join(p).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(p), bytes).unwrap();
        }
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_reallm"))
            .current_dir(dir.path())
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(frac));
        sigint(&child);
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(130) => {
                interrupted += 1;
                assert!(stderr(&out).contains("error: interrupted"), "{}", stderr(&out));
            }
            Some(0) => {}
            other => panic!("fraction {frac}: exit {other:?}: {}", stderr(&out)),
        }
        for (p, bytes) in &tree(dir.path()) {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            assert!(!reallm::output::is_temporary_name(&name), "fraction {frac}: temporary {} left behind", p.display());
            let want = expected.get(p).unwrap_or_else(|| panic!("fraction {frac}: unexpected file {}", p.display()));
            assert!(bytes == want, "fraction {frac}: {} is present but not complete", p.display());
        }
    }
    assert!(interrupted > 0, "no run was interrupted (each finished within {full:?})");
    // A rerun finishes and overwrites whatever was there.
    let out = reallm(dir.path()).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(tree(dir.path()) == expected, "the rerun differs from the reference");
}

/// Ctrl-C stops a sweep after the points in flight: the finished rows are kept in
/// `<out>.partial` and a rerun completes the sweep without redoing them.
#[cfg(unix)]
#[test]
fn interrupted_sweep_keeps_finished_rows() {
    let dir = tempfile::tempdir().unwrap();
    let base = long_run("workload.max_requests=1500");
    let grid = ["sweep", "--grid", "workload.request_rates=1,2,3,4,5,6,7,8", "--jobs", "1", "--out", "s.csv"];
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_reallm"))
        .current_dir(dir.path())
        .args(&base)
        .args(grid)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first row, then interrupt.
    let partial = dir.path().join("s.csv.partial");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&partial).map(|t| t.lines().count() < 2).unwrap_or(true) && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    let text = std::fs::read_to_string(&partial).unwrap_or_default();
    if out.status.code() == Some(0) {
        return; // finished before the signal landed: nothing to check
    }
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(!dir.path().join("s.csv").exists(), "the final CSV must not exist after an interrupt");
    let kept = text.lines().count() - 1;
    assert!((1..8).contains(&kept), "rows kept: {kept}\n{text}");
    let out = reallm(dir.path()).args(&base).args(grid).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("{kept} already done")), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(dir.path().join("s.csv")).unwrap().lines().count(), 9);
    assert!(!partial.exists());
}

// ------------------------------------------------------------------ fuzzing

mod fuzz {
    //! Property-based fuzzing of the loaders (proptest; cargo-fuzz needs nightly). Each
    //! property runs `REALLM_FUZZ_CASES` cases (default 48): every input gives `Ok` or an
    //! `Err` with a message, never a panic. Seeds: the shipped configs and devices and
    //! `tests/fuzz-corpus/`.

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use serde_json::Value;

    fn cases() -> u32 {
        std::env::var("REALLM_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48)
    }

    fn runner() -> TestRunner {
        TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() })
    }

    fn corpus(dir: &str) -> Vec<(String, String)> {
        let root = crate::support::repo().join(dir);
        let mut v: Vec<(String, String)> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), std::fs::read_to_string(&p).unwrap()))
            .collect();
        v.sort();
        v
    }

    /// Values that break naive code: signs, zero, limits, non-numbers, wrong types.
    const INTERESTING: &[&str] = &[
        "0",
        "-1",
        "1",
        "-0.0",
        "0.5",
        "1e400",
        "-1e400",
        "1e-400",
        "nan",
        ".nan",
        ".inf",
        "4294967296",
        "18446744073709551616",
        "9223372036854775807",
        "\"\"",
        "\"x\"",
        "null",
        "[]",
        "{}",
        "true",
        "[0]",
        "tp0",
        "tp3_dp5",
        "ep1000000",
        "{tp: 0}",
    ];

    /// A text mutation: replace, insert or delete at a position, or swap in an interesting
    /// value after a `:`.
    #[derive(Debug, Clone)]
    enum Mutation {
        Delete { at: usize, len: usize },
        Insert { at: usize, text: String },
        Value { nth: usize, value: usize },
        Truncate { at: usize },
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), 0usize..16).prop_map(|(at, len)| Mutation::Delete { at, len }),
            (any::<usize>(), "[ -~\n\t]{0,12}").prop_map(|(at, text)| Mutation::Insert { at, text }),
            (any::<usize>(), any::<usize>()).prop_map(|(nth, value)| Mutation::Value { nth, value }),
            any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        ]
    }

    fn boundary(s: &str, at: usize) -> usize {
        let mut i = if s.is_empty() { 0 } else { at % (s.len() + 1) };
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    fn apply(s: &str, m: &Mutation) -> String {
        match m {
            Mutation::Delete { at, len } => {
                let a = boundary(s, *at);
                let b = boundary(s, a + len);
                let b = if b < a { a } else { b };
                format!("{}{}", &s[..a], &s[b..])
            }
            Mutation::Insert { at, text } => {
                let a = boundary(s, *at);
                format!("{}{text}{}", &s[..a], &s[a..])
            }
            Mutation::Value { nth, value } => {
                // The nth `: ` (YAML) or `": ` (JSON) value: replace up to the line's end or `,`.
                let spots: Vec<usize> = s.match_indices(": ").map(|(i, _)| i + 2).collect();
                if spots.is_empty() {
                    return s.to_string();
                }
                let a = spots[nth % spots.len()];
                let rest = &s[a..];
                let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
                format!("{}{}{}", &s[..a], INTERESTING[value % INTERESTING.len()], &s[a + end..])
            }
            Mutation::Truncate { at } => s[..boundary(s, *at)].to_string(),
        }
    }

    /// An error must say something and, for file errors, name the origin.
    fn check_err(e: &reallm::Error, origin: &str) {
        let m = e.to_string();
        assert!(!m.trim().is_empty());
        match e {
            reallm::Error::Config { .. } | reallm::Error::Input { .. } => assert!(m.contains(origin), "{m}"),
            reallm::Error::Internal(_) => panic!("internal error from a loader: {m}"),
            _ => {}
        }
    }

    #[test]
    fn config_loader_never_panics() {
        let mut seeds = corpus("tests/fuzz-corpus/config");
        for f in ["default.yaml", "default_homo.yaml", "default_hetero.yaml"] {
            seeds.push((f.into(), std::fs::read_to_string(crate::support::repo().join("configs/system").join(f)).unwrap()));
        }
        let n = seeds.len();
        let strat = (0..n, prop::collection::vec(mutation(), 1..4));
        runner()
            .run(&strat, |(i, ms)| {
                let mut text = seeds[i].1.clone();
                for m in &ms {
                    text = apply(&text, m);
                }
                if let Err(e) = reallm::config::load_str(&text, "fuzz.yaml", None, &[]) {
                    check_err(&e, "fuzz.yaml");
                }
                Ok(())
            })
            .unwrap();
        // Random YAML-ish text.
        runner()
            .run(&"[a-z_:{}\\[\\], \n\\-0-9.#'\"&*!|>]{0,120}", |text| {
                if let Err(e) = reallm::config::load_str(&text, "fuzz.yaml", None, &[]) {
                    check_err(&e, "fuzz.yaml");
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn trace_readers_never_panic() {
        let seeds = corpus("tests/fuzz-corpus/trace");
        let n = seeds.len();
        runner()
            .run(&(0..n, prop::collection::vec(mutation(), 1..4)), |(i, ms)| {
                let mut text = seeds[i].1.clone();
                for m in &ms {
                    text = apply(&text, m);
                }
                if let Err(e) = reallm::workload::trace::parse(&text, "fuzz.csv") {
                    check_err(&e, "fuzz.csv");
                }
                Ok(())
            })
            .unwrap();
        // Random rows under each header, fields drawn from numbers and junk.
        let field = prop_oneof!["-?[0-9]{0,25}(\\.[0-9]{0,5})?", "[a-z:. -]{0,8}", Just("nan".to_string()), Just("1e400".to_string())];
        let row = prop::collection::vec(field, 0..9).prop_map(|f| f.join(","));
        let header = prop_oneof![
            Just(super::RR.to_string()),
            Just("TIMESTAMP,ContextTokens,GeneratedTokens".to_string()),
            Just("request_id,arrival_timestamp,prompt_size,token_size".to_string())
        ];
        runner()
            .run(&(header, prop::collection::vec(row, 0..6)), |(h, rows)| {
                let text = format!("{h}\n{}\n", rows.join("\n"));
                if let Err(e) = reallm::workload::trace::parse(&text, "fuzz.csv") {
                    check_err(&e, "fuzz.csv");
                }
                Ok(())
            })
            .unwrap();
    }

    /// Every leaf of a JSON value, as JSON pointers.
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| leaves(x, format!("{at}/{k}"), out)),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
            _ => out.push(at),
        }
    }

    fn json_value(i: usize) -> Option<Value> {
        let s = INTERESTING[i % INTERESTING.len()];
        match s {
            "nan" | ".nan" | ".inf" | "tp0" | "tp3_dp5" | "ep1000000" | "{tp: 0}" => Some(Value::String(s.into())),
            "-1e400" => None, // remove the key instead
            _ => serde_json::from_str(s).ok().or(Some(Value::String(s.into()))),
        }
    }

    /// Replace (or remove) the `nth` leaf of `v`.
    fn mutate_json(v: &mut Value, nth: usize, value: usize) {
        let mut ls = Vec::new();
        leaves(v, String::new(), &mut ls);
        if ls.is_empty() {
            return;
        }
        let ptr = &ls[nth % ls.len()];
        match json_value(value) {
            Some(x) => {
                if let Some(slot) = v.pointer_mut(ptr) {
                    *slot = x;
                }
            }
            None => {
                let (parent, key) = ptr.rsplit_once('/').unwrap_or(("", ptr));
                if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                    m.remove(key);
                }
            }
        }
    }

    #[test]
    fn device_reader_never_panics() {
        let dir = crate::support::repo().join("configs/device");
        let mut seeds: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
        seeds.sort();
        let n = seeds.len();
        let strat = (0..n, prop::collection::vec((any::<usize>(), any::<usize>()), 1..4), prop::option::of(mutation()));
        runner()
            .run(&strat, |(i, edits, text_mutation)| {
                let mut v: Value = serde_json::from_str(&seeds[i]).unwrap();
                for (nth, value) in &edits {
                    mutate_json(&mut v, *nth, *value);
                }
                let mut text = serde_json::to_string_pretty(&v).unwrap();
                if let Some(m) = &text_mutation {
                    text = apply(&text, m);
                }
                match reallm::devices::parse_device_json(&text, "fuzz.json") {
                    Err(e) => check_err(&e, "fuzz.json"),
                    Ok(d) => {
                        // Accepted devices have usable peaks.
                        prop_assert!(d.peak_matmul_flops.is_finite() && d.peak_matmul_flops > 0.0, "{d:?}");
                        prop_assert!(d.mem_bw_bytes_per_s.is_finite() && d.mem_bw_bytes_per_s > 0.0, "{d:?}");
                    }
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn model_config_loaders_never_panic() {
        use reallm_plugin_api::{BatchShape, ModelGraph, PrefillChunk};
        let seeds = corpus("tests/fuzz-corpus/model");
        let n = seeds.len();
        let strat = (0..n, prop::collection::vec((any::<usize>(), any::<usize>()), 1..4), any::<bool>());
        runner()
            .run(&strat, |(i, edits, deepseek_plugin)| {
                let mut cfg: Value = serde_json::from_str(&seeds[i].1).unwrap();
                for (nth, value) in &edits {
                    mutate_json(&mut cfg, *nth, *value);
                }
                let params = serde_json::json!({ "config": cfg, "exact_routing_max_tokens": 64 });
                let built = if deepseek_plugin { reallm_deepseek::create(&params) } else { reallm_llama::create(&params) };
                if let Ok(model) = built {
                    // A model that loads must also build a step.
                    let shape = BatchShape {
                        prefills: vec![PrefillChunk { tokens: 37, prefix: 0, last: true }],
                        decode_seqs: 3,
                        decode_ctx_sum: 300,
                        seed: 1,
                        spec_tokens: 0,
                    };
                    let mut g = ModelGraph::default();
                    let _ = model.build_step(&shape, &mut g);
                }
                Ok(())
            })
            .unwrap();
    }

    /// The corpus files parse as their seeds (so mutations start from valid inputs).
    #[test]
    fn corpus_seeds_are_valid() {
        for (name, text) in corpus("tests/fuzz-corpus/config") {
            reallm::config::load_str(&text, &name, None, &[]).unwrap();
        }
        for (name, text) in corpus("tests/fuzz-corpus/trace") {
            reallm::workload::trace::parse(&text, &name).unwrap();
        }
        for (name, text) in corpus("tests/fuzz-corpus/model") {
            let cfg: Value = serde_json::from_str(&text).unwrap();
            let params = serde_json::json!({ "config": cfg });
            let r = if name.starts_with("deepseek") { reallm_deepseek::create(&params) } else { reallm_llama::create(&params) };
            assert!(r.is_ok(), "{name}: {:?}", r.err());
        }
    }
}
