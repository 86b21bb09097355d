//! Plain C descriptions of kernels, collectives and devices.
//!
//! [`ReallmOp`] and [`ReallmDevice`] are `repr(C)` and match `include/reallm_backend.h`
//! field for field: they are what both dynamic paths carry across the boundary for kernel
//! backends (the abi_stable path passes slices of `ReallmOp`; the C path passes the same
//! structs to `reallm_backend_desc.cost`). Conversions are lossless and checked: an unknown
//! kind or data-type code becomes a [`PluginError::Unsupported`], never a guess.
//!
//! Encoding of one op (the header documents the same table):
//!
//! | kind | `dims[0..]` | `dtypes[0..]` | `flags` |
//! |---|---|---|---|
//! | `GEMM` | b, m, k, n | a, w, out | – |
//! | `GROUPED_GEMM` | groups, rows, max_rows, k, n | a, w, out | – |
//! | `ATTENTION` | seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v | act, kv | causal, kv_shared |
//! | `DECODE_ATTENTION` | seqs, kv_total, q_heads, kv_heads, d_qk, d_v | act, kv | kv_shared |
//! | `SOFTMAX` … `ROPE` | m, n | dtype | – |
//! | `EMBEDDING` | tokens, hidden | dtype | – |
//! | `TOPK` | m, n, k | dtype | – |
//! | `ALL_REDUCE` … `SEND_RECV` | bytes, ranks, scope, algo | – | – |
//!
//! `flops` and `bytes` carry the canonical counts of [`Kernel::flops`] / [`Kernel::bytes`]
//! (for a collective: 0 and the message bytes), so that a simple C backend need not re-derive
//! them. The Rust (abi_stable) path sends shapes only ([`ReallmOp::shape_of`]): the library
//! side rebuilds the [`Kernel`], whose counts are methods.

use crate::device::DeviceSpec;
use crate::dtype::DType;
use crate::error::PluginError;
use crate::kernel::{Collective, CollectiveKind, CommAlgo, Kernel, LinkScope};
use abi_stable::StableAbi;
use std::ffi::{c_char, c_void, CString};

/// Version of the C backend ABI (`REALLM_BACKEND_ABI_VERSION` in the header). A C library
/// whose `reallm_backend_abi_version()` returns another value is rejected.
pub const C_ABI_VERSION: u32 = 1;

/// Kind codes of [`ReallmOp::kind`] (`REALLM_OP_*` in the header).
pub mod kind {
    /// C op code of a GEMM (any batch) (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const GEMM: u32 = 1;
    /// C op code of a grouped GEMM (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const GROUPED_GEMM: u32 = 2;
    /// C op code of prefill attention (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const ATTENTION: u32 = 3;
    /// C op code of decode attention (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const DECODE_ATTENTION: u32 = 4;
    /// C op code of softmax (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const SOFTMAX: u32 = 5;
    /// C op code of layer norm (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const LAYERNORM: u32 = 6;
    /// C op code of SiLU (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const SILU: u32 = 7;
    /// C op code of GELU (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const GELU: u32 = 8;
    /// C op code of element-wise multiply (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const MUL: u32 = 9;
    /// C op code of element-wise add (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const ADD: u32 = 10;
    /// C op code of RoPE (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const ROPE: u32 = 11;
    /// C op code of an embedding lookup (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const EMBEDDING: u32 = 12;
    /// C op code of router top-k (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const TOPK: u32 = 13;
    /// C op code of an all-reduce (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const ALL_REDUCE: u32 = 64;
    /// C op code of an all-gather (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const ALL_GATHER: u32 = 65;
    /// C op code of a reduce-scatter (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const REDUCE_SCATTER: u32 = 66;
    /// C op code of an all-to-all (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const ALL_TO_ALL: u32 = 67;
    /// C op code of a send/recv (the C ABI's own stable numbering, `reallm_backend.h`).
    pub const SEND_RECV: u32 = 68;
}

/// `flags` bit: causal attention mask.
pub const FLAG_CAUSAL: u32 = 1;
/// `flags` bit: V read from the K cache entries (multi-head latent attention).
pub const FLAG_KV_SHARED: u32 = 2;

/// Data-type code (`REALLM_DTYPE_*`), fixed independently of the Rust enum's discriminants.
pub fn dtype_code(d: DType) -> u8 {
    match d {
        DType::F32 => 0,
        DType::Bf16 => 1,
        DType::F16 => 2,
        DType::F8 => 3,
        DType::I8 => 4,
        DType::F4 => 5,
        DType::Mxfp4 => 6,
        DType::Nvfp4 => 7,
    }
}

