//! Mooncake-format JSON Lines traces (the FAST'25 release, `host/data/mooncake/`): one request a
//! line, `{"timestamp": ms, "input_length": n, "output_length": m, "hash_ids": [...]}`, where
//! `hash_ids` holds one content id per block of `hash_block_tokens` prompt tokens (512 in the
//! Mooncake traces; the last block may be partial). Optional fields ReaLLM reads and writes:
//! `session_id` (the conversation; for session-affinity routing), `request_id`, and
//! `hash_block_tokens` (overrides the configured block size for that line).

use super::trace::{Request, MAX_TOKENS};
use crate::error::{Error, Result};
use crate::output::AtomicFile;
use reallm_sim::BlockIds;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::io::Write;
use std::path::Path;

/// Tokens per `hash_ids` entry in the Mooncake traces.
pub const MOONCAKE_BLOCK_TOKENS: u32 = 512;

#[derive(Deserialize)]
struct Line {
    timestamp: f64,
    input_length: u64,
    output_length: u64,
    #[serde(default)]
    hash_ids: Option<Vec<u64>>,
    #[serde(default)]
    session_id: Option<u64>,
    #[serde(default)]
    request_id: Option<u64>,
    #[serde(default)]
    hash_block_tokens: Option<u32>,
}

/// Whether `text` looks like JSON Lines (its first non-blank character opens an object).
pub fn is_jsonl(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// Parse a Mooncake-format trace; `block_tokens` is the size of a `hash_ids` block unless a
/// line says otherwise. Arrivals are `timestamp / 1000` seconds; request ids are `request_id`
/// or the line's position (0-based).
pub fn parse(text: &str, origin: &str, block_tokens: u32) -> Result<Vec<Request>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lno = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(line).map_err(|e| {
            let m = e.to_string();
            let m = m.rsplit_once(" at line ").map_or(m.as_str(), |x| x.0);
            Error::input(
                origin,
                format!("line {lno}, column {}: {m}; expected a JSON object with timestamp (ms), input_length, output_length and optionally hash_ids", e.column()),
            )
        })?;
        let bad = |m: String| Error::input(origin, format!("line {lno}: {m}"));
        if !(l.timestamp.is_finite() && l.timestamp >= 0.0) {
            return Err(bad(format!("timestamp {} must be a non-negative number of milliseconds", l.timestamp)));
        }
        for (name, v) in [("input_length", l.input_length), ("output_length", l.output_length)] {
            if v == 0 || v > MAX_TOKENS as u64 {
                return Err(bad(format!("{name} = {v}: expected 1 to {MAX_TOKENS} tokens")));
            }
        }
        let bt = l.hash_block_tokens.unwrap_or(block_tokens);
        if bt == 0 {
            return Err(bad("hash_block_tokens = 0: expected at least 1 token per block".into()));
        }
        let blocks = match l.hash_ids {
            Some(ids) if !ids.is_empty() => {
                let need = l.input_length.div_ceil(bt as u64);
                if (ids.len() as u64) < need {
                    log::debug!("{origin} line {lno}: {} hash_ids cover fewer than the {} prompt tokens", ids.len(), l.input_length);
                }
                Some(BlockIds::new(bt, l.input_length as u32, ids))
            }
            _ => None,
        };
        out.push(Request {
            id: l.request_id.unwrap_or(out.len() as u64),
            arrival_s: l.timestamp / 1000.0,
            prompt_tokens: l.input_length as u32,
            output_tokens: l.output_length as u32,
            blocks,
            session: l.session_id,
        });
    }
    Ok(out)
}

/// Content ids of `r`'s first `r.prompt_tokens` tokens in blocks of `block_tokens`, mapped to
/// small integers in order of first appearance (`remap`, shared over a trace). Two requests get
/// the same id for block `i` iff their known content of that block agrees (the content of a
/// block of the source ids is identified by the source id and the token range used). A request
/// without ids gets fresh ids.
fn export_ids(r: &Request, block_tokens: u32, remap: &mut FxHashMap<u64, u64>, fresh: &mut u64) -> Vec<u64> {
    use reallm_sim::kv::prefix::mix;
    let t = block_tokens as u64;
    let prompt = r.prompt_tokens as u64;
    let n = prompt.div_ceil(t);
    let mut out = Vec::with_capacity(n as usize);
    let id_of = |h: u64, remap: &mut FxHashMap<u64, u64>| {
        let next = remap.len() as u64;
        *remap.entry(h).or_insert(next)
    };
    let Some(b) = &r.blocks else {
        for _ in 0..n {
            out.push(id_of(mix(0xF2E5_0000_0000_0000 ^ *fresh), remap));
            *fresh += 1;
        }
        return out;
    };
    let s = b.block_tokens as u64;
    let covered = (b.tokens as u64).min(b.ids.len() as u64 * s);
    for i in 0..n {
        let (lo, hi) = (i * t, ((i + 1) * t).min(prompt));
        if hi > covered {
            // Content the source does not describe: unique.
            out.push(id_of(mix(0xF2E5_0000_0000_0000 ^ *fresh), remap));
            *fresh += 1;
            continue;
        }
        // Fold the source ids over [lo, hi) with the token range each contributes.
        let mut h = mix(lo ^ 0x1D5);
        let mut tok = lo;
        while tok < hi {
            let j = tok / s;
            let end = ((j + 1) * s).min(hi);
            h = mix(h ^ mix(b.ids[j as usize]) ^ ((tok - j * s) << 32 | (end - tok)));
            tok = end;
        }
        out.push(id_of(h, remap));
    }
    out
}

