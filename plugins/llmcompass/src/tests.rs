use super::*;
use crate::devices::{ga100, gh100};

#[test]
fn ga100_worked_matmul() {
    let (cycles, mapping) = matmul_cycles(&ga100(), 8, 8192, 1024, 2).unwrap();
    println!("{cycles} {mapping}");
    assert_eq!(cycles, 11_907);
}