/// Inverse of [`dtype_code`].
pub fn dtype_from_code(c: u8) -> Result<DType, PluginError> {
    Ok(match c {
        0 => DType::F32,
        1 => DType::Bf16,
        2 => DType::F16,
        3 => DType::F8,
        4 => DType::I8,
        5 => DType::F4,
        6 => DType::Mxfp4,
        7 => DType::Nvfp4,
        _ => return Err(PluginError::unsupported(format!("unknown data-type code {c} in an op description"))),
    })
}

/// One kernel or collective, as C sees it (`reallm_op`, 96 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, StableAbi)]
pub struct ReallmOp {
    /// One of [`kind`].
    pub kind: u32,
    /// Data-type codes ([`dtype_code`]); unused slots are 0.
    pub dtypes: [u8; 4],
    /// [`FLAG_CAUSAL`] | [`FLAG_KV_SHARED`].
    pub flags: u32,
    /// Always 0 (keeps `dims` 8-byte aligned; may carry meaning in a later 1.x).
    pub reserved: u32,
    /// Shape fields, per the table in the module docs; unused slots are 0.
    pub dims: [u64; 8],
    /// Canonical FLOPs ([`Kernel::flops`]); 0 for collectives.
    pub flops: f64,
    /// Canonical DRAM bytes ([`Kernel::bytes`]); message bytes for collectives.
    pub bytes: f64,
}

impl ReallmOp {
    fn blank(kind: u32) -> ReallmOp {
        ReallmOp { kind, dtypes: [0; 4], flags: 0, reserved: 0, dims: [0; 8], flops: 0.0, bytes: 0.0 }
    }

    /// Encode a kernel with its canonical counts (the C path).
    pub fn from_kernel(k: &Kernel) -> ReallmOp {
        let mut op = ReallmOp::shape_of(k);
        op.flops = k.flops();
        op.bytes = k.bytes();
        op
    }

    /// Encode a kernel's shape only, leaving `flops` and `bytes` at 0: the Rust path, where
    /// the library decodes a [`Kernel`] and has its counts at hand (saves ~20 ns per kernel).
    pub fn shape_of(k: &Kernel) -> ReallmOp {
        let c = dtype_code;
        let (code, dims, dtypes, flags): (u32, &[u64], [u8; 4], u32) = match *k {
            Kernel::Gemm { b, m, k, n, a, w, out } => (kind::GEMM, &[b, m, k, n], [c(a), c(w), c(out), 0], 0),
            Kernel::GroupedGemm { groups, rows, max_rows, k, n, a, w, out } => {
                (kind::GROUPED_GEMM, &[groups, rows, max_rows, k, n], [c(a), c(w), c(out), 0], 0)
            }
            Kernel::Attention { seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v, causal, kv_shared, act, kv } => (
                kind::ATTENTION,
                &[seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v],
                [c(act), c(kv), 0, 0],
                if causal { FLAG_CAUSAL } else { 0 } | if kv_shared { FLAG_KV_SHARED } else { 0 },
            ),
            Kernel::DecodeAttention { seqs, kv_total, q_heads, kv_heads, d_qk, d_v, kv_shared, act, kv } => (
                kind::DECODE_ATTENTION,
                &[seqs, kv_total, q_heads, kv_heads, d_qk, d_v],
                [c(act), c(kv), 0, 0],
                if kv_shared { FLAG_KV_SHARED } else { 0 },
            ),
            Kernel::Softmax { m, n, dtype } => (kind::SOFTMAX, &[m, n], [c(dtype), 0, 0, 0], 0),
            Kernel::LayerNorm { m, n, dtype } => (kind::LAYERNORM, &[m, n], [c(dtype), 0, 0, 0], 0),
            Kernel::Silu { m, n, dtype } => (kind::SILU, &[m, n], [c(dtype), 0, 0, 0], 0),
            Kernel::Gelu { m, n, dtype } => (kind::GELU, &[m, n], [c(dtype), 0, 0, 0], 0),
            Kernel::Mul { m, n, dtype } => (kind::MUL, &[m, n], [c(dtype), 0, 0, 0], 0),
            Kernel::Add { m, n, dtype } => (kind::ADD, &[m, n], [c(dtype), 0, 0, 0], 0),
            Kernel::Rope { m, n, dtype } => (kind::ROPE, &[m, n], [c(dtype), 0, 0, 0], 0),
            Kernel::Embedding { tokens, hidden, dtype } => (kind::EMBEDDING, &[tokens, hidden], [c(dtype), 0, 0, 0], 0),
            Kernel::TopK { m, n, k, dtype } => (kind::TOPK, &[m, n, k], [c(dtype), 0, 0, 0], 0),
        };
        let mut op = ReallmOp::blank(code);
        op.dims[..dims.len()].copy_from_slice(dims);
        op.dtypes = dtypes;
        op.flags = flags;
        op
    }

