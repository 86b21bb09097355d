//! Kernel and collective descriptions: what a backend is asked to cost.
//!
//! Every variant carries exact shapes and data types. [`Kernel::flops`] and [`Kernel::bytes`]
//! are the canonical operation and DRAM-traffic counts that every roofline-style backend and
//! every utilisation metric uses, so that they agree. Counting conventions are stated per
//! variant; bytes are bytes (never elements).

use crate::dtype::DType;
use serde::{Deserialize, Serialize};

/// One kernel launch on one device. `Copy + Eq + Hash` so that it is its own cost-cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kernel {
    /// `b` independent products `[m, k] × [k, n] → [m, n]`. `a` is the left operand's type,
    /// `w` the right operand's (the weight for a linear layer), `out` the result's.
    /// FLOPs `2·b·m·k·n`; bytes `b·(m·k·a + k·n·w + m·n·out)`.
    Gemm {
        /// Independent products in the batch (1: a plain GEMM).
        b: u64,
        /// Rows of the left operand (tokens).
        m: u64,
        /// Inner (reduction) dimension.
        k: u64,
        /// Columns of the right operand (output features).
        n: u64,
        /// Type of the activation (left) operand.
        a: DType,
        /// Type of the weight (right) operand.
        w: DType,
        /// Type of the output.
        out: DType,
    },
    /// Grouped GEMM of `groups` experts over `rows` routed token rows in total (the largest
    /// group has `max_rows`): every group reads its own `[k, n]` weight.
    /// FLOPs `2·rows·k·n`; bytes `rows·k·a + groups·k·n·w + rows·n·out`.
    GroupedGemm {
        /// Groups (experts), one GEMM each.
        groups: u64,
        /// Rows over all groups (routed token copies).
        rows: u64,
        /// Rows of the largest group (the slowest expert bounds the kernel).
        max_rows: u64,
        /// Inner (reduction) dimension.
        k: u64,
        /// Columns of the right operand (output features).
        n: u64,
        /// Type of the activation (left) operand.
        a: DType,
        /// Type of the weight (right) operand.
        w: DType,
        /// Type of the output.
        out: DType,
    },
    /// Fused (flash) attention for `seqs` sequences, each with `q_len` new queries attending
    /// over `kv_len` keys (the cached prefix plus the new tokens). With `causal`, query `i` of
    /// the chunk sees `kv_len − q_len + i + 1` keys. `kv_shared` means V is read from the same
    /// cache entries as K (multi-head latent attention), so only K bytes are read.
    /// FLOPs `2·pairs·q_heads·(d_qk + d_v)`; bytes Q + K + V read once, O written once.
    Attention {
        /// Sequences.
        seqs: u64,
        /// New query tokens per sequence.
        q_len: u64,
        /// Keys per sequence (its context, the new tokens included).
        kv_len: u64,
        /// Query heads.
        q_heads: u64,
        /// KV heads (GQA groups).
        kv_heads: u64,
        /// Head dimension of queries and keys.
        d_qk: u64,
        /// Head dimension of values.
        d_v: u64,
        /// Causal mask among the new tokens.
        causal: bool,
        /// One KV head read by every query head (MLA's latent cache).
        kv_shared: bool,
        /// Type of queries and outputs.
        act: DType,
        /// Type of the KV cache.
        kv: DType,
    },
    /// Fused decode attention: `seqs` sequences with one query each over `kv_total` cached
    /// tokens in total. Linear in `kv_total`, so a batch aggregates into one kernel.
    DecodeAttention {
        /// Sequences.
        seqs: u64,
        /// Keys over all sequences (the sum of their contexts).
        kv_total: u64,
        /// Query heads.
        q_heads: u64,
        /// KV heads (GQA groups).
        kv_heads: u64,
        /// Head dimension of queries and keys.
        d_qk: u64,
        /// Head dimension of values.
        d_v: u64,
        /// One KV head read by every query head (MLA's latent cache).
        kv_shared: bool,
        /// Type of queries and outputs.
        act: DType,
        /// Type of the KV cache.
        kv: DType,
    },
    /// Row softmax over `[m, n]`. FLOPs `5·m·n` (max, subtract, exp, sum, divide); bytes `2·m·n`.
    Softmax {
        /// Rows (tokens).
        m: u64,
        /// Elements per row.
        n: u64,
        /// Element type.
        dtype: DType,
    },
    /// RMSNorm / LayerNorm over rows of `[m, n]`. FLOPs `4·m·n`; bytes `2·m·n + n` (gain).
    LayerNorm {
        /// Rows (tokens).
        m: u64,
        /// Elements per row.
        n: u64,
        /// Element type.
        dtype: DType,
    },
    /// SiLU over `[m, n]`. FLOPs `5·m·n`; bytes `2·m·n`.
    Silu {
        /// Rows (tokens).
        m: u64,
        /// Elements per row.
        n: u64,
        /// Element type.
        dtype: DType,
    },
    /// GeLU (tanh form) over `[m, n]`. FLOPs `8·m·n`; bytes `2·m·n`.
    Gelu {
        /// Rows (tokens).
        m: u64,
        /// Elements per row.
        n: u64,
        /// Element type.
        dtype: DType,
    },
    /// Element-wise product of two `[m, n]` tensors. FLOPs `m·n`; bytes `3·m·n`.
    Mul {
        /// Rows (tokens).
        m: u64,
        /// Elements per row.
        n: u64,
        /// Element type.
        dtype: DType,
    },
    /// Element-wise sum (residual add) of two `[m, n]` tensors. FLOPs `m·n`; bytes `3·m·n`.
    Add {
        /// Rows (tokens).
        m: u64,
        /// Elements per row.
        n: u64,
        /// Element type.
        dtype: DType,
    },
    /// Rotary position embedding applied to `m` tokens × `n` elements (query and key heads
    /// together). FLOPs `3·m·n`; bytes `2·m·n`.
    Rope {
        /// Rows (tokens).
        m: u64,
        /// Elements per row.
        n: u64,
        /// Element type.
        dtype: DType,
    },
    /// Embedding lookup: `tokens` rows of width `hidden` gathered. FLOPs 0; bytes `2·tokens·hidden`.
    Embedding {
        /// Tokens looked up.
        tokens: u64,
        /// Width of a row.
        hidden: u64,
        /// Element type.
        dtype: DType,
    },
    /// Router top-k over `[m, n]` scores (m tokens, n experts). FLOPs `m·n·⌈log2 k⌉+m·n`;
    /// bytes `m·n` scores read plus `m·k` (index, weight) pairs written as 8 bytes each.
    TopK {
        /// Tokens.
        m: u64,
        /// Experts scored per token.
        n: u64,
        /// Experts chosen per token.
        k: u64,
        /// Element type.
        dtype: DType,
    },
}

