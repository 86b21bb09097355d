//! Per-run files beside `summary.json`: `requests.csv`, `iterations.csv` and the Chrome /
//! Perfetto trace `trace.json`. Each is streamed row by row through an [`AtomicFile`], so a
//! million-request run never builds the file in memory, and a reader never sees half a file.
//! Numbers use [`fmt_f64`] (shortest round-trip form), rows follow the engine's order: the
//! output is byte-for-byte deterministic.

use crate::error::{Error, Result};
use crate::output::{fmt_f64, fmt_f64_into, AtomicFile};
use reallm_sim::metrics::{iteration_utilisation, MeasuredSink, RequestMetrics, Slo, Summary};
use reallm_sim::{RecordSink, RequestRecord, RunOutcome};
use std::io::Write;
use std::path::Path;

/// File names written by [`write_run_files`].
pub const REQUESTS_CSV: &str = "requests.csv";
pub const ITERATIONS_CSV: &str = "iterations.csv";
pub const TRACE_JSON: &str = "trace.json";

/// Whether the per-iteration files (`iterations.csv`, `trace.json`) are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeline {
    /// Written when the run has at most [`AUTO_TIMELINE_ITERATIONS`] iterations (a larger
    /// trace would not load in ui.perfetto.dev anyway); otherwise skipped with a note.
    Auto,
    Always,
    Never,
}

/// The `auto` limit on iterations for writing the per-iteration files.
pub const AUTO_TIMELINE_ITERATIONS: usize = 100_000;

/// Write the per-iteration files `iterations.csv` and `trace.json` of one run into `dir`, as
/// `timeline` says (`requests.csv` streams through [`RequestsCsv`] during the run).
pub fn write_timeline(dir: &Path, result: &RunOutcome, summary: &Summary, timeline: Timeline) -> Result<()> {
    let write = match timeline {
        Timeline::Always => true,
        Timeline::Never => false,
        Timeline::Auto => !result.iterations_truncated && result.iterations.len() <= AUTO_TIMELINE_ITERATIONS,
    };
    for f in [ITERATIONS_CSV, TRACE_JSON] {
        // A stale file from an earlier run must not pass for this run's.
        let _ = std::fs::remove_file(dir.join(f));
    }
    if !write {
        log::info!(
            "{} iterations: iterations.csv and trace.json skipped (more than {AUTO_TIMELINE_ITERATIONS}, or --no-timeline; pass `sim --timeline` to force them)",
            summary.engine.iterations
        );
        return Ok(());
    }
    write_iterations_csv(&dir.join(ITERATIONS_CSV), result, summary)?;
    write_chrome_trace(&dir.join(TRACE_JSON), result, summary)
}

/// One output line being built: UTF-8 text kept as bytes, so that memoised text (token times)
/// is appended without re-validation.
#[derive(Debug, Default)]
struct Line(Vec<u8>);

impl Line {
    fn with_capacity(n: usize) -> Line {
        Line(Vec::with_capacity(n))
    }
    fn clear(&mut self) {
        self.0.clear();
    }
    fn push_str(&mut self, s: &str) {
        self.0.extend_from_slice(s.as_bytes());
    }
    fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A float field, empty when undefined or not finite.
fn push_opt(line: &mut Line, v: Option<f64>) {
    line.push(',');
    if let Some(x) = v {
        if x.is_finite() {
            line.push_str(fmt_f64_into(&mut ryu::Buffer::new(), x));
        }
    }
}

fn push_bool(line: &mut Line, v: Option<bool>) {
    line.push(',');
    if let Some(b) = v {
        line.push(if b { '1' } else { '0' });
    }
}

/// The header of `requests.csv`; `tbt_p{P}_s` names the SLO's TBT percentile.
pub fn requests_csv_header(tbt_percentile: f64) -> String {
    format!(
        "request_id,replica,decode_replica,arrival_s,prompt_tokens,output_tokens,generated_tokens,completed,preemptions,\
         first_scheduled_s,first_token_s,last_token_s,queueing_s,prefill_s,ttft_s,decode_s,tpot_s,e2e_s,\
         normalized_latency_s_per_token,tbt_mean_s,tbt_max_s,tbt_p{}_s,kv_transfer_s,meets_ttft,meets_tbt,meets_tpot,meets_e2e,meets_slo\n",
        fmt_f64(tbt_percentile)
    )
}

/// A [`RecordSink`] that streams records into a CSV file; the first write error is kept and
/// returned by `commit`.
struct CsvSink {
    file: Option<AtomicFile>,
    path: std::path::PathBuf,
    error: Option<std::io::Error>,
    line: Line,
}

impl CsvSink {
    fn create(path: &Path, header: &str) -> Result<CsvSink> {
        let mut file = AtomicFile::create(path)?;
        file.writer().write_all(header.as_bytes()).map_err(|e| Error::io(path, e))?;
        Ok(CsvSink { file: Some(file), path: path.to_path_buf(), error: None, line: Line::with_capacity(256) })
    }