    /// Decode a kernel. Fails on a collective or an unknown code.
    pub fn to_kernel(&self) -> Result<Kernel, PluginError> {
        let d = |i: usize| dtype_from_code(self.dtypes[i]);
        let [x0, x1, x2, x3, x4, x5, x6, _] = self.dims;
        let causal = self.flags & FLAG_CAUSAL != 0;
        let kv_shared = self.flags & FLAG_KV_SHARED != 0;
        Ok(match self.kind {
            kind::GEMM => Kernel::Gemm { b: x0, m: x1, k: x2, n: x3, a: d(0)?, w: d(1)?, out: d(2)? },
            kind::GROUPED_GEMM => Kernel::GroupedGemm { groups: x0, rows: x1, max_rows: x2, k: x3, n: x4, a: d(0)?, w: d(1)?, out: d(2)? },
            kind::ATTENTION => Kernel::Attention {
                seqs: x0,
                q_len: x1,
                kv_len: x2,
                q_heads: x3,
                kv_heads: x4,
                d_qk: x5,
                d_v: x6,
                causal,
                kv_shared,
                act: d(0)?,
                kv: d(1)?,
            },
            kind::DECODE_ATTENTION => Kernel::DecodeAttention {
                seqs: x0,
                kv_total: x1,
                q_heads: x2,
                kv_heads: x3,
                d_qk: x4,
                d_v: x5,
                kv_shared,
                act: d(0)?,
                kv: d(1)?,
            },
            kind::SOFTMAX => Kernel::Softmax { m: x0, n: x1, dtype: d(0)? },
            kind::LAYERNORM => Kernel::LayerNorm { m: x0, n: x1, dtype: d(0)? },
            kind::SILU => Kernel::Silu { m: x0, n: x1, dtype: d(0)? },
            kind::GELU => Kernel::Gelu { m: x0, n: x1, dtype: d(0)? },
            kind::MUL => Kernel::Mul { m: x0, n: x1, dtype: d(0)? },
            kind::ADD => Kernel::Add { m: x0, n: x1, dtype: d(0)? },
            kind::ROPE => Kernel::Rope { m: x0, n: x1, dtype: d(0)? },
            kind::EMBEDDING => Kernel::Embedding { tokens: x0, hidden: x1, dtype: d(0)? },
            kind::TOPK => Kernel::TopK { m: x0, n: x1, k: x2, dtype: d(0)? },
            other => return Err(PluginError::unsupported(format!("op kind {other} is not a kernel this plugin understands"))),
        })
    }

    /// Encode a collective: `dims = [bytes, ranks, scope, algo]`.
    pub fn from_collective(c: &Collective) -> ReallmOp {
        let code = match c.kind {
            CollectiveKind::AllReduce => kind::ALL_REDUCE,
            CollectiveKind::AllGather => kind::ALL_GATHER,
            CollectiveKind::ReduceScatter => kind::REDUCE_SCATTER,
            CollectiveKind::AllToAll => kind::ALL_TO_ALL,
            CollectiveKind::SendRecv => kind::SEND_RECV,
        };
        let scope = match c.scope {
            LinkScope::ScaleUp => 0,
            LinkScope::ScaleOut => 1,
        };
        let algo = match c.algo {
            CommAlgo::Auto => 0,
            CommAlgo::Ring => 1,
            CommAlgo::Ring2d => 2,
            CommAlgo::Multishot => 3,
        };
        let mut op = ReallmOp::blank(code);
        op.dims[..4].copy_from_slice(&[c.bytes, c.ranks as u64, scope, algo]);
        op.bytes = c.bytes as f64;
        op
    }

