//! Sweeps: shards merged equal one run; the Slurm array script works as documented.

use crate::support::*;

const GRID: [&str; 4] = ["--grid", "workload.request_rates=1,3", "--grid", "system.batching.policy=continuous,chunked"];

fn base(dir: &std::path::Path) -> assert_cmd::Command {
    let mut c = reallm(dir);
    c.args([
        "--set",
        "workload.max_requests=15",
        "--set",
        "model=llama3-8b",
        "--set",
        "system.num_devices=1",
        "--set",
        "system.parallelism.attention=tp1",
    ]);
    c
}

#[test]
fn shards_merged_equal_one_run_and_slurm_script() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = base(d).arg("sweep").args(GRID).args(["--out", "all.csv"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for i in 0..3 {
        let out = base(d)
            .arg("sweep")
            .args(GRID)
            .args(["--shard", &format!("{i}/3"), "--jobs", "1", "--out", &format!("s{i}.csv")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = reallm(d).args(["sweep", "merge", "s0.csv", "s1.csv", "s2.csv", "--out", "merged.csv"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let all = std::fs::read_to_string(d.join("all.csv")).unwrap();
    assert_eq!(all.lines().count(), 5);
    assert_eq!(all, std::fs::read_to_string(d.join("merged.csv")).unwrap());
    // The documented Slurm array script, run as two array tasks.
    let script = repo().join("docs/cluster/slurm-sweep.sh");
    for i in 0..2 {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .current_dir(d)
            .env("REALLM", env!("CARGO_BIN_EXE_reallm"))
            .env(
                "REALLM_ARGS",
                "--set workload.max_requests=15 --set model=llama3-8b --set system.num_devices=1 --set system.parallelism.attention=tp1",
            )
            .env("GRID", GRID.join(" "))
            .env("SLURM_ARRAY_TASK_ID", i.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "2")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = reallm(d).args(["sweep", "merge", "sweep-shard-0.csv", "sweep-shard-1.csv", "--out", "slurm.csv"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(all, std::fs::read_to_string(d.join("slurm.csv")).unwrap());
}

#[test]
fn capacity_finds_a_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out = base(dir.path())
        .args(["capacity", "--task", "code", "--requests", "40", "--ttft-p99", "1.0", "--lo", "1", "--hi", "16", "--tol", "0.1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("capacity:") && text.contains("req/s per device"), "{text}");
}