    /// Write `self.line`.
    fn flush_line(&mut self) {
        if self.error.is_none() {
            if let Some(f) = &mut self.file {
                if let Err(e) = f.writer().write_all(self.line.as_bytes()) {
                    self.error = Some(e);
                }
            }
        }
    }

    /// No more rows: flush now (see [`AtomicFile::flush`]); `commit` then renames.
    fn end(&mut self) {
        if self.error.is_none() {
            if let Some(f) = &mut self.file {
                if let Err(e) = f.flush() {
                    self.error = Some(e);
                }
            }
        }
    }

    fn commit(mut self) -> Result<()> {
        if let Some(e) = self.error.take() {
            return Err(Error::io(&self.path, e));
        }
        self.file.take().map_or(Ok(()), |f| f.commit())
    }
}

/// `requests.csv`, streamed: one row per request in arrival order, every per-request metric
/// (seconds).
pub struct RequestsCsv {
    csv: CsvSink,
    slo: Slo,
    scratch: Vec<f64>,
}

impl RequestsCsv {
    /// Start `path` (as a temporary file, renamed by [`RequestsCsv::commit`]).
    pub fn create(path: &Path, slo: Slo) -> Result<RequestsCsv> {
        Ok(RequestsCsv { csv: CsvSink::create(path, &requests_csv_header(slo.tbt_percentile))?, slo, scratch: Vec::new() })
    }

    /// Finish the file.
    pub fn commit(self) -> Result<()> {
        self.csv.commit()
    }
}

impl RecordSink for RequestsCsv {
    fn record(&mut self, q: &RequestRecord) {
        let m = RequestMetrics::of(q, &self.slo, &mut self.scratch);
        self.measured(q, &m);
    }
}

impl MeasuredSink for RequestsCsv {
    fn measured(&mut self, q: &RequestRecord, m: &RequestMetrics) {
        let line = &mut self.csv.line;
        line.clear();
        let mut int = itoa::Buffer::new();
        line.push_str(int.format(q.id));
        line.push(',');
        line.push_str(int.format(q.replica));
        line.push(',');
        if let Some(d) = q.decode_replica {
            line.push_str(int.format(d));
        }
        push_opt(line, Some(q.arrival_s));
        for n in [q.prompt_tokens as u64, q.output_tokens as u64, q.token_times.len() as u64, m.completed as u64, q.preemptions as u64] {
            line.push(',');
            line.push_str(int.format(n));
        }
        for v in [
            q.first_scheduled_s,
            m.first_token_s,
            m.last_token_s,
            m.queueing_s,
            m.prefill_s,
            m.ttft_s,
            m.decode_s,
            m.tpot_s,
            m.e2e_s,
            m.normalized_latency_s_per_token,
            m.tbt_mean_s,
            m.tbt_max_s,
            m.tbt_at_slo_percentile_s,
            q.decode_replica.map(|_| q.transfer_s),
        ] {
            push_opt(line, v);
        }
        for b in [m.meets_ttft, m.meets_tbt, m.meets_tpot, m.meets_e2e, Some(m.meets_all)] {
            push_bool(line, b);
        }
        line.push('\n');
        self.csv.flush_line();
    }

    fn end(&mut self) {
        self.csv.end();
    }
}

/// The original tool's per-request result format, streamed: `request_id,arrival_time,` then
/// the finish time of each output token (a row per request, in arrival order).
pub struct SimResultsCsv {
    csv: CsvSink,
    fb: ryu::Buffer,
    times: TimeText,
}

impl SimResultsCsv {
    /// Start `path` (as a temporary file, renamed by [`SimResultsCsv::commit`]).
    pub fn create(path: &Path) -> Result<SimResultsCsv> {
        Ok(SimResultsCsv { csv: CsvSink::create(path, "request_id,arrival_time\n")?, fb: ryu::Buffer::new(), times: TimeText::new() })
    }

