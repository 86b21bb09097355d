//! Helpers shared by the integration tests.

use std::path::Path;
use std::process::Output;

/// A `reallm` command running in `dir`.
pub fn reallm(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_reallm"));
    c.current_dir(dir).env_remove("RUST_LOG");
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The repository root (for shipped configs).
pub fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Find the single file named `name` under `root`.
pub fn find(root: &Path, name: &str) -> std::path::PathBuf {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() == name {
                found.push(p);
            }
        }
    }
    assert_eq!(found.len(), 1, "expected one {name} under {}, found {found:?}", root.display());
    found.pop().unwrap()
}

/// The first pool of an experiment, assembled.
pub fn pool(exp: &reallm::config::Experiment) -> reallm::sim::Pool {
    reallm::assemble::build_pool(exp, &exp.pool).unwrap()
}

/// Run requests on assembled pools with default options, keeping every record.
pub fn run_pools(
    pools: &mut [reallm::sim::Pool],
    exp: &reallm::config::Experiment,
    reqs: &[reallm::workload::Request],
) -> reallm::sim::SimResult {
    reallm::sim::simulate_collect(
        pools,
        reallm::assemble::kv_transfer(exp),
        &mut reallm::sim::TraceWorkload::new(reqs),
        reallm::sim::SimOptions::default(),
    )
    .unwrap()
}

/// Run requests on one assembled pool, keeping every record.
pub fn run_one(pool: &mut reallm::sim::Pool, reqs: &[reallm::workload::Request]) -> reallm::sim::SimResult {
    reallm::sim::simulate_collect(
        std::slice::from_mut(pool),
        Default::default(),
        &mut reallm::sim::TraceWorkload::new(reqs),
        reallm::sim::SimOptions::default(),
    )
    .unwrap()
}