/// Write `reqs` as a Mooncake-format trace with `hash_ids` of `block_tokens` tokens, atomically.
pub fn write(path: &Path, reqs: &[Request], block_tokens: u32) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    let mut remap = FxHashMap::default();
    let mut fresh = 0u64;
    let mut buf = String::with_capacity(128 * reqs.len());
    for r in reqs {
        use std::fmt::Write as _;
        let ms = r.arrival_s * 1000.0;
        let ts = if ms.fract() == 0.0 && ms < 9e15 { format!("{}", ms as u64) } else { crate::output::fmt_f64(ms) };
        let _ = write!(buf, "{{\"timestamp\": {ts}, \"input_length\": {}, \"output_length\": {}", r.prompt_tokens, r.output_tokens);
        if let Some(s) = r.session {
            let _ = write!(buf, ", \"session_id\": {s}");
        }
        if block_tokens != MOONCAKE_BLOCK_TOKENS {
            let _ = write!(buf, ", \"hash_block_tokens\": {block_tokens}");
        }
        buf.push_str(", \"hash_ids\": [");
        for (i, id) in export_ids(r, block_tokens, &mut remap, &mut fresh).iter().enumerate() {
            if i > 0 {
                buf.push_str(", ");
            }
            let _ = write!(buf, "{id}");
        }
        buf.push_str("]}\n");
    }
    f.writer().write_all(buf.as_bytes()).map_err(|e| Error::io(path, e))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mooncake_lines_and_errors() {
        let t = "{\"timestamp\": 1500, \"input_length\": 700, \"output_length\": 3, \"hash_ids\": [4, 9]}\n\n\
                 {\"timestamp\": 2000, \"input_length\": 20, \"output_length\": 1, \"hash_ids\": [4], \"session_id\": 7}\n";
        assert!(is_jsonl(t));
        let r = parse(t, "m.jsonl", 512).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].id, r[0].arrival_s, r[0].prompt_tokens, r[0].output_tokens), (0, 1.5, 700, 3));
        let b = r[0].blocks.as_ref().unwrap();
        assert_eq!((b.block_tokens, b.tokens, &b.ids[..]), (512, 700, &[4u64, 9][..]));
        assert_eq!((r[1].id, r[1].session), (1, Some(7)));
        let bad = |s: &str| parse(s, "m.jsonl", 512).unwrap_err().to_string();
        assert!(bad("{\"timestamp\": 1}\n").contains("line 1") && bad("{\"timestamp\": 1}\n").contains("input_length"));
        assert!(bad("{\"timestamp\": -1, \"input_length\": 5, \"output_length\": 1}").contains("non-negative"));
        assert!(bad("{\"timestamp\": 1, \"input_length\": 0, \"output_length\": 1}").contains("input_length = 0"));
        assert!(bad("\n{\"timestamp\": 1, \"input_length\": 3, \"output_length\": 1}\n{oops").contains("line 3"));
    }

    #[test]
    fn export_keeps_shared_prefixes_at_any_block_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        // Two requests sharing their first 3 blocks of 16 tokens (48 tokens); a third with none.
        let ids = |v: &[u64]| Some(BlockIds::new(16, 64, v.to_vec()));
        let reqs = vec![
            Request { blocks: ids(&[1, 2, 3, 4]), session: Some(2), ..Request::new(0, 0.25, 64, 5) },
            Request { blocks: ids(&[1, 2, 3, 9]), ..Request::new(1, 1.0, 64, 5) },
            Request::new(2, 2.0, 40, 1),
        ];
        write(&p, &reqs, 32).unwrap();
        let back = parse(&std::fs::read_to_string(&p).unwrap(), "t", 512).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!((back[0].arrival_s, back[0].session, back[1].session), (0.25, Some(2), None));
        let b: Vec<Vec<u64>> = back.iter().map(|r| r.blocks.as_ref().unwrap().ids.to_vec()).collect();
        // 32-token blocks: block 0 (tokens 0..32) shared, block 1 (32..64) differs.
        assert_eq!(b[0][0], b[1][0]);
        assert_ne!(b[0][1], b[1][1]);
        assert!(b[2].iter().all(|x| !b[0].contains(x)));
        assert_eq!(back[0].blocks.as_ref().unwrap().block_tokens, 32);
        // Mooncake-size export of 512-token ids to 512 keeps them (remapped).
        let m = vec![Request { blocks: Some(BlockIds::new(512, 700, vec![40, 41])), ..Request::new(0, 0.0, 700, 1) }];
        write(&p, &m, 512).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "{\"timestamp\": 0, \"input_length\": 700, \"output_length\": 1, \"hash_ids\": [0, 1]}\n");
    }
}