    /// Finish the file.
    pub fn commit(self) -> Result<()> {
        self.csv.commit()
    }
}

impl RecordSink for SimResultsCsv {
    fn record(&mut self, q: &RequestRecord) {
        let line = &mut self.csv.line;
        line.clear();
        line.push_str(itoa::Buffer::new().format(q.id));
        line.push(',');
        line.push_str(fmt_f64_into(&mut self.fb, q.arrival_s));
        for &t in &q.token_times {
            self.times.push_field(line, t);
        }
        line.push('\n');
        self.csv.flush_line();
    }
}

impl MeasuredSink for SimResultsCsv {
    fn measured(&mut self, q: &RequestRecord, _: &RequestMetrics) {
        self.record(q);
    }

    fn end(&mut self) {
        self.csv.end();
    }
}

/// Token times as text ([`fmt_f64`]), memoised. A token time is the end of an iteration, shared
/// by every request of that iteration's batch, so most are formatted once and copied after: a
/// direct-mapped table of `2^14` slots (512 KiB) keyed by the value's bits. Records arrive in
/// arrival order and requests in flight run the same iterations, so a value is reused soon
/// after it is first formatted (the Vidur workload of `docs/performance.md`: 2.1 M token
/// times, 348 k distinct, 384 k formatted).
struct TimeText {
    slots: Vec<TimeSlot>,
    fb: ryu::Buffer,
}

#[derive(Clone, Copy)]
#[repr(align(32))]
struct TimeSlot {
    bits: u64,
    /// Bytes of `text` in use: a comma, then `fmt_f64` of the value.
    len: u8,
    text: [u8; 23],
}

impl TimeText {
    const BITS: u32 = 14;

    fn new() -> TimeText {
        TimeText { slots: vec![TimeSlot { bits: u64::MAX, len: 0, text: [0; 23] }; 1 << Self::BITS], fb: ryu::Buffer::new() }
    }

    /// Append `,` and `fmt_f64(t)` to `line`.
    fn push_field(&mut self, line: &mut Line, t: f64) {
        let bits = t.to_bits();
        let slot = &mut self.slots[(bits.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::BITS)) as usize];
        // An empty slot (`len == 0`) is never a hit, whatever the bits.
        if slot.bits != bits || slot.len == 0 {
            let text = fmt_f64_into(&mut self.fb, t);
            // Non-finite values and texts longer than a slot (only negative values with an
            // exponent) bypass the table.
            if !t.is_finite() || text.len() >= slot.text.len() {
                line.push(',');
                line.push_str(text);
                return;
            }
            slot.text[0] = b',';
            slot.text[1..=text.len()].copy_from_slice(text.as_bytes());
            slot.len = text.len() as u8 + 1;
            slot.bits = bits;
        }
        // Copy the whole slot (a fixed-size move) and cut it to the text.
        let end = line.0.len() + slot.len as usize;
        line.0.extend_from_slice(&slot.text);
        line.0.truncate(end);
    }
}

/// The header of `iterations.csv`.
pub const ITERATIONS_CSV_HEADER: &str =
    "iteration,replica,pool,start_s,end_s,cost_s,seqs,prefill_seqs,prefill_tokens,decode_tokens,tokens,\
kv_used_blocks,kv_total_blocks,kv_used_fraction,compute_s,comm_s,flops,bytes,mfu,mbu\n";

/// Columns `iterations.csv` adds when prefix caching is on: prompt tokens the cache served to
/// requests admitted in the iteration, and free KV blocks holding cached prefixes.
pub const ITERATIONS_CSV_PREFIX_COLUMNS: &str = ",cached_tokens,kv_cached_blocks";