/// The kinds of kernel, in a fixed order: the one list that reports, the kernel library, the
/// `kernel-time` command and the engine's time-by-kind breakdown all derive from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KernelKind {
    /// [`Kernel::Gemm`] with `b = 1`.
    Matmul,
    /// [`Kernel::Gemm`] with `b > 1`.
    Bmm,
    /// [`Kernel::GroupedGemm`].
    GroupedMatmul,
    /// [`Kernel::Attention`].
    FlashAttention,
    /// [`Kernel::DecodeAttention`].
    DecodeAttention,
    /// [`Kernel::Softmax`].
    Softmax,
    /// [`Kernel::LayerNorm`].
    LayerNorm,
    /// [`Kernel::Silu`].
    Silu,
    /// [`Kernel::Gelu`].
    Gelu,
    /// [`Kernel::Mul`].
    Mul,
    /// [`Kernel::Add`].
    Add,
    /// [`Kernel::Rope`].
    Rope,
    /// [`Kernel::Embedding`].
    Embedding,
    /// [`Kernel::TopK`].
    TopK,
}

impl KernelKind {
    /// Every kind, in index order.
    pub const ALL: [KernelKind; 14] = [
        KernelKind::Matmul,
        KernelKind::Bmm,
        KernelKind::GroupedMatmul,
        KernelKind::FlashAttention,
        KernelKind::DecodeAttention,
        KernelKind::Softmax,
        KernelKind::LayerNorm,
        KernelKind::Silu,
        KernelKind::Gelu,
        KernelKind::Mul,
        KernelKind::Add,
        KernelKind::Rope,
        KernelKind::Embedding,
        KernelKind::TopK,
    ];

