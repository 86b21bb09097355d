/*
 * reallm_backend.h — the C ABI for ReaLLM kernel backends.
 *
 * A C or C++ shared library that exports the two functions at the bottom of this file is a
 * ReaLLM kernel backend: put it in a plugin directory and select it with
 * `backend: <name>` (see docs/plugins.md). This lets a team wrap an existing hardware
 * simulator without writing Rust.
 *
 * Contract
 *  - Version: `reallm_backend_abi_version()` must return REALLM_BACKEND_ABI_VERSION as this
 *    header defines it; the host refuses a library that returns another value. Structs are
 *    only ever extended at the end within one ABI version, and carry their size first.
 *  - The host loads the library once and never unloads it. Loading runs the library's
 *    constructors: plugin directories are trusted code.
 *  - `cost` is called with a batch of ops (usually every new kernel shape of one simulation
 *    step; the host caches results by shape). It must fill `out_s[i]` with the seconds op i
 *    takes on the device the instance was created for, and be a pure function of its inputs.
 *    The host never calls `cost` on one instance from two threads at once.
 *  - Errors: return a non-zero code and write a NUL-terminated, one-line message into `err`
 *    (at most `err_cap` bytes including the NUL). Codes: REALLM_ERR_UNSUPPORTED for an op kind
 *    the backend does not model, REALLM_ERR_INVALID for anything else. `create` returns NULL
 *    on error. Never let a C++ exception or a longjmp cross these functions.
 *  - Strings the host passes are valid only during the call.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef REALLM_BACKEND_H
#define REALLM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REALLM_BACKEND_ABI_VERSION 1u

/* ---- op kinds (reallm_op.kind) ---- */
#define REALLM_OP_GEMM             1u  /* dims: b, m, k, n;           dtypes: a, w, out      */
#define REALLM_OP_GROUPED_GEMM     2u  /* dims: groups, rows, max_rows, k, n; dtypes: a, w, out */
#define REALLM_OP_ATTENTION        3u  /* dims: seqs, q_len, kv_len, q_heads, kv_heads, d_qk, d_v;
                                          dtypes: act, kv; flags: CAUSAL, KV_SHARED          */
#define REALLM_OP_DECODE_ATTENTION 4u  /* dims: seqs, kv_total, q_heads, kv_heads, d_qk, d_v;
                                          dtypes: act, kv; flags: KV_SHARED                  */
#define REALLM_OP_SOFTMAX          5u  /* dims: m, n; dtypes: dtype (same for the next six)   */
#define REALLM_OP_LAYERNORM        6u
#define REALLM_OP_SILU             7u
#define REALLM_OP_GELU             8u
#define REALLM_OP_MUL              9u
#define REALLM_OP_ADD             10u
#define REALLM_OP_ROPE            11u
#define REALLM_OP_EMBEDDING       12u  /* dims: tokens, hidden; dtypes: dtype                 */
#define REALLM_OP_TOPK            13u  /* dims: m (tokens), n (experts), k; dtypes: dtype     */
/* Collectives: dims: bytes, ranks, scope (REALLM_SCOPE_*), algo (REALLM_ALGO_*).
   `bytes` is the full tensor each rank holds (all-reduce buffer, all-gather output,
   reduce-scatter input, all-to-all total sent, send/recv message). */
#define REALLM_OP_ALL_REDUCE      64u
#define REALLM_OP_ALL_GATHER      65u
#define REALLM_OP_REDUCE_SCATTER  66u
#define REALLM_OP_ALL_TO_ALL      67u
#define REALLM_OP_SEND_RECV       68u

/* ---- flags (reallm_op.flags) ---- */
#define REALLM_FLAG_CAUSAL    1u  /* causal mask: query i of the chunk sees kv_len - q_len + i + 1 keys */
#define REALLM_FLAG_KV_SHARED 2u  /* V read from the K cache entries (multi-head latent attention)   */

/* ---- data types (reallm_op.dtypes[i]) ---- */
#define REALLM_DTYPE_F32  0u
#define REALLM_DTYPE_BF16 1u
#define REALLM_DTYPE_F16  2u
#define REALLM_DTYPE_F8   3u
#define REALLM_DTYPE_I8   4u
#define REALLM_DTYPE_F4   5u
#define REALLM_DTYPE_MXFP4 6u  /* 4-bit E2M1, one E8M0 scale per 32 elements (4.25 bits/element) */
#define REALLM_DTYPE_NVFP4 7u  /* 4-bit E2M1, one E4M3 scale per 16 elements (4.5 bits/element)  */

