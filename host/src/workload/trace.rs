//! Trace files: the original tool's generated format (read and written) and the raw Azure
//! format (read, replayed with its real arrival times).

use crate::error::{Error, Result};
use crate::output::AtomicFile;
use std::io::Write;
use std::path::Path;

/// The original tool's trace header.
pub const RR_HEADER: &str = "request_id,request_type,application_id,arrival_timestamp,batch_size,prompt_size,token_size";

/// Upper bound on one request's prompt or output length, to catch corrupt files.
pub const MAX_TOKENS: u32 = 10_000_000;

/// Upper bound on the requests of one trace. A trace is held in memory: about 24 bytes per
/// request here, and in the engine about 200 bytes per request plus 8 bytes per output token
/// (the token completion times of `sim_results.csv`); see `docs/reliability.md`.
pub const MAX_REQUESTS: usize = 10_000_000;

/// Upper bound on the output tokens of one trace (8 bytes each in memory: 8 GB at the limit).
pub const MAX_TRACE_OUTPUT_TOKENS: u64 = 1_000_000_000;

/// Upper bound on a trace file's size, checked before it is read (a row of the rr format is
/// about 40 bytes, so this is far above [`MAX_REQUESTS`] rows).
pub const MAX_TRACE_FILE_BYTES: u64 = 2 << 30;

/// One inference request (the core's type).
pub use reallm_sim::Request;

/// Read a trace file in any format (detected from the content), Mooncake `hash_ids` in
/// blocks of 512 tokens.
pub fn read(path: &Path) -> Result<Vec<Request>> {
    read_with(path, super::jsonl::MOONCAKE_BLOCK_TOKENS)
}

/// Read a trace file in any format: the original tool's CSV, the raw Azure CSV, or Mooncake
/// JSON Lines (whose `hash_ids` cover `hash_block_tokens` tokens each).
pub fn read_with(path: &Path, hash_block_tokens: u32) -> Result<Vec<Request>> {
    let origin = path.display().to_string();
    let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
    if len > MAX_TRACE_FILE_BYTES {
        return Err(Error::input(
            origin,
            format!(
                "the file is {len} bytes; traces are read into memory and the limit is {MAX_TRACE_FILE_BYTES} bytes \
                 ({MAX_REQUESTS} requests): split the trace"
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::input(&origin, format!("line {line}: not UTF-8 text (invalid byte at offset {at}); expected a CSV or JSON Lines trace"))
    })?;
    parse_with(&text, &origin, hash_block_tokens)
}

/// Parse trace text in any format; `origin` names the source in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Request>> {
    parse_with(text, origin, super::jsonl::MOONCAKE_BLOCK_TOKENS)
}

/// [`parse`] with the block size of Mooncake `hash_ids`.
pub fn parse_with(text: &str, origin: &str, hash_block_tokens: u32) -> Result<Vec<Request>> {
    if super::jsonl::is_jsonl(text) {
        let reqs = super::jsonl::parse(text, origin, hash_block_tokens)?;
        check(&reqs, origin, 1)?;
        return Ok(reqs);
    }
    let header = text.lines().next().map(str::trim).unwrap_or("");
    if header.is_empty() {
        return Err(Error::input(origin, "empty trace file: expected a header line"));
    }
    if header.starts_with("TIMESTAMP") {
        let rows = super::azure::parse_raw(text, origin)?;
        let reqs: Vec<Request> =
            rows.iter().enumerate().map(|(i, r)| Request::new(i as u64, r.arrival_s, r.context_tokens, r.generated_tokens)).collect();
        check(&reqs, origin, 2)?;
        return Ok(reqs);
    }
    parse_rr(text, origin)
}

fn parse_rr(text: &str, origin: &str) -> Result<Vec<Request>> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| Error::input(origin, format!("line 1: {e}")))?.clone();
    let col = |name: &str| -> Result<usize> {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::input(
                origin,
                format!("line 1: missing column `{name}`; expected header `{RR_HEADER}` or `TIMESTAMP,ContextTokens,GeneratedTokens`"),
            )
        })
    };
    let (ci, ca, cp, ct) = (col("request_id")?, col("arrival_timestamp")?, col("prompt_size")?, col("token_size")?);
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| Error::input(origin, format!("line {line}: {e}")))?;
        let get = |c: usize, name: &str| -> Result<&str> {
            rec.get(c).ok_or_else(|| Error::input(origin, format!("line {line}: missing field `{name}`")))
        };
        let id_s = get(ci, "request_id")?;
        let id: u64 =
            id_s.parse().map_err(|_| Error::input(origin, format!("line {line}: request_id `{id_s}` is not a non-negative integer")))?;
        let a_s = get(ca, "arrival_timestamp")?;
        let arrival: f64 =
            a_s.parse().map_err(|_| Error::input(origin, format!("line {line}: arrival_timestamp `{a_s}` is not a number of seconds")))?;
        let tok = |c: usize, name: &str| -> Result<u32> {
            let s = get(c, name)?;
            let v: u64 =
                s.parse().map_err(|_| Error::input(origin, format!("line {line}: {name} `{s}` is not a whole number of tokens")))?;
            if v == 0 || v > MAX_TOKENS as u64 {
                return Err(Error::input(origin, format!("line {line}: {name} = {v}: expected 1 to {MAX_TOKENS} tokens")));
            }
            Ok(v as u32)
        };
        let p = tok(cp, "prompt_size")?;
        let t = tok(ct, "token_size")?;
        out.push(Request::new(id, arrival, p, t));
    }
    check(&out, origin, 2)?;
    Ok(out)
}