    /// Short lowercase name, as used in kernel-library file names, reports and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Matmul => "matmul",
            KernelKind::Bmm => "bmm",
            KernelKind::GroupedMatmul => "grouped_matmul",
            KernelKind::FlashAttention => "flash_attention",
            KernelKind::DecodeAttention => "decode_attention",
            KernelKind::Softmax => "softmax",
            KernelKind::LayerNorm => "layernorm",
            KernelKind::Silu => "silu",
            KernelKind::Gelu => "gelu",
            KernelKind::Mul => "mul",
            KernelKind::Add => "add",
            KernelKind::Rope => "rope",
            KernelKind::Embedding => "embedding",
            KernelKind::TopK => "topk",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<KernelKind> {
        KernelKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Position in [`KernelKind::ALL`].
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Kernel {
    /// The kind of this kernel.
    #[inline]
    pub fn kind(&self) -> KernelKind {
        match self {
            Kernel::Gemm { b: 1, .. } => KernelKind::Matmul,
            Kernel::Gemm { .. } => KernelKind::Bmm,
            Kernel::GroupedGemm { .. } => KernelKind::GroupedMatmul,
            Kernel::Attention { .. } => KernelKind::FlashAttention,
            Kernel::DecodeAttention { .. } => KernelKind::DecodeAttention,
            Kernel::Softmax { .. } => KernelKind::Softmax,
            Kernel::LayerNorm { .. } => KernelKind::LayerNorm,
            Kernel::Silu { .. } => KernelKind::Silu,
            Kernel::Gelu { .. } => KernelKind::Gelu,
            Kernel::Mul { .. } => KernelKind::Mul,
            Kernel::Add { .. } => KernelKind::Add,
            Kernel::Rope { .. } => KernelKind::Rope,
            Kernel::Embedding { .. } => KernelKind::Embedding,
            Kernel::TopK { .. } => KernelKind::TopK,
        }
    }

    /// Short lowercase name of this kernel's kind ([`KernelKind::name`]).
    pub fn kind_name(&self) -> &'static str {
        self.kind().name()
    }

    /// Dense GEMM `[m,k]×[k,n]` with one data type throughout.
    pub fn matmul(m: u64, k: u64, n: u64, dtype: DType) -> Kernel {
        Kernel::Gemm { b: 1, m, k, n, a: dtype, w: dtype, out: dtype }
    }

    /// Query–key pairs the attention kernel actually computes (causal mask honoured).
    pub fn attention_pairs(seqs: u64, q_len: u64, kv_len: u64, causal: bool) -> u64 {
        if causal {
            let prefix = kv_len.saturating_sub(q_len);
            seqs * (q_len * prefix + q_len * (q_len + 1) / 2)
        } else {
            seqs * q_len * kv_len
        }
    }

    /// Floating-point operations (multiply and add counted separately).
    #[inline]
    pub fn flops(&self) -> f64 {
        match *self {
            Kernel::Gemm { b, m, k, n, .. } => 2.0 * (b * m) as f64 * k as f64 * n as f64,
            Kernel::GroupedGemm { rows, k, n, .. } => 2.0 * rows as f64 * k as f64 * n as f64,
            Kernel::Attention { seqs, q_len, kv_len, q_heads, d_qk, d_v, causal, .. } => {
                2.0 * Self::attention_pairs(seqs, q_len, kv_len, causal) as f64 * (q_heads * (d_qk + d_v)) as f64
            }
            Kernel::DecodeAttention { kv_total, q_heads, d_qk, d_v, .. } => 2.0 * kv_total as f64 * (q_heads * (d_qk + d_v)) as f64,
            Kernel::Softmax { m, n, .. } => 5.0 * (m * n) as f64,
            Kernel::LayerNorm { m, n, .. } => 4.0 * (m * n) as f64,
            Kernel::Silu { m, n, .. } => 5.0 * (m * n) as f64,
            Kernel::Gelu { m, n, .. } => 8.0 * (m * n) as f64,
            Kernel::Mul { m, n, .. } | Kernel::Add { m, n, .. } => (m * n) as f64,
            Kernel::Rope { m, n, .. } => 3.0 * (m * n) as f64,
            Kernel::Embedding { .. } => 0.0,
            Kernel::TopK { m, n, k, .. } => (m * n) as f64 * (1.0 + (k.max(1) as f64).log2().ceil()),
        }
    }

    /// Bytes moved to and from device memory, assuming each operand is read once and each
    /// result written once (the roofline's lower bound on traffic).
    #[inline]
    pub fn bytes(&self) -> f64 {
        match *self {
            Kernel::Gemm { b, m, k, n, a, w, out } => {
                b as f64 * ((m * k) as f64 * a.bytes() + (k * n) as f64 * w.bytes() + (m * n) as f64 * out.bytes())
            }
            Kernel::GroupedGemm { groups, rows, k, n, a, w, out, .. } => {
                (rows * k) as f64 * a.bytes() + (groups * k * n) as f64 * w.bytes() + (rows * n) as f64 * out.bytes()
            }
            Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv, .. } => {
                let q = (seqs * q_len * q_heads * d_qk) as f64 * act.bytes();
                let o = (seqs * q_len * q_heads * d_v) as f64 * act.bytes();
                let v_dim = if kv_shared { 0 } else { d_v };
                let kv_read = (seqs * kv_len * kv_heads * (d_qk + v_dim)) as f64 * kv.bytes();
                q + o + kv_read
            }
            Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv } => {
                let q = (seqs * q_heads * d_qk) as f64 * act.bytes();
                let o = (seqs * q_heads * d_v) as f64 * act.bytes();
                let v_dim = if kv_shared { 0 } else { d_v };
                q + o + (kv_total * kv_heads * (d_qk + v_dim)) as f64 * kv.bytes()
            }
            Kernel::Softmax { m, n, dtype }
            | Kernel::Silu { m, n, dtype }
            | Kernel::Gelu { m, n, dtype }
            | Kernel::Rope { m, n, dtype } => 2.0 * (m * n) as f64 * dtype.bytes(),
            Kernel::LayerNorm { m, n, dtype } => (2 * m * n + n) as f64 * dtype.bytes(),
            Kernel::Mul { m, n, dtype } | Kernel::Add { m, n, dtype } => 3.0 * (m * n) as f64 * dtype.bytes(),
            Kernel::Embedding { tokens, hidden, dtype } => 2.0 * (tokens * hidden) as f64 * dtype.bytes(),
            Kernel::TopK { m, n, k, dtype } => (m * n) as f64 * dtype.bytes() + (m * k * 8) as f64,
        }
    }

    /// The data type whose tensor-core rate bounds this kernel's compute: the wider of the two
    /// GEMM operands (an fp8×fp8 GEMM runs at the fp8 rate; bf16×fp8 at the bf16 rate).
    pub fn compute_dtype(&self) -> DType {
        fn wider(a: DType, b: DType) -> DType {
            if a.bits() >= b.bits() {
                a
            } else {
                b
            }
        }
        match *self {
            Kernel::Gemm { a, w, .. } | Kernel::GroupedGemm { a, w, .. } => wider(a, w),
            Kernel::Attention { act, kv, .. } | Kernel::DecodeAttention { act, kv, .. } => wider(act, kv),
            Kernel::Softmax { dtype, .. }
            | Kernel::LayerNorm { dtype, .. }
            | Kernel::Silu { dtype, .. }
            | Kernel::Gelu { dtype, .. }
            | Kernel::Mul { dtype, .. }
            | Kernel::Add { dtype, .. }
            | Kernel::Rope { dtype, .. }
            | Kernel::Embedding { dtype, .. }
            | Kernel::TopK { dtype, .. } => dtype,
        }
    }

    /// True for kernels that run on tensor cores / systolic arrays (GEMMs and attention);
    /// false for vector-unit kernels.
    pub fn uses_matrix_units(&self) -> bool {
        matches!(self, Kernel::Gemm { .. } | Kernel::GroupedGemm { .. } | Kernel::Attention { .. } | Kernel::DecodeAttention { .. })
    }
}