    /// Decode a collective. Fails on a kernel or an unknown code.
    pub fn to_collective(&self) -> Result<Collective, PluginError> {
        let kind = match self.kind {
            kind::ALL_REDUCE => CollectiveKind::AllReduce,
            kind::ALL_GATHER => CollectiveKind::AllGather,
            kind::REDUCE_SCATTER => CollectiveKind::ReduceScatter,
            kind::ALL_TO_ALL => CollectiveKind::AllToAll,
            kind::SEND_RECV => CollectiveKind::SendRecv,
            other => return Err(PluginError::unsupported(format!("op kind {other} is not a collective this plugin understands"))),
        };
        let ranks = u32::try_from(self.dims[1]).map_err(|_| PluginError::invalid(format!("collective over {} ranks", self.dims[1])))?;
        let scope = match self.dims[2] {
            0 => LinkScope::ScaleUp,
            1 => LinkScope::ScaleOut,
            s => return Err(PluginError::unsupported(format!("unknown link-scope code {s}"))),
        };
        let algo = match self.dims[3] {
            0 => CommAlgo::Auto,
            1 => CommAlgo::Ring,
            2 => CommAlgo::Ring2d,
            3 => CommAlgo::Multishot,
            a => return Err(PluginError::unsupported(format!("unknown collective-algorithm code {a}"))),
        };
        Ok(Collective { kind, bytes: self.dims[0], ranks, scope, algo })
    }

    /// True for the collective kind codes.
    pub fn is_collective(&self) -> bool {
        (kind::ALL_REDUCE..=kind::SEND_RECV).contains(&self.kind)
    }
}

