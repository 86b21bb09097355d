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
    // The common file (what `write_rr` writes) on a byte scan; anything else, and every error,
    // through the CSV reader below, which words the messages.
    if let Some(reqs) = parse_rr_plain(text) {
        check(&reqs, origin, 2)?;
        return Ok(reqs);
    }
    parse_rr_csv(text, origin)
}

/// A byte [`parse_rr_plain`] reads as part of a field: printable ASCII but `"`, or a tab (not
/// the quotes, `\r` line ends, control bytes and non-ASCII text, such as a byte-order mark or
/// Unicode spaces, that the CSV reader handles).
fn plain_byte(b: u8) -> bool {
    ((0x20..0x7f).contains(&b) && b != b'"') || b == b'\t'
}

/// [`parse_rr_csv`]'s requests for a file of plain fields (printable ASCII and tabs, no quotes),
/// `\n` line ends, no blank line, every row as wide as the header and every value valid; `None`
/// for anything else (the CSV reader then reads it, or says what is wrong). Fields are trimmed
/// of spaces and tabs (the only whitespace such a field can hold, so the CSV reader's
/// `Trim::All`); integers are read as `str::parse::<u64>` reads them ([`parse_u64`]) and times
/// by `str::parse::<f64>` itself: the values are bit for bit the reader's.
fn parse_rr_plain(text: &str) -> Option<Vec<Request>> {
    let bytes = text.as_bytes();
    let trim = |mut a: usize, mut b: usize| {
        while a < b && matches!(bytes[a], b' ' | b'\t') {
            a += 1;
        }
        while b > a && matches!(bytes[b - 1], b' ' | b'\t') {
            b -= 1;
        }
        (a, b)
    };
    // The header: column positions (the first of equal names, as the reader's lookup).
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
    let mut names: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes[..header_end].iter().chain([&b',']).enumerate() {
        if b == b',' {
            let (a, b) = trim(start, i);
            names.push(&text[a..b]);
            start = i + 1;
        } else if !plain_byte(b) {
            return None;
        }
    }
    let col = |name: &str| names.iter().position(|h| *h == name);
    let cols = [col("request_id")?, col("arrival_timestamp")?, col("prompt_size")?, col("token_size")?];
    // Field position → which of `cols` it is (`NONE`: none of them).
    const NONE: u8 = u8::MAX;
    let mut slot = vec![NONE; names.len()];
    for (j, &c) in cols.iter().enumerate() {
        slot[c] = j as u8;
    }
    // Every byte a field byte, a comma or a newline: one branch-free pass, then the rows are
    // split on commas and newlines alone.
    let body = &bytes[(header_end + 1).min(bytes.len())..];
    if !body.iter().fold(true, |ok, &b| ok & (plain_byte(b) || b == b'\n')) {
        return None;
    }
    // One row's request from its wanted fields' bounds `at`.
    let request = |at: &[(usize, usize); 4]| -> Option<Request> {
        let value = |j: usize| {
            let (a, b) = trim(at[j].0, at[j].1);
            &bytes[a..b]
        };
        let tokens = |j: usize| -> Option<u32> {
            let v = parse_u64(value(j))?;
            (1..=MAX_TOKENS as u64).contains(&v).then_some(v as u32)
        };
        let (a, b) = trim(at[1].0, at[1].1);
        let arrival: f64 = text[a..b].parse().ok()?;
        Some(Request::new(parse_u64(value(0))?, arrival, tokens(2)?, tokens(3)?))
    };
    let mut out = Vec::new();
    // The wanted fields' bounds in the current row; the field, its start, the row's start.
    let mut at = [(0usize, 0usize); 4];
    let (mut k, mut start, mut row_start) = (0usize, header_end + 1, header_end + 1);
    let close_field = |k: usize, start: usize, end: usize, at: &mut [(usize, usize); 4]| -> Option<()> {
        // A field past the header's width: a row of another width, left to the reader.
        let j = *slot.get(k)?;
        if j != NONE {
            at[j as usize] = (start, end);
        }
        Some(())
    };
    for (i, &b) in body.iter().enumerate() {
        if b != b',' && b != b'\n' {
            continue;
        }
        let i = i + header_end + 1;
        close_field(k, start, i, &mut at)?;
        k += 1;
        start = i + 1;
        if b == b'\n' {
            // A blank line (the reader skips it) or a short row (an error): the reader.
            if i == row_start || k != slot.len() {
                return None;
            }
            out.push(request(&at)?);
            k = 0;
            row_start = i + 1;
        }
    }
    if row_start < bytes.len() {
        // The last row, without a newline.
        close_field(k, start, bytes.len(), &mut at)?;
        if k + 1 != slot.len() {
            return None;
        }
        out.push(request(&at)?);
    }
    Some(out)
}

