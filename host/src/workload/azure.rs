//! The Azure LLM inference traces (2023), shipped inside the binary so nothing is downloaded.
//!
//! Source: the public AzurePublicDataset, `AzureLLMInferenceTrace_{code,conv}.csv`, licensed
//! CC-BY 4.0; see `host/data/azure/NOTICE.md` for the attribution and the citation
//! (Patel et al., "Splitwise", ISCA 2024).

use crate::error::{Error, Result};

const CODE_CSV: &str = include_str!("../../data/azure/AzureLLMInferenceTrace_code.csv");
const CONV_CSV: &str = include_str!("../../data/azure/AzureLLMInferenceTrace_conv.csv");

/// A workload task of the Azure traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    Code,
    Conv,
}

impl Task {
    pub fn parse(s: &str) -> Option<Task> {
        match s.to_ascii_lowercase().as_str() {
            "code" | "coding" => Some(Task::Code),
            "conv" | "conversation" | "chat" => Some(Task::Conv),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Task::Code => "code",
            Task::Conv => "conv",
        }
    }
    /// `request_type` column value written in generated traces.
    pub fn type_id(self) -> u32 {
        match self {
            Task::Code => 0,
            Task::Conv => 1,
        }
    }
    fn csv(self) -> &'static str {
        match self {
            Task::Code => CODE_CSV,
            Task::Conv => CONV_CSV,
        }
    }
}

/// One row of an Azure trace: arrival (seconds since the first row), prompt and output tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AzureRow {
    pub arrival_s: f64,
    pub context_tokens: u32,
    pub generated_tokens: u32,
}

/// The shipped rows of a task, parsed once per process (a `traces` run generates one trace per
/// task and rate from them).
pub fn rows(task: Task) -> Result<&'static [AzureRow]> {
    static PARSED: [std::sync::OnceLock<Vec<AzureRow>>; 2] = [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let cell = &PARSED[task.type_id() as usize];
    if let Some(rows) = cell.get() {
        return Ok(rows);
    }
    let rows = parse_raw(task.csv(), &format!("built-in Azure {} trace", task.name()))?;
    Ok(cell.get_or_init(|| rows))
}

/// Parse `TIMESTAMP,ContextTokens,GeneratedTokens` (timestamps `YYYY-MM-DD HH:MM:SS.fffffff`).
pub fn parse_raw(text: &str, origin: &str) -> Result<Vec<AzureRow>> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l.trim()).unwrap_or("");
    if header != "TIMESTAMP,ContextTokens,GeneratedTokens" {
        return Err(Error::input(origin, format!("line 1: expected header `TIMESTAMP,ContextTokens,GeneratedTokens`, found `{header}`")));
    }
    let mut t0: Option<f64> = None;
    for (i, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let lno = i + 1;
        let mut parts = line.split(',');
        let (ts, ctx, gen) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c), None) => (a, b, c),
            _ => return Err(Error::input(origin, format!("line {lno}: expected 3 comma-separated fields, found `{line}`"))),
        };
        let t = parse_timestamp(ts)
            .ok_or_else(|| Error::input(origin, format!("line {lno}: timestamp `{ts}` is not `YYYY-MM-DD HH:MM:SS[.fraction]`")))?;
        let parse_tokens = |s: &str, col: &str| -> Result<u32> {
            s.trim().parse::<u32>().map_err(|_| Error::input(origin, format!("line {lno}: {col} `{s}` is not a whole number of tokens")))
        };
        let c = parse_tokens(ctx, "ContextTokens")?;
        let g = parse_tokens(gen, "GeneratedTokens")?;
        let base = *t0.get_or_insert(t);
        out.push(AzureRow { arrival_s: t - base, context_tokens: c, generated_tokens: g });
    }
    if out.is_empty() {
        return Err(Error::input(origin, "no data rows"));
    }
    Ok(out)
}

/// Seconds since 1970-01-01 of `YYYY-MM-DD HH:MM:SS[.fffffff]` (UTC, proleptic Gregorian).
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next()?.parse().ok()?;
    if t.next().is_some() || !(0..24).contains(&hh) || !(0..60).contains(&mm) || !(0.0..61.0).contains(&ss) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + (hh * 3600 + mm * 60) as f64 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_traces_match_published_figures() {
        // NOTICE figures: code 8,819 rows, context mean 2,047.85, generated mean 27.88, span 3,436 s;
        // conv 19,366 rows, 1,154.70, 211.13, span 3,502 s.
        for (task, n, ctx, gen, span) in [(Task::Code, 8819, 2047.85, 27.88, 3436.0), (Task::Conv, 19366, 1154.70, 211.13, 3502.0)] {
            let r = rows(task).unwrap();
            assert_eq!(r.len(), n);
            let mc = r.iter().map(|x| x.context_tokens as f64).sum::<f64>() / n as f64;
            let mg = r.iter().map(|x| x.generated_tokens as f64).sum::<f64>() / n as f64;
            assert!((mc - ctx).abs() < 0.01, "{mc}");
            assert!((mg - gen).abs() < 0.01, "{mg}");
            assert!((r.last().unwrap().arrival_s - span).abs() < 1.0);
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-02 00:00:01.5"), Some(86_401.5));
        assert!(parse_timestamp("2023-13-01 00:00:00").is_none());
        assert!(parse_timestamp("yesterday").is_none());
        let e = parse_raw("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9,12,x\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("line 2") && e.contains("GeneratedTokens"), "{e}");
    }
}