/// Collective communication patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CollectiveKind {
    /// Every rank ends with the sum of every rank's buffer.
    AllReduce,
    /// Every rank ends with every rank's buffer.
    AllGather,
    /// Every rank ends with its share of the sum.
    ReduceScatter,
    /// Every rank sends a distinct part of its buffer to every other.
    AllToAll,
    /// One rank sends its buffer to the next (pipeline stages).
    SendRecv,
}

impl CollectiveKind {
    /// The name used in reports, the CLI and the measured tables.
    pub fn name(self) -> &'static str {
        match self {
            CollectiveKind::AllReduce => "all_reduce",
            CollectiveKind::AllGather => "all_gather",
            CollectiveKind::ReduceScatter => "reduce_scatter",
            CollectiveKind::AllToAll => "all_to_all",
            CollectiveKind::SendRecv => "send_recv",
        }
    }
}

/// Which link a collective travels over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LinkScope {
    /// Within one node (NVLink-class scale-up links).
    ScaleUp,
    /// Across nodes (the scale-out network).
    ScaleOut,
}

/// One collective over `ranks` devices.
///
/// `bytes` is the size of the full tensor each rank holds: for all-reduce the buffer being
/// reduced; for all-gather the gathered output; for reduce-scatter the input; for all-to-all
/// the total a rank sends (including the part it keeps); for send/recv the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Collective {
    /// Which collective.
    pub kind: CollectiveKind,
    /// Bytes of each rank's buffer.
    pub bytes: u64,
    /// Ranks taking part.
    pub ranks: u32,
    /// Which links it runs over.
    pub scope: LinkScope,
    /// The algorithm asked for.
    pub algo: CommAlgo,
}

