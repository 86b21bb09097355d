//! The README's main command and the stage commands.

use crate::support::*;

#[test]
fn all_on_the_default_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = reallm(dir.path()).arg("all").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in ["TTFT", "TBT", "E2E", "throughput", "300 completed of 300"] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    let ws = dir.path().join("workspace");
    assert!(ws.join("traces/rr_code_1.csv").is_file());
    assert!(ws.join("kernel_lib/matmul_sizes.txt").is_file());
    assert!(ws.join("kernel_lib/H100-SXM_matmul_latency.csv").is_file());
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(find(&ws, "summary.json")).unwrap()).unwrap();
    for key in ["ttft_s", "tbt_s", "tpot_s", "e2e_s"] {
        for stat in ["mean", "p50", "p90", "p99"] {
            assert!(summary[key][stat].as_f64().unwrap() > 0.0, "{key}.{stat}");
        }
    }
    assert_eq!(summary["requests"]["total"], 300);
    assert_eq!(summary["requests"]["completed"], 300);
    for k in ["requests_per_s", "input_tokens_per_s", "output_tokens_per_s"] {
        assert!(summary["throughput"][k].as_f64().unwrap() > 0.0);
    }
    assert!(summary["makespan_s"].as_f64().unwrap() > 0.0);
    // sim_results.csv: one row per request, request_id, arrival, then one time per token.
    let res = std::fs::read_to_string(find(&ws, "sim_results.csv")).unwrap();
    assert_eq!(res.lines().count(), 301);
}

#[test]
fn sim_task_rate_and_summary_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = reallm(dir.path())
        .args(["--set", "workload.max_requests=40", "sim", "--task", "conv", "--rate", "2", "--summary-json", "s.json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("workspace/traces/rr_conv_2.csv").is_file(), "missing generated trace is generated");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(s["requests"]["total"], 40);
}

#[test]
fn traces_command_writes_each_task_and_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out = reallm(dir.path())
        .args(["--set", "workload.max_requests=10", "traces", "--task", "code", "conv", "--rate", "1", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for f in ["rr_code_1.csv", "rr_code_3.csv", "rr_conv_1.csv", "rr_conv_3.csv"] {
        let text = std::fs::read_to_string(dir.path().join("workspace/traces").join(f)).unwrap();
        assert!(text.starts_with("request_id,request_type,application_id,arrival_timestamp,batch_size,prompt_size,token_size\n"));
        assert_eq!(text.lines().count(), 11);
    }
}

#[test]
fn config_set_and_current() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mine.yaml");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(repo().join("configs/system/default.yaml")).unwrap().replace("max_requests: 300", "max_requests: 5"),
    )
    .unwrap();
    let out = reallm(dir.path()).args(["config", "current"]).output().unwrap();
    assert!(stdout(&out).contains("built-in default"));
    let out = reallm(dir.path()).args(["config", "set", "mine.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = reallm(dir.path()).args(["config", "current"]).output().unwrap();
    assert!(stdout(&out).contains("mine.yaml"));
    let out = reallm(dir.path()).arg("sim").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("5 completed of 5"));
}

#[test]
fn model_show_prints_kernels() {
    let dir = tempfile::tempdir().unwrap();
    let out = reallm(dir.path()).args(["model", "show", "llama70b", "--prefill", "512", "--decode-ctx", "100", "200"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("80 layers") && text.contains("all_reduce") && text.contains("flash_attention") || text.contains("\"attention\""),
        "{text}"
    );
}

#[test]
fn deepseek_v3_and_llama_405b_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["deepseekv3", "llama405b"] {
        let out = reallm(dir.path())
            .args([
                "--set",
                &format!("model={model}"),
                "--set",
                "system.device=H200-SXM",
                "--set",
                "workload.max_requests=5",
                "--set",
                "kernel.all_plans=false",
                "all",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{model}: {}", stderr(&out));
        assert!(stdout(&out).contains("5 completed of 5"), "{model}");
    }
    // DeepSeek-V3 on the original tool's heterogeneous plans, each as a single homogeneous pool.
    for (attn, ffn, n) in [("tp4_dp8", "ep32", "32"), ("tp4_dp80", "ep320", "320")] {
        let out = reallm(dir.path())
            .args([
                "--set",
                "model=deepseekv3",
                "--set",
                &format!("system.num_devices={n}"),
                "--set",
                &format!("system.parallelism.attention={attn}"),
            ])
            .args(["--set", &format!("system.parallelism.ffn={ffn}"), "--set", "workload.max_requests=5", "sim"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{attn}/{ffn}: {}", stderr(&out));
    }
}

/// `model:` as a path to a Hugging Face config (a folder holding one, or the file), in both
/// config forms and in `model show`, with the family detected from the file.
#[test]
fn model_given_as_a_config_path() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("models/gpt-oss-20b");
    std::fs::create_dir_all(&model_dir).unwrap();
    std::fs::write(model_dir.join("config.json"), include_str!("../../plugins/llama/configs/openai--gpt-oss-20b.json")).unwrap();
    // `model show PATH`.
    let out = reallm(dir.path()).args(["model", "show", "models/gpt-oss-20b/config.json", "--decode-ctx", "1000"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("gpt-oss-20b (llama): 24 layers") && text.contains("decode_attention"), "{text}");
    // The product form (here through --set), end to end on an H200.
    let out = reallm(dir.path())
        .args(["--set", "model=models/gpt-oss-20b", "--set", "system.device=H200-SXM"])
        .args(["--set", "workload.max_requests=5", "sim"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("5 completed of 5"), "{}", stdout(&out));
    // The original tool's form, with the path relative to the config file.
    let original = include_str!("../../configs/system/default_homo.yaml").replace("model: llama70b", "model: models/gpt-oss-20b");
    std::fs::write(dir.path().join("orig.yaml"), original).unwrap();
    let out = reallm(dir.path()).args(["-c", "orig.yaml", "model", "show"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("gpt-oss-20b (llama): 24 layers"), "{}", stdout(&out));
    // An architecture no plugin reads: an input error listing what is supported.
    std::fs::write(dir.path().join("mamba.json"), r#"{"architectures": ["MambaForCausalLM"], "model_type": "mamba"}"#).unwrap();
    let out = reallm(dir.path()).args(["model", "show", "mamba.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("MambaForCausalLM") && err.contains("Qwen3ForCausalLM") && err.contains("DeepseekV3ForCausalLM"), "{err}");
}