/// `iterations.csv`: one row per iteration (micro-batch) in scheduling order.
pub fn write_iterations_csv(path: &Path, r: &RunOutcome, summary: &Summary) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    let io = |e| Error::io(path, e);
    let prefix = summary.prefix_cache.is_some();
    if prefix {
        let h = ITERATIONS_CSV_HEADER.trim_end();
        f.writer().write_all(format!("{h}{ITERATIONS_CSV_PREFIX_COLUMNS}\n").as_bytes()).map_err(io)?;
    } else {
        f.writer().write_all(ITERATIONS_CSV_HEADER.as_bytes()).map_err(io)?;
    }
    let mut line = Line::with_capacity(256);
    for (i, it) in r.iterations.iter().enumerate() {
        let rep = r.replicas.get(it.replica as usize);
        let kv_total = rep.map(|x| x.kv_total_blocks).unwrap_or(r.kv_total_blocks);
        let (pf, bw) = summary.run.peaks_of(it.replica);
        let (mfu, mbu) = iteration_utilisation(it, pf, bw);
        let c = &it.cost;
        line.clear();
        for n in [i as u64, it.replica as u64, rep.map(|x| x.pool as u64).unwrap_or(0)] {
            line.push_str(itoa::Buffer::new().format(n));
            line.push(',');
        }
        line.push_str(fmt_f64_into(&mut ryu::Buffer::new(), it.start_s));
        push_opt(&mut line, Some(it.end_s));
        push_opt(&mut line, Some(c.total_s));
        let prefill_seqs = it.seqs.saturating_sub(it.decode_tokens);
        for n in [
            it.seqs as u64,
            prefill_seqs as u64,
            it.prefill_tokens as u64,
            it.decode_tokens as u64,
            it.prefill_tokens as u64 + it.decode_tokens as u64,
            it.kv_used_blocks,
            kv_total,
        ] {
            line.push(',');
            line.push_str(itoa::Buffer::new().format(n));
        }
        let kv_frac = if kv_total > 0 { it.kv_used_blocks as f64 / kv_total as f64 } else { 0.0 };
        for v in [kv_frac, c.compute_s, c.comm_s, c.flops, c.bytes, mfu, mbu] {
            push_opt(&mut line, Some(v));
        }
        if prefix {
            for n in [it.cached_tokens as u64, it.kv_cached_blocks] {
                line.push(',');
                line.push_str(&n.to_string());
            }
        }
        line.push('\n');
        f.writer().write_all(line.as_bytes()).map_err(io)?;
    }
    f.commit()
}

/// A JSON number, or `0` for a non-finite value (JSON has no NaN).
fn jnum(v: f64) -> String {
    if v.is_finite() {
        fmt_f64(v)
    } else {
        "0".into()
    }
}

