//! Attention windows: layers whose queries see only a bounded span of keys (sliding-window
//! attention, chunked local attention), and what that does to a step's attention kernels.
//!
//! * **Sliding window** of `W` tokens (HF `sliding_window`; gpt-oss's `sliding_attention`
//!   layers, `W` = 128): the query at position `t` (0-based) sees keys `max(0, t−W+1)..=t`,
//!   i.e. `min(t+1, W)` keys (the HF mask keeps key `k` when `t − k < W`).
//! * **Chunked local attention** of `C` tokens (Llama 4's `attention_chunk_size` 8192): the
//!   query at `t` sees the keys of its own chunk, `⌊t/C⌋·C..=t`, i.e. `t mod C + 1` keys.
//!
//! A windowed layer keeps at most `W` (`C`) tokens of KV per sequence, which
//! [`ModelInfo::kv_window_tokens`](reallm_plugin_api::ModelInfo) reports.
//!
//! The kernels stay the plain [`Kernel::Attention`](reallm_plugin_api::Kernel) and
//! `DecodeAttention`: a prefill chunk is cut into spans whose key counts the plain kernels
//! express exactly ([`prefill_spans`]), and decode attention is given the capped context
//! ([`decode_context`]).

use crate::blocks::ChunkGroup;
use serde::{Deserialize, Serialize};

/// What bounds the keys a layer's queries attend to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttentionWindow {
    /// Every earlier token (causal attention over the whole context).
    #[default]
    Full,
    /// The last `tokens` tokens, the query's own included.
    Sliding { tokens: u64 },
    /// The tokens of the query's own chunk of `tokens` positions, up to the query.
    Chunked { tokens: u64 },
}

impl AttentionWindow {
    /// The window's size in tokens (`None` for full attention): the most KV a layer keeps per
    /// sequence.
    pub fn tokens(self) -> Option<u64> {
        match self {
            AttentionWindow::Full => None,
            AttentionWindow::Sliding { tokens } | AttentionWindow::Chunked { tokens } => Some(tokens),
        }
    }
}

/// The attention variant of one layer: its window and whether it applies rotary position
/// embedding (Llama 4's NoPE layers do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LayerAttention {
    pub window: AttentionWindow,
    pub rope: bool,
}

impl Default for LayerAttention {
    fn default() -> Self {
        LayerAttention { window: AttentionWindow::Full, rope: true }
    }
}

/// Part of a prefill chunk group that one attention kernel covers: `seqs` sequences, each with
/// `q_len` queries over `kv_len` keys, causal (query `i` sees `kv_len − q_len + i + 1` keys) or
/// not (every query sees all `kv_len` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttnSpan {
    pub seqs: u64,
    pub q_len: u64,
    pub kv_len: u64,
    pub causal: bool,
}

/// Cut a group of identical prefill chunks (`tokens` new queries after `prefix` cached ones)
/// into spans whose query–key pairs are exactly those of the window (appended to `out`).
///
/// * full: one causal span `(tokens, prefix + tokens)`;
/// * sliding `W`: the queries at positions `< W` see every earlier key (a causal span ending at
///   position `min(prefix + tokens, W)`), the rest see exactly `W` keys each (one non-causal
///   span of `kv_len` `W`). Pairs `Σ_t min(t+1, W)` exactly. Bytes: the non-causal span reads
///   `W` keys per sequence, where a real kernel touches the `q + W − 1` keys its queries span
///   together: K/V traffic is understated for long chunks (prefill attention is compute-bound).
/// * chunked `C`: one causal span per attention chunk the queries fall in, over the keys from
///   that chunk's start; identical consecutive spans (whole chunks) are merged. Exact in pairs
///   and in the keys read.
pub fn prefill_spans(g: &ChunkGroup, window: AttentionWindow, out: &mut Vec<AttnSpan>) {
    let (p, q, seqs) = (g.prefix, g.tokens, g.seqs);
    if q == 0 || seqs == 0 {
        return;
    }
    match window {
        AttentionWindow::Full => out.push(AttnSpan { seqs, q_len: q, kv_len: p + q, causal: true }),
        AttentionWindow::Sliding { tokens: w } => {
            let w = w.max(1);
            // Queries at positions p..p+q1 (t < W) see t+1 keys: causal over a prefix of p.
            let q1 = (p + q).min(w).saturating_sub(p);
            if q1 > 0 {
                out.push(AttnSpan { seqs, q_len: q1, kv_len: p + q1, causal: true });
            }
            if q > q1 {
                out.push(AttnSpan { seqs, q_len: q - q1, kv_len: w, causal: false });
            }
        }
        AttentionWindow::Chunked { tokens: c } => {
            let c = c.max(1);
            let (mut a, end) = (p, p + q);
            while a < end {
                let start = a / c * c;
                let b = end.min(start + c);
                let span = AttnSpan { seqs, q_len: b - a, kv_len: b - start, causal: true };
                match out.last_mut() {
                    Some(last) if last.q_len == span.q_len && last.kv_len == span.kv_len && last.causal => last.seqs += seqs,
                    _ => out.push(span),
                }
                a = b;
            }
        }
    }
}