#define REALLM_SCOPE_SCALE_UP  0u  /* within a node (NVLink class) */
#define REALLM_SCOPE_SCALE_OUT 1u  /* across nodes                 */
#define REALLM_ALGO_AUTO      0u
#define REALLM_ALGO_RING      1u
#define REALLM_ALGO_RING_2D   2u
#define REALLM_ALGO_MULTISHOT 3u

/* ---- return codes of cost ---- */
#define REALLM_OK              0
#define REALLM_ERR_UNSUPPORTED 1
#define REALLM_ERR_INVALID     2

/* One kernel launch or collective on one device (96 bytes). Unused dims/dtypes are 0. */
typedef struct reallm_op {
    uint32_t kind;       /* REALLM_OP_*                                                      */
    uint8_t  dtypes[4];  /* REALLM_DTYPE_*                                                   */
    uint32_t flags;      /* REALLM_FLAG_*                                                    */
    uint32_t reserved;   /* 0                                                                */
    uint64_t dims[8];    /* shape, per kind (see above)                                      */
    double   flops;      /* canonical FLOPs (multiply and add counted separately); 0 for collectives */
    double   bytes;      /* canonical DRAM bytes (each operand read once, result written once);
                            message bytes for collectives                                    */
} reallm_op;

/* The device an instance is bound to. SI units. */
typedef struct reallm_device {
    uint32_t struct_size;                 /* sizeof(reallm_device) as the host built it  */
    uint32_t core_count;
    const char *name;                     /* e.g. "H100-SXM5-80GB"                        */
    const char *json;                     /* the full device description, JSON           */
    double   frequency_hz;
    double   peak_matmul_flops;           /* dense 16-bit matrix peak, FLOP/s            */
    double   peak_vector_flops;           /* FLOP/s                                      */
    double   mem_bw_bytes_per_s;          /* DRAM                                        */
    uint64_t mem_capacity_bytes;
    uint64_t l2_bytes;
    uint64_t sram_bytes_per_core;
    double   fp8_multiplier;              /* matrix peak multipliers vs 16-bit (0: unsupported) */
    double   int8_multiplier;
    double   fp4_multiplier;
    double   fp32_multiplier;
    double   link_bw_per_direction_bytes_per_s;  /* one scale-up link */
    double   link_latency_s;
    uint32_t link_count;
    uint32_t devices_per_node;
    double   scale_out_bw_per_device_bytes_per_s;
    double   scale_out_latency_s;
} reallm_device;

/* One backend a library provides. */
typedef struct reallm_backend_desc {
    uint32_t struct_size;        /* sizeof(reallm_backend_desc)                              */
    uint32_t reserved;           /* 0                                                        */
    const char *name;            /* selects it: `backend: <name>`; [a-z0-9_-]                */
    const char *version;         /* the backend's own version, e.g. "0.1.0"                  */
    const char *summary;         /* one line                                                 */
    const char *example_params;  /* YAML example of its parameters (may be "")               */
    /* New instance for `device`, parameters as a JSON object ("{}" when none). NULL on error. */
    void *(*create)(const char *params_json, const reallm_device *device, char *err, size_t err_cap);
    /* out_s[i] = seconds of ops[i], i < n_ops. REALLM_OK or an error code. */
    int32_t (*cost)(void *instance, const reallm_op *ops, size_t n_ops, double *out_s, char *err, size_t err_cap);
    /* Release an instance (may be NULL if instances hold nothing). */
    void (*destroy)(void *instance);
} reallm_backend_desc;

/* Exported by the library: the ABI version it was built against (REALLM_BACKEND_ABI_VERSION). */
uint32_t reallm_backend_abi_version(void);

/* Exported by the library: its backends, `*count` of them. The array must live as long as
   the library. */
const reallm_backend_desc *reallm_backend_list(size_t *count);

#ifdef __cplusplus
}
#endif

#endif /* REALLM_BACKEND_H */