fn jstr(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The display name of an iteration: `prefill 3 (512 tok) + decode 17`.
pub fn iteration_name(prefill_seqs: u32, prefill_tokens: u32, decode_seqs: u32) -> String {
    match (prefill_seqs > 0 || prefill_tokens > 0, decode_seqs > 0) {
        (true, true) => format!("prefill {prefill_seqs} ({prefill_tokens} tok) + decode {decode_seqs}"),
        (true, false) => format!("prefill {prefill_seqs} ({prefill_tokens} tok)"),
        (false, true) => format!("decode {decode_seqs}"),
        (false, false) => "idle".into(),
    }
}

/// `trace.json` in the Chrome trace-event format (open it in ui.perfetto.dev or
/// chrome://tracing). One process per replica (`pid` = replica + 1); in it one thread (`tid`)
/// per concurrent micro-batch slot: with pipeline parallelism up to `pp` iterations of a
/// replica overlap, and each goes to the first slot free at its start, so the events of one
/// track never overlap. Complete events (`"ph": "X"`) carry `ts`/`dur` in microseconds and the
/// composition in `args`; counter events (`"ph": "C"`) track each replica's KV blocks in use
/// and batch size at every iteration start.
pub fn write_chrome_trace(path: &Path, r: &RunOutcome, summary: &Summary) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    let io = |e| Error::io(path, e);
    let w = f.writer();
    let run = &summary.run;
    writeln!(
        w,
        "{{\"displayTimeUnit\":\"ms\",\"otherData\":{{\"tool\":\"reallm\",\"trace\":{},\"model\":{},\"system\":{},\"backend\":{}}},\"traceEvents\":[",
        jstr(&run.trace),
        jstr(&run.model),
        jstr(&run.system),
        jstr(&run.backend)
    )
    .map_err(io)?;
    let n_rep = r.replicas.len().max(r.iterations.iter().map(|i| i.replica as usize + 1).max().unwrap_or(0));
    let mut first = true;
    let mut sep = |w: &mut dyn Write| -> std::io::Result<()> {
        if first {
            first = false;
            Ok(())
        } else {
            w.write_all(b",\n")
        }
    };
    for rep in 0..n_rep {
        let role = r.replicas.get(rep).map(|x| x.role.name()).unwrap_or("colocated");
        let pool = r.replicas.get(rep).map(|x| x.pool).unwrap_or(0);
        sep(w).map_err(io)?;
        write!(
            w,
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{},\"tid\":0,\"args\":{{\"name\":{}}}}}",
            rep + 1,
            jstr(&format!("replica {rep} ({role}, pool {pool})"))
        )
        .map_err(io)?;
        sep(w).map_err(io)?;
        write!(w, "{{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":{},\"tid\":0,\"args\":{{\"sort_index\":{rep}}}}}", rep + 1)
            .map_err(io)?;
    }
    // Slot end times per replica (µs); a new slot is opened when all are busy.
    let mut slots: Vec<Vec<f64>> = vec![Vec::new(); n_rep];
    for (i, it) in r.iterations.iter().enumerate() {
        let rep = it.replica as usize;
        let pid = rep + 1;
        let ts = it.start_s * 1e6;
        let end = it.end_s * 1e6;
        let lanes = &mut slots[rep];
        let slot = match lanes.iter().position(|&e| e <= ts) {
            Some(s) => s,
            None => {
                lanes.push(f64::NEG_INFINITY);
                let s = lanes.len() - 1;
                sep(w).map_err(io)?;
                write!(
                    w,
                    "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{},\"args\":{{\"name\":{}}}}}",
                    s + 1,
                    jstr(&format!("micro-batch slot {s}"))
                )
                .map_err(io)?;
                s
            }
        };
        lanes[slot] = end;
        let (pf, bw) = summary.run.peaks_of(it.replica);
        let (mfu, mbu) = iteration_utilisation(it, pf, bw);
        let prefill_seqs = it.seqs.saturating_sub(it.decode_tokens);
        let c = &it.cost;
        sep(w).map_err(io)?;
        write!(
            w,
            "{{\"name\":{},\"cat\":\"iteration\",\"ph\":\"X\",\"pid\":{pid},\"tid\":{},\"ts\":{},\"dur\":{},\"args\":{{\"iteration\":{i},\
             \"seqs\":{},\"prefill_seqs\":{prefill_seqs},\"prefill_tokens\":{},\"decode_tokens\":{},\"kv_used_blocks\":{},\
             \"cost_ms\":{},\"compute_ms\":{},\"comm_ms\":{},\"mfu\":{},\"mbu\":{}}}}}",
            jstr(&iteration_name(prefill_seqs, it.prefill_tokens, it.decode_tokens)),
            slot + 1,
            jnum(ts),
            jnum((end - ts).max(0.0)),
            it.seqs,
            it.prefill_tokens,
            it.decode_tokens,
            it.kv_used_blocks,
            jnum(c.total_s * 1e3),
            jnum(c.compute_s * 1e3),
            jnum(c.comm_s * 1e3),
            jnum(mfu),
            jnum(mbu)
        )
        .map_err(io)?;
        sep(w).map_err(io)?;
        write!(
            w,
            "{{\"name\":\"KV blocks used\",\"ph\":\"C\",\"pid\":{pid},\"ts\":{},\"args\":{{\"blocks\":{}}}}}",
            jnum(ts),
            it.kv_used_blocks
        )
        .map_err(io)?;
        if summary.prefix_cache.is_some() {
            sep(w).map_err(io)?;
            write!(
                w,
                "{{\"name\":\"prefix cache\",\"ph\":\"C\",\"pid\":{pid},\"ts\":{},\"args\":{{\"cached_tokens\":{},\"kv_cached_blocks\":{}}}}}",
                jnum(ts),
                it.cached_tokens,
                it.kv_cached_blocks
            )
            .map_err(io)?;
        }
        sep(w).map_err(io)?;
        write!(
            w,
            "{{\"name\":\"batch\",\"ph\":\"C\",\"pid\":{pid},\"ts\":{},\"args\":{{\"seqs\":{},\"tokens\":{}}}}}",
            jnum(ts),
            it.seqs,
            it.prefill_tokens as u64 + it.decode_tokens as u64
        )
        .map_err(io)?;
    }
    w.write_all(b"\n]}\n").map_err(io)?;
    f.commit()
}