/// Keys the decode queries of a step attend to in total, for `seqs` decoding sequences whose
/// contexts (cached tokens plus the new one) sum to `ctx_sum`: `ctx_sum` for full attention,
/// `min(ctx_sum, seqs·W)` under a window of `W`.
///
/// A sequence of context `c` sees `min(c, W)` keys under a sliding window and `(c−1) mod C + 1`
/// under chunked attention, but the batch carries only the sum of the contexts. The figure is
/// exact for a sliding window when every context is at least `W` or none exceeds it (with
/// gpt-oss's `W` = 128 nearly every decoding sequence is past it), and for chunked attention
/// when no context exceeds `C`; otherwise it is an upper bound.
pub fn decode_context(seqs: u64, ctx_sum: u64, window: AttentionWindow) -> u64 {
    match window.tokens() {
        None => ctx_sum,
        Some(w) => ctx_sum.min(seqs.saturating_mul(w.max(1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reallm_plugin_api::Kernel;

    fn spans(tokens: u64, prefix: u64, w: AttentionWindow) -> Vec<AttnSpan> {
        let mut v = Vec::new();
        prefill_spans(&ChunkGroup { tokens, prefix, seqs: 2 }, w, &mut v);
        v
    }

    /// Pairs counted by brute force: query at absolute position t sees `keys(t)` keys.
    fn brute(tokens: u64, prefix: u64, keys: impl Fn(u64) -> u64) -> u64 {
        2 * (prefix..prefix + tokens).map(keys).sum::<u64>()
    }

    fn pairs(v: &[AttnSpan]) -> u64 {
        v.iter().map(|s| Kernel::attention_pairs(s.seqs, s.q_len, s.kv_len, s.causal)).sum()
    }

    #[test]
    fn full_attention_is_one_causal_span() {
        assert_eq!(spans(512, 100, AttentionWindow::Full), vec![AttnSpan { seqs: 2, q_len: 512, kv_len: 612, causal: true }]);
    }

    #[test]
    fn sliding_window_spans_by_hand() {
        let w = AttentionWindow::Sliding { tokens: 128 };
        // A 1000-token prompt: queries 0..128 causal (kv 128), 872 queries over 128 keys each.
        assert_eq!(
            spans(1000, 0, w),
            vec![AttnSpan { seqs: 2, q_len: 128, kv_len: 128, causal: true }, AttnSpan { seqs: 2, q_len: 872, kv_len: 128, causal: false }]
        );
        // Pairs: 128·129/2 + 872·128 = 8,256 + 111,616 = 119,872 per sequence.
        assert_eq!(pairs(&spans(1000, 0, w)), 2 * 119_872);
        // A chunk entirely past the window: all non-causal.
        assert_eq!(spans(64, 500, w), vec![AttnSpan { seqs: 2, q_len: 64, kv_len: 128, causal: false }]);
        // A chunk entirely inside the window: the full causal span.
        assert_eq!(spans(20, 50, w), vec![AttnSpan { seqs: 2, q_len: 20, kv_len: 70, causal: true }]);
    }

    #[test]
    fn chunked_spans_by_hand() {
        let c = AttentionWindow::Chunked { tokens: 8192 };
        // 4096 new tokens after 6000 cached: positions 6000..8192 in chunk 0 (kv from 0),
        // 8192..10096 in chunk 1 (kv from 8192).
        assert_eq!(
            spans(4096, 6000, c),
            vec![
                AttnSpan { seqs: 2, q_len: 2192, kv_len: 8192, causal: true },
                AttnSpan { seqs: 2, q_len: 1904, kv_len: 1904, causal: true }
            ]
        );
        // Three whole chunks and a part: the whole chunks merge into one span of 3 × 2 sequences.
        assert_eq!(
            spans(3 * 8192 + 10, 0, c),
            vec![AttnSpan { seqs: 6, q_len: 8192, kv_len: 8192, causal: true }, AttnSpan { seqs: 2, q_len: 10, kv_len: 10, causal: true }]
        );
    }

    #[test]
    fn spans_count_exactly_the_windowed_pairs() {
        for (tokens, prefix) in [(1, 0), (5, 3), (127, 0), (128, 0), (129, 0), (300, 0), (300, 100), (64, 1000), (40, 100), (1000, 8000)] {
            for w in [1u64, 7, 128, 256] {
                let s = spans(tokens, prefix, AttentionWindow::Sliding { tokens: w });
                assert_eq!(pairs(&s), brute(tokens, prefix, |t| (t + 1).min(w)), "sliding {w}: {tokens}+{prefix}");
                let c = spans(tokens, prefix, AttentionWindow::Chunked { tokens: w });
                assert_eq!(pairs(&c), brute(tokens, prefix, |t| t % w + 1), "chunked {w}: {tokens}+{prefix}");
                assert_eq!(c.iter().map(|x| x.seqs * x.q_len).sum::<u64>(), 2 * tokens);
            }
            let f = spans(tokens, prefix, AttentionWindow::Full);
            assert_eq!(pairs(&f), brute(tokens, prefix, |t| t + 1));
        }
    }

    #[test]
    fn decode_context_is_capped() {
        let w = AttentionWindow::Sliding { tokens: 128 };
        // 10 sequences of 1000 tokens: 10 · 128 keys.
        assert_eq!(decode_context(10, 10_000, w), 1280);
        // Short contexts are not capped.
        assert_eq!(decode_context(10, 500, w), 500);
        assert_eq!(decode_context(10, 10_000, AttentionWindow::Full), 10_000);
        assert_eq!(decode_context(3, 30_000, AttentionWindow::Chunked { tokens: 8192 }), 24_576);
    }
}