/// `str::parse::<u64>` of ASCII bytes: an optional `+`, then one or more decimal digits, at
/// most `u64::MAX`.
fn parse_u64(s: &[u8]) -> Option<u64> {
    let digits = match s {
        [b'+', rest @ ..] => rest,
        _ => s,
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(v)
}

/// The original tool's CSV through the CSV reader (quotes, any line ends, blank lines), with
/// every error worded.
fn parse_rr_csv(text: &str, origin: &str) -> Result<Vec<Request>> {
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
    let mut ids = rustc_hash::FxHashSet::with_capacity_and_hasher(reqs.len(), Default::default());
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

    /// `parse` (the byte scan where it applies) against the CSV reader alone: the same
    /// requests, or the same error message.
    fn same_as_reader(text: &str) {
        let fast = parse(text, "t.csv").map_err(|e| e.to_string());
        let reader = parse_rr_csv(text, "t.csv").map_err(|e| e.to_string());
        assert_eq!(fast, reader, "{text:?}");
        if let (Some(p), Ok(r)) = (parse_rr_plain(text), &reader) {
            // Bit for bit (NaN aside, which `check` refuses).
            let bits =
                |v: &[Request]| v.iter().map(|q| (q.id, q.arrival_s.to_bits(), q.prompt_tokens, q.output_tokens)).collect::<Vec<_>>();
            assert_eq!(bits(&p), bits(r), "{text:?}");
        }
    }

    #[test]
    fn rr_byte_scan_reads_what_the_csv_reader_reads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        let reqs: Vec<Request> = (0..50)
            .map(|i| Request::new(i, i as f64 * 0.7071067811865475 + 1e-9, 1 + (i as u32 * 37) % 2000, 1 + (i as u32 * 11) % 500))
            .collect();
        write_rr(&p, &reqs, 1).unwrap();
        let written = std::fs::read_to_string(&p).unwrap();
        // What `write_rr` writes takes the scan, and reads back exactly.
        assert_eq!(parse_rr_plain(&written).unwrap(), reqs);
        same_as_reader(&written);
        let h = RR_HEADER;
        let scanned = [
            format!("{h}\n0,1,0,0.5,1,10,3"),           // no final newline
            format!("{h}\n 0 ,1,0,\t0.5 ,1, 10,3\t\n"), // spaces and tabs trimmed
            format!("{h}\n+0,1,0,+5e-1,1,+10,3\n"),     // signs, exponents
            format!("{h}\n0,1,0,inf,1,10,3\n"),         // parsed, refused by `check`
            format!("{h}\n0,1,0,NaN,1,10,3\n"),
            format!("{h}\n0,1,0,-0.0,1,10,3\n"),
            format!("{h}\n0,1,0,0.1000000000000000055511151231257827021181583404541015625,1,10,3\n"),
            "token_size, prompt_size ,arrival_timestamp,request_id,x\n3,10,0.5,7,\n4,11,0.75,8,y\n".to_string(), // other order, extra column
            "request_id,request_id,arrival_timestamp,prompt_size,token_size\n1,2,0.5,10,3\n".to_string(),        // the first of equal names
        ];
        for t in &scanned {
            assert!(parse_rr_plain(t).is_some(), "{t:?}");
            same_as_reader(t);
        }
        let to_reader = [
            format!("{h}\r\n0,1,0,0.5,1,10,3\r\n"),                     // CRLF
            format!("{h}\n0,1,0,0.5,1,10,3\r1,1,0,0.6,1,10,3\n"),       // a lone CR ends a row
            format!("{h}\n\n0,1,0,0.5,1,10,3\n\n\n1,1,0,0.6,1,10,3\n"), // blank lines skipped
            format!("{h}\n\"0\",1,0,\"0.5\",1,\"1,0\",3\n"),            // quotes
            format!("{h}\n\"0\",1,0,\"0.5\",1,\"10\",3\n"),
            format!("\u{feff}{h}\n0,1,0,0.5,1,10,3\n"), // byte-order mark
            format!("{h}\n0,1,0,\u{a0}0.5,1,10,3\n"),   // a Unicode space
            format!("{h}\n0,1,0,0.5\x0b,1,10,3\n"),     // a vertical tab
            format!("{h}\n0,1,0,0.5,1,10\n"),           // a short row
            format!("{h}\n0,1,0,0.5,1,10,3,9\n"),       // a long row
            format!("{h}\n0,1,0,abc,1,10,3\n"),
            format!("{h}\n-1,1,0,0.5,1,10,3\n"),
            format!("{h}\n0,1,0,0.5,1,0,3\n"),
            format!("{h}\n0,1,0,0.5,1,10,10000001\n"),
            format!("{h}\n0,1,0,0.5,1,10,99999999999999999999999\n"),
            format!("{h}\n0,1,0,0.5,1,,3\n"),
            format!("{h}\n0,1,0,0.5,1,1 0,3\n"),
            "request_id,arrival_timestamp,prompt_size\n0,0.5,10\n".to_string(),
            "request_id;arrival_timestamp;prompt_size;token_size\n0;0.5;10;3\n".to_string(),
        ];
        for t in &to_reader {
            assert!(parse_rr_plain(t).is_none(), "{t:?}");
            same_as_reader(t);
        }
        // Errors name the file and the line, as before.
        let e = parse(&format!("{h}\n0,1,0,0.5,1,10,3\n1,1,0,0.6,1,x,3\n"), "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("line 3") && e.contains("prompt_size `x` is not a whole number of tokens"), "{e}");
        let e = parse(&format!("{h}\n0,1,0,0.5,1,10\n"), "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("line 2") && e.contains("found record with 6 fields"), "{e}");
    }

    #[test]
    fn u64_from_bytes_as_str_parse() {
        let cases = [
            "0",
            "7",
            "+7",
            "007",
            "",
            "+",
            "-",
            "-0",
            "-7",
            "++7",
            "+-7",
            "1_000",
            "1 0",
            " 1",
            "1.0",
            "1e3",
            "0x10",
            "abc",
            "18446744073709551615",
            "+18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "000000000000000000000000001",
        ];
        for c in cases {
            assert_eq!(parse_u64(c.as_bytes()), c.parse::<u64>().ok(), "{c:?}");
        }
        for v in [0u64, 1, 9, 10, 4_294_967_295, 4_294_967_296, u64::MAX - 1, u64::MAX] {
            assert_eq!(parse_u64(v.to_string().as_bytes()), Some(v));
        }
    }

    #[test]
    fn rr_byte_scan_agrees_on_damaged_files() {
        use rand::{Rng, SeedableRng};
        let reqs: Vec<Request> = (0..6).map(|i| Request::new(i, i as f64 * 0.25, 5 + i as u32, 2)).collect();
        let mut base = String::from(RR_HEADER);
        base.push('\n');
        for r in &reqs {
            base.push_str(&format!("{},1,0,{},1,{},{}\n", r.id, crate::output::fmt_f64(r.arrival_s), r.prompt_tokens, r.output_tokens));
        }
        same_as_reader(&base);
        let pieces = [",", "\n", "\r", "\r\n", " ", "\t", "\"", "x", "-", "+", "0", "9", ".", "e", "\u{a0}", "\x0b", ""];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..3000 {
            let mut t = base.clone();
            for _ in 0..rng.random_range(1..4) {
                let mut at = rng.random_range(0..=t.len());
                while !t.is_char_boundary(at) {
                    at -= 1;
                }
                if rng.random_bool(0.3) && at < t.len() {
                    let mut end = at + 1;
                    while !t.is_char_boundary(end) {
                        end += 1;
                    }
                    t.replace_range(at..end, "");
                } else {
                    t.insert_str(at, pieces[rng.random_range(0..pieces.len())]);
                }
            }
            if !t.starts_with("request_id") {
                continue; // another format's detection, not this reader's
            }
            same_as_reader(&t);
        }
    }
}
