//! The original tool's config files run unchanged.

use crate::support::*;

#[test]
fn default_homo_runs_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = repo().join("configs/system/default_homo.yaml");
    // Generate only the trace the config simulates (the config itself lists 14).
    let out = reallm(dir.path()).args(["-c", cfg.to_str().unwrap(), "traces", "--task", "code", "--rate", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = reallm(dir.path()).args(["-c", cfg.to_str().unwrap(), "sim"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("20 completed of 20"), "{text}");
    let res = std::fs::read_to_string(find(&dir.path().join("workspace"), "sim_results.csv")).unwrap();
    assert_eq!(res.lines().count(), 21);
}

#[test]
fn default_homo_with_roofline() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = repo().join("configs/system/default_homo.yaml");
    let out = reallm(dir.path()).args(["-c", cfg.to_str().unwrap(), "--set", "system_sim.sim_method=roofline", "sim"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("20 completed of 20"));
}
