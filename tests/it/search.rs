//! `reallm search` from the command line: no config file needed, the documented Slurm script,
//! shards merged equal one run, the winner's config runs, errors exit with their codes.

use crate::support::*;

/// A small search: Llama-3-8B on 2 GPUs (6 deployments: 1 × 1 GPU... and one disaggregated
/// 1 + 1), two load levels of 30 short requests.
const SEARCH: [&str; 16] = [
    "--model",
    "llama3-8b",
    "--gpus",
    "2",
    "--isl",
    "128",
    "--osl",
    "8",
    "--requests",
    "30",
    "--rates",
    "1,80",
    "--ttft",
    "0.05",
    "--tpot",
    "0.01",
];

#[test]
fn search_with_no_config_file_writes_the_frontier_and_a_winner_that_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = reallm(d).arg("search").args(SEARCH).args(["--out", "s"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("6 deployments enumerated") && text.contains("Pareto frontier"), "{text}");
    assert!(text.contains("best under the SLO") && text.contains("name: search-best"), "{text}");
    for f in ["search.csv", "search.json", "pareto.svg", "best.yaml", "best_trace.csv"] {
        assert!(d.join("s").join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(d.join("s/search.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6 * 2);
    let svg = std::fs::read_to_string(d.join("s/pareto.svg")).unwrap();
    assert!(roxmltree::Document::parse(&svg).is_ok());
    // The winner runs as it is.
    let out = reallm(d).args(["-c", "s/best.yaml", "--workspace", "ws", "sim"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // --dry-run counts and simulates nothing.
    let out = reallm(d).arg("search").args(SEARCH).args(["--out", "dry", "--dry-run"]).output().unwrap();
    assert!(out.status.success() && stdout(&out).contains("12 simulations"), "{}", stdout(&out));
    assert!(!d.join("dry").exists());
}

#[test]
fn slurm_shards_merged_equal_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = reallm(d).arg("search").args(SEARCH).args(["--out", "all", "--jobs", "2"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let script = repo().join("docs/cluster/slurm-search.sh");
    for i in 0..3 {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .current_dir(d)
            .env("REALLM", env!("CARGO_BIN_EXE_reallm"))
            .env("SEARCH", SEARCH.join(" "))
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "3")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out =
        reallm(d).args(["search", "merge", "search-shard-0", "search-shard-1", "search-shard-2", "--out", "merged"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for f in ["search.csv", "search.json", "pareto.svg", "best.yaml", "best_trace.csv"] {
        assert_eq!(std::fs::read(d.join("all").join(f)).unwrap(), std::fs::read(d.join("merged").join(f)).unwrap(), "{f}");
    }
}

#[test]
fn search_errors_exit_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = reallm(d).arg("search").args(SEARCH).args(["--shard", "3/3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = reallm(d).arg("search").args(SEARCH).args(["--set", "search.workload.levels=-1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("search.workload.levels"), "{}", stderr(&out));
    let out = reallm(d).arg("search").args(SEARCH).args(["--mode", "both"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = reallm(d).args(["search", "merge", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn closed_loop_levels_over_a_trace_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reqs: Vec<reallm::workload::Request> =
        (0..30).map(|i| reallm::workload::Request::new(i, i as f64, 64 + 4 * i as u32, 4 + (i % 5) as u32)).collect();
    reallm::workload::trace::write_rr(&d.join("t.csv"), &reqs, 0).unwrap();
    let args = ["--model", "llama3-8b", "--gpus", "2", "--requests", "30", "--ttft", "0.05", "--tpot", "0.01", "--trace", "t.csv"];
    let out = reallm(d).arg("search").args(args).args(["--concurrency", "1,8", "--out", "c"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("load levels 1, 8 clients") && text.contains("c=8"), "{text}");
    let csv = std::fs::read_to_string(d.join("c/search.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6 * 2);
    // The winner's config runs its closed loop over best_trace.csv.
    let best = std::fs::read_to_string(d.join("c/best.yaml")).unwrap();
    assert!(best.contains("concurrency:") && best.contains("best_trace.csv"), "{best}");
    let out = reallm(d).args(["-c", "c/best.yaml", "--workspace", "ws", "sim"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // One kind of load level at a time.
    let out = reallm(d).arg("search").args(args).args(["--concurrency", "2", "--rates", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn engines_as_an_axis_from_the_command_line() {
    // Two engines: the 6 deployments twice; an unknown engine names the key.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = reallm(d).arg("search").args(SEARCH).args(["--engines", "vllm,sglang", "--dry-run"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("12 deployments enumerated") && stdout(&out).contains("24 simulations"), "{}", stdout(&out));
    let out = reallm(d).arg("search").args(SEARCH).args(["--engines", "vllm,tgi", "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown engine `tgi`"), "{}", stderr(&out));
}
