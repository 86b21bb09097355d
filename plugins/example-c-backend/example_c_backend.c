/*
 * example_c_backend.c — a ReaLLM kernel backend written in C (see docs/plugins.md).
 *
 * Backend `c-roofline`: an ideal roofline with one efficiency knob, standing in for a wrapper
 * around an existing C/C++ hardware simulator. For kernel i:
 *
 *     compute_s = flops / (peak(dtype) * efficiency)   peak: matrix peak for GEMM/attention
 *                                                       (times the device's multiplier for
 *                                                       the wider operand type), else vector
 *     memory_s  = bytes / mem_bw_bytes_per_s
 *     time_s    = max(compute_s, memory_s) + launch_overhead_s
 *
 * Collectives: ring all-reduce only, 2(p-1) * link_latency + 2(p-1)/p * bytes / (link_bw *
 * link_count); other collectives return REALLM_ERR_UNSUPPORTED.
 *
 * Build:  cc -shared -fPIC -O2 -I plugin-api/include example_c_backend.c -o libc_roofline.so
 *
 * Parameters (JSON object, both optional): {"efficiency": 0.5, "launch_overhead_s": 1e-6}.
 * The tiny parser below only looks for those keys; a real wrapper would use a JSON library.
 */
#include "reallm_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct c_roofline {
    double peak_matmul_flops, peak_vector_flops, mem_bw;
    double mult[8]; /* per REALLM_DTYPE_*: matrix peak multiplier */
    double link_bw, link_latency_s;
    double efficiency, launch_overhead_s;
} c_roofline;

static void set_err(char *err, size_t cap, const char *msg) {
    if (err && cap > 0) {
        snprintf(err, cap, "%s", msg);
    }
}

/* Value of "key": <number> in a flat JSON object, or `fallback`. */
static double json_number(const char *json, const char *key, double fallback) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *p = strstr(json, pattern);
    if (!p) return fallback;
    p = strchr(p + strlen(pattern), ':');
    if (!p) return fallback;
    return strtod(p + 1, NULL);
}

static void *create(const char *params_json, const reallm_device *dev, char *err, size_t err_cap) {
    if (dev->struct_size < sizeof(reallm_device)) {
        set_err(err, err_cap, "host's reallm_device is older than this backend's header");
        return NULL;
    }
    double efficiency = json_number(params_json, "efficiency", 1.0);
    if (!(efficiency > 0.0 && efficiency <= 1.0)) {
        set_err(err, err_cap, "efficiency must be in (0, 1]");
        return NULL;
    }
    c_roofline *r = calloc(1, sizeof *r);
    if (!r) {
        set_err(err, err_cap, "out of memory");
        return NULL;
    }
    r->peak_matmul_flops = dev->peak_matmul_flops;
    r->peak_vector_flops = dev->peak_vector_flops;
    r->mem_bw = dev->mem_bw_bytes_per_s;
    double m[8] = {dev->fp32_multiplier, 1.0, 1.0, dev->fp8_multiplier, dev->int8_multiplier,
                   dev->fp4_multiplier, dev->fp4_multiplier, dev->fp4_multiplier};
    for (int i = 0; i < 8; i++) r->mult[i] = m[i] > 0.0 ? m[i] : 1.0;
    r->link_bw = dev->link_bw_per_direction_bytes_per_s * dev->link_count;
    r->link_latency_s = dev->link_latency_s;
    r->efficiency = efficiency;
    r->launch_overhead_s = json_number(params_json, "launch_overhead_s", 0.0);
    return r;
}

static unsigned bits(uint8_t dtype) {
    static const unsigned b[8] = {32, 16, 16, 8, 8, 4, 4, 4};
    return dtype < 8 ? b[dtype] : 16;
}

static int32_t cost(void *instance, const reallm_op *ops, size_t n, double *out_s, char *err, size_t err_cap) {
    const c_roofline *r = instance;
    for (size_t i = 0; i < n; i++) {
        const reallm_op *op = &ops[i];
        if (op->kind >= REALLM_OP_ALL_REDUCE) {
            if (op->kind != REALLM_OP_ALL_REDUCE) {
                set_err(err, err_cap, "c-roofline models only all-reduce");
                return REALLM_ERR_UNSUPPORTED;
            }
            double p = (double)op->dims[1];
            out_s[i] = p <= 1.0 ? 0.0 : 2.0 * (p - 1.0) * r->link_latency_s + 2.0 * (p - 1.0) / p * (double)op->dims[0] / r->link_bw;
            continue;
        }
        if (op->kind < REALLM_OP_GEMM || op->kind > REALLM_OP_TOPK) {
            set_err(err, err_cap, "unknown op kind");
            return REALLM_ERR_UNSUPPORTED;
        }
        for (int d = 0; d < 4; d++) {
            if (op->dtypes[d] > REALLM_DTYPE_NVFP4) {
                set_err(err, err_cap, "unknown data type");
                return REALLM_ERR_INVALID;
            }
        }
        double peak;
        if (op->kind <= REALLM_OP_DECODE_ATTENTION) {
            uint8_t wide = bits(op->dtypes[0]) >= bits(op->dtypes[1]) ? op->dtypes[0] : op->dtypes[1];
            peak = r->peak_matmul_flops * r->mult[wide];
        } else {
            peak = r->peak_vector_flops;
        }
        double compute_s = op->flops / (peak * r->efficiency);
        double memory_s = op->bytes / r->mem_bw;
        out_s[i] = (compute_s > memory_s ? compute_s : memory_s) + r->launch_overhead_s;
    }
    return REALLM_OK;
}

static void destroy(void *instance) { free(instance); }

static const reallm_backend_desc BACKENDS[] = {{
    .struct_size = sizeof(reallm_backend_desc),
    .name = "c-roofline",
    .version = "0.1.0",
    .summary = "ideal roofline written in C (example of the C ABI)",
    .example_params = "efficiency: 0.5\nlaunch_overhead_s: 1.0e-6\n",
    .create = create,
    .cost = cost,
    .destroy = destroy,
}};

uint32_t reallm_backend_abi_version(void) { return REALLM_BACKEND_ABI_VERSION; }

const reallm_backend_desc *reallm_backend_list(size_t *count) {
    *count = sizeof BACKENDS / sizeof BACKENDS[0];
    return BACKENDS;
}
