fn main() {
    let dirs: Vec<std::path::PathBuf> = std::env::args().skip(2).map(Into::into).collect();
    let out = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let files = reallm::report::plot(&dirs, &out).unwrap();
    println!("{files:?}");
    println!("{}", reallm::report::report(&dirs, reallm::report::ReportFormat::Table).unwrap());
    std::fs::write(out.join("r.html"), reallm::report::report(&dirs, reallm::report::ReportFormat::Html).unwrap()).unwrap();
}