/// Collective algorithm (the original tool's `io_algo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CommAlgo {
    /// The backend's choice for the topology (ring for rings; LLMCompass's FC formula otherwise).
    #[default]
    Auto,
    /// Classic ring: 2(P−1) steps for all-reduce.
    Ring,
    /// Two-dimensional ring (rows then columns of a √P×√P grid).
    Ring2d,
    /// One-shot / multishot: every rank sends its data to every peer at once (NVSwitch style).
    Multishot,
}

impl CommAlgo {
    /// The canonical name ([`CommAlgo::parse`] reads it back).
    pub fn name(self) -> &'static str {
        match self {
            CommAlgo::Auto => "auto",
            CommAlgo::Ring => "ring",
            CommAlgo::Ring2d => "ring2d",
            CommAlgo::Multishot => "multishot",
        }
    }

    /// Parse an algorithm name or alias.
    pub fn parse(s: &str) -> Option<CommAlgo> {
        Some(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "auto" | "default" => CommAlgo::Auto,
            "ring" => CommAlgo::Ring,
            "ring2d" | "2d_ring" | "ring_2d" | "two_dimensional_ring" => CommAlgo::Ring2d,
            "multishot" | "oneshot" | "one_shot" => CommAlgo::Multishot,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_counts_bytes_not_elements() {
        let k = Kernel::matmul(2, 3, 4, DType::Bf16);
        assert_eq!(k.flops(), 48.0);
        assert_eq!(k.bytes(), 2.0 * (6 + 12 + 8) as f64);
        let fp8w = Kernel::Gemm { b: 1, m: 2, k: 3, n: 4, a: DType::Bf16, w: DType::F8, out: DType::Bf16 };
        assert_eq!(fp8w.bytes(), 2.0 * 6.0 + 12.0 + 2.0 * 8.0);
        assert_eq!(fp8w.compute_dtype(), DType::Bf16);
    }

    #[test]
    fn causal_pairs() {
        // A 4-token prompt with no prefix: 1+2+3+4 = 10 pairs.
        assert_eq!(Kernel::attention_pairs(1, 4, 4, true), 10);
        // A 2-token chunk after a 4-token prefix: 5 + 6 = 11 pairs.
        assert_eq!(Kernel::attention_pairs(1, 2, 6, true), 11);
        assert_eq!(Kernel::attention_pairs(3, 2, 6, false), 36);
    }
}