/// The device a C backend instance is bound to (`reallm_device`): the figures most backends
/// need as plain numbers, plus the whole [`DeviceSpec`] as JSON for everything else.
/// Pointers are valid only during the `create` call that receives them.
#[repr(C)]
#[derive(Debug)]
pub struct ReallmDevice {
    /// `sizeof(reallm_device)` as the host built it (fields are only ever appended).
    pub struct_size: u32,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::core_count`.
    pub core_count: u32,
    /// NUL-terminated device name.
    pub name: *const c_char,
    /// NUL-terminated JSON of the full device description (field names as in `DeviceSpec`).
    pub json: *const c_char,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::frequency_hz`.
    pub frequency_hz: f64,
    /// Dense 16-bit matrix peak, FLOP/s.
    pub peak_matmul_flops: f64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::peak_vector_flops`.
    pub peak_vector_flops: f64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::mem_bw_bytes_per_s`.
    pub mem_bw_bytes_per_s: f64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::mem_capacity_bytes`.
    pub mem_capacity_bytes: u64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::l2_bytes`.
    pub l2_bytes: u64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::sram_bytes_per_core`.
    pub sram_bytes_per_core: u64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::fp8_multiplier`.
    pub fp8_multiplier: f64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::int8_multiplier`.
    pub int8_multiplier: f64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::fp4_multiplier`.
    pub fp4_multiplier: f64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::fp32_multiplier`.
    pub fp32_multiplier: f64,
    /// One scale-up link, one direction, bytes/s.
    pub link_bw_per_direction_bytes_per_s: f64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::link_latency_s`.
    pub link_latency_s: f64,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::link_count`.
    pub link_count: u32,
    /// See [`DeviceSpec`](crate::DeviceSpec)`::devices_per_node`.
    pub devices_per_node: u32,
    /// See `ScaleOut::bw_per_device_bytes_per_s`.
    pub scale_out_bw_per_device_bytes_per_s: f64,
    /// See `ScaleOut::latency_s`.
    pub scale_out_latency_s: f64,
}

/// A [`ReallmDevice`] together with the strings it points into (keep it alive while the
/// pointers are used).
pub struct OwnedReallmDevice {
    _name: CString,
    _json: CString,
    device: ReallmDevice,
}

impl OwnedReallmDevice {
    /// Build the C view of `d`.
    pub fn new(d: &DeviceSpec) -> Result<OwnedReallmDevice, PluginError> {
        let name = CString::new(d.name.clone()).map_err(|_| PluginError::invalid("device name contains a NUL byte"))?;
        let json_text = serde_json::to_string(d).map_err(|e| PluginError::invalid(format!("device does not serialise: {e}")))?;
        let json = CString::new(json_text).map_err(|_| PluginError::invalid("device JSON contains a NUL byte"))?;
        let device = ReallmDevice {
            struct_size: std::mem::size_of::<ReallmDevice>() as u32,
            core_count: d.core_count,
            name: name.as_ptr(),
            json: json.as_ptr(),
            frequency_hz: d.frequency_hz,
            peak_matmul_flops: d.peak_matmul_flops,
            peak_vector_flops: d.peak_vector_flops,
            mem_bw_bytes_per_s: d.mem_bw_bytes_per_s,
            mem_capacity_bytes: d.mem_capacity_bytes,
            l2_bytes: d.l2_bytes,
            sram_bytes_per_core: d.sram_bytes_per_core,
            fp8_multiplier: d.fp8_multiplier,
            int8_multiplier: d.int8_multiplier,
            fp4_multiplier: d.fp4_multiplier,
            fp32_multiplier: d.fp32_multiplier,
            link_bw_per_direction_bytes_per_s: d.interconnect.link_bw_per_direction_bytes_per_s,
            link_latency_s: d.interconnect.link_latency_s,
            link_count: d.interconnect.link_count,
            devices_per_node: d.interconnect.devices_per_node,
            scale_out_bw_per_device_bytes_per_s: d.scale_out.bw_per_device_bytes_per_s,
            scale_out_latency_s: d.scale_out.latency_s,
        };
        // Moving the CStrings into the struct does not move their heap buffers.
        Ok(OwnedReallmDevice { _name: name, _json: json, device })
    }

    /// The C view.
    pub fn as_ptr(&self) -> *const ReallmDevice {
        &self.device
    }
}

/// One backend of a C library (`reallm_backend_desc`). Strings are NUL-terminated and live
/// as long as the library.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ReallmBackendDesc {
    /// `sizeof(reallm_backend_desc)` as the library built it.
    pub struct_size: u32,
    /// Zero; room for flags.
    pub reserved: u32,
    /// NUL-terminated plugin name.
    pub name: *const c_char,
    /// NUL-terminated version.
    pub version: *const c_char,
    /// NUL-terminated one-line summary.
    pub summary: *const c_char,
    /// NUL-terminated example parameters (YAML).
    pub example_params: *const c_char,
    /// New instance for a device; parameters as a JSON object. NULL on error, with a message.
    pub create: Option<
        unsafe extern "C" fn(params_json: *const c_char, device: *const ReallmDevice, err: *mut c_char, err_cap: usize) -> *mut c_void,
    >,
    /// `out_s[i]` = seconds of `ops[i]`; 0 or an error code (`C_ERR_*`), with a message.
    pub cost: Option<
        unsafe extern "C" fn(
            instance: *mut c_void,
            ops: *const ReallmOp,
            n_ops: usize,
            out_s: *mut f64,
            err: *mut c_char,
            err_cap: usize,
        ) -> i32,
    >,
    /// Release an instance (may be absent).
    pub destroy: Option<unsafe extern "C" fn(instance: *mut c_void)>,
}

/// `REALLM_ERR_UNSUPPORTED`.
pub const C_ERR_UNSUPPORTED: i32 = 1;
/// `REALLM_ERR_INVALID`.
pub const C_ERR_INVALID: i32 = 2;

/// Signature of `reallm_backend_abi_version`.
pub type CAbiVersionFn = unsafe extern "C" fn() -> u32;
/// Signature of `reallm_backend_list`.
pub type CBackendListFn = unsafe extern "C" fn(count: *mut usize) -> *const ReallmBackendDesc;
/// Exported symbol names of the C ABI (NUL-terminated).
pub const C_SYMBOL_VERSION: &[u8] = b"reallm_backend_abi_version\0";
/// See [`C_SYMBOL_VERSION`].
pub const C_SYMBOL_LIST: &[u8] = b"reallm_backend_list\0";

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kernels() -> Vec<Kernel> {
        use DType::*;
        vec![
            Kernel::Gemm { b: 2, m: 3, k: 5, n: 7, a: Bf16, w: F8, out: F32 },
            Kernel::GroupedGemm { groups: 8, rows: 100, max_rows: 30, k: 64, n: 32, a: Bf16, w: F4, out: Bf16 },
            Kernel::Attention {
                seqs: 2,
                q_len: 16,
                kv_len: 48,
                q_heads: 32,
                kv_heads: 8,
                d_qk: 192,
                d_v: 128,
                causal: true,
                kv_shared: true,
                act: Bf16,
                kv: F8,
            },
            Kernel::Attention {
                seqs: 1,
                q_len: 1,
                kv_len: 1,
                q_heads: 1,
                kv_heads: 1,
                d_qk: 1,
                d_v: 1,
                causal: false,
                kv_shared: false,
                act: F16,
                kv: F16,
            },
            Kernel::DecodeAttention {
                seqs: 9,
                kv_total: 9000,
                q_heads: 64,
                kv_heads: 8,
                d_qk: 128,
                d_v: 128,
                kv_shared: false,
                act: Bf16,
                kv: I8,
            },
            Kernel::Softmax { m: 3, n: 4, dtype: F32 },
            Kernel::LayerNorm { m: 3, n: 4, dtype: Bf16 },
            Kernel::Silu { m: 3, n: 4, dtype: F16 },
            Kernel::Gelu { m: 3, n: 4, dtype: F8 },
            Kernel::Mul { m: 3, n: 4, dtype: I8 },
            Kernel::Add { m: 3, n: 4, dtype: F4 },
            Kernel::Rope { m: 3, n: 4, dtype: Bf16 },
            Kernel::Embedding { tokens: 10, hidden: 4096, dtype: Bf16 },
            Kernel::TopK { m: 10, n: 256, k: 8, dtype: F32 },
        ]
    }

    #[test]
    fn layout_matches_the_c_header() {
        // reallm_backend.h: 4 × u32-sized fields (16 bytes) + 8 × u64 (64) + 2 × f64 (16) = 96.
        assert_eq!(std::mem::size_of::<ReallmOp>(), 96);
        assert_eq!(std::mem::align_of::<ReallmOp>(), 8);
        // reallm_device: 2 × u32 + 2 pointers (24) + 4 f64 (32) + 3 u64 (24) + 6 f64 (48)
        // + 2 × u32 (8) + 2 f64 (16) = 152 on a 64-bit target.
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<ReallmDevice>(), 152);
        // reallm_backend_desc: 2 × u32 + 4 strings + 3 function pointers = 8 + 56 = 64.
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<ReallmBackendDesc>(), 64);
    }

    #[test]
    fn every_dtype_code_round_trips() {
        use DType::*;
        let all = [F32, Bf16, F16, F8, I8, F4, Mxfp4, Nvfp4];
        // The codes of reallm_backend.h, REALLM_DTYPE_F32 = 0 .. REALLM_DTYPE_NVFP4 = 7.
        for (code, d) in all.into_iter().enumerate() {
            assert_eq!(dtype_code(d), code as u8);
            assert_eq!(dtype_from_code(code as u8).unwrap(), d);
        }
        assert!(dtype_from_code(8).is_err());
    }

    #[test]
    fn every_kernel_round_trips() {
        for k in all_kernels() {
            let op = ReallmOp::from_kernel(&k);
            assert!(!op.is_collective());
            assert_eq!(op.to_kernel().unwrap(), k);
            assert_eq!(op.flops.to_bits(), k.flops().to_bits());
            assert_eq!(op.bytes.to_bits(), k.bytes().to_bits());
            assert!(op.to_collective().is_err());
        }
        // Gemm [3,5]x[5,7], b = 2: FLOPs 2·2·3·5·7 = 420.
        assert_eq!(ReallmOp::from_kernel(&all_kernels()[0]).flops, 420.0);
    }

    #[test]
    fn every_collective_round_trips() {
        for kind in [
            CollectiveKind::AllReduce,
            CollectiveKind::AllGather,
            CollectiveKind::ReduceScatter,
            CollectiveKind::AllToAll,
            CollectiveKind::SendRecv,
        ] {
            for scope in [LinkScope::ScaleUp, LinkScope::ScaleOut] {
                for algo in [CommAlgo::Auto, CommAlgo::Ring, CommAlgo::Ring2d, CommAlgo::Multishot] {
                    let c = Collective { kind, bytes: 1 << 40, ranks: 72, scope, algo };
                    let op = ReallmOp::from_collective(&c);
                    assert!(op.is_collective());
                    assert_eq!(op.to_collective().unwrap(), c);
                    assert!(op.to_kernel().is_err());
                }
            }
        }
    }

    #[test]
    fn bad_codes_are_errors() {
        let mut op = ReallmOp::from_kernel(&all_kernels()[0]);
        op.dtypes[1] = 99;
        assert!(matches!(op.to_kernel(), Err(PluginError::Unsupported(m)) if m.contains("99")));
        op.kind = 1000;
        assert!(op.to_kernel().is_err());
        let mut c = ReallmOp::from_collective(&Collective {
            kind: CollectiveKind::AllReduce,
            bytes: 8,
            ranks: 2,
            scope: LinkScope::ScaleUp,
            algo: CommAlgo::Auto,
        });
        c.dims[3] = 7;
        assert!(c.to_collective().is_err());
        c.dims[3] = 0;
        c.dims[1] = u64::MAX;
        assert!(c.to_collective().is_err());
    }
}