/// Arrivals finite, non-negative and non-decreasing; ids unique; lengths in range.
pub fn check(reqs: &[Request], origin: &str, first_line: usize) -> Result<()> {
    if reqs.is_empty() {
        return Err(Error::input(origin, "the trace has a header but no requests"));
    }
    if reqs.len() > MAX_REQUESTS {
        return Err(Error::input(
            origin,
            format!("{} requests: more than the limit of {MAX_REQUESTS} per trace; split the trace", reqs.len()),
        ));
    }
    let output_tokens: u64 = reqs.iter().map(|r| r.output_tokens as u64).sum();
    if output_tokens > MAX_TRACE_OUTPUT_TOKENS {
        return Err(Error::input(
            origin,
            format!("{output_tokens} output tokens in all: more than the limit of {MAX_TRACE_OUTPUT_TOKENS} per trace (8 bytes each in memory); split the trace"),
        ));
    }
    let mut ids = rustc_hash::FxHashSet::default();
    let mut prev = 0.0f64;
    for (i, r) in reqs.iter().enumerate() {
        let line = i + first_line;
        if !(r.arrival_s.is_finite() && r.arrival_s >= 0.0) {
            return Err(Error::input(
                origin,
                format!("line {line}: arrival time {} must be a non-negative number of seconds", r.arrival_s),
            ));
        }
        if r.arrival_s < prev {
            return Err(Error::input(
                origin,
                format!("line {line}: arrival time {} is before the previous row's {prev}; traces must be sorted by arrival", r.arrival_s),
            ));
        }
        prev = r.arrival_s;
        if r.prompt_tokens == 0 || r.output_tokens == 0 || r.prompt_tokens > MAX_TOKENS || r.output_tokens > MAX_TOKENS {
            return Err(Error::input(
                origin,
                format!("line {line}: prompt {} / output {} tokens: expected 1 to {MAX_TOKENS}", r.prompt_tokens, r.output_tokens),
            ));
        }
        if !ids.insert(r.id) {
            return Err(Error::input(origin, format!("line {line}: duplicate request_id {}", r.id)));
        }
    }
    Ok(())
}

/// Write requests in the original tool's format, atomically.
pub fn write_rr(path: &Path, reqs: &[Request], request_type: u32) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    let w = f.writer();
    let mut buf = String::with_capacity(64 * (reqs.len() + 1));
    buf.push_str(RR_HEADER);
    buf.push('\n');
    for r in reqs {
        use std::fmt::Write as _;
        let _ =
            writeln!(buf, "{},{},0,{},1,{},{}", r.id, request_type, crate::output::fmt_f64(r.arrival_s), r.prompt_tokens, r.output_tokens);
    }
    w.write_all(buf.as_bytes()).map_err(|e| Error::io(path, e))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rr_roundtrip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        let reqs = vec![Request::new(0, 0.25, 10, 3), Request::new(1, 1.0 / 3.0, 7, 1)];
        write_rr(&p, &reqs, 0).unwrap();
        assert_eq!(read(&p).unwrap(), reqs);
        let bad = |text: &str| parse(text, "x.csv").unwrap_err().to_string();
        assert!(bad("").contains("empty"));
        assert!(bad("request_id,arrival_timestamp,prompt_size\n").contains("missing column `token_size`"));
        assert!(bad(&format!("{RR_HEADER}\n0,0,0,1.0,1,5,5\n1,0,0,0.5,1,5,5\n")).contains("line 3"));
        assert!(bad(&format!("{RR_HEADER}\n0,0,0,1.0,1,5,5\n0,0,0,2.0,1,5,5\n")).contains("duplicate request_id 0"));
        assert!(bad(&format!("{RR_HEADER}\n0,0,0,-1,1,5,5\n")).contains("non-negative"));
        assert!(bad(&format!("{RR_HEADER}\n0,0,0,abc,1,5,5\n")).contains("`abc`"));
        assert!(bad(&format!("{RR_HEADER}\n0,0,0,1,1,0,5\n")).contains("prompt_size = 0"));
        assert!(bad(&format!("{RR_HEADER}\n")).contains("no requests"));
    }
}
