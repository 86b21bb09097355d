"""Measure kernel latencies on the local GPU with PyTorch, for a held-out check of ReaLLM's
kernel backends (docs/validation.md, "Measured on an H200 by this project").

Writes CSV rows: op,dtype,shape,latency_s,tflops,notes. Shapes follow `reallm kernel-time`:
matmul M,K,N; flash_attention SEQS,Q,KV,HEADS,KV_HEADS,HEAD_DIM (causal); decode_attention
SEQS,KV_TOTAL,HEADS,KV_HEADS,HEAD_DIM (KV_TOTAL = SEQS x context). Each latency is the median
of CUDA-event timings of repeated launches after warm-up.

Run: python3 tools/gpu/measure_kernels.py OUT.csv
"""
import csv
import statistics
import sys

import torch
import torch.nn.functional as F


def timed(fn, min_total_s=0.02, reps_max=200):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    one = max(start.elapsed_time(end) / 1e3, 1e-6)
    reps = int(min(reps_max, max(5, min_total_s / one)))
    samples = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / 1e3)
    return statistics.median(samples)


def main(out):
    dev = torch.device("cuda")
    rows = []
    name = torch.cuda.get_device_name(0)
    # Llama-3.1-70B GEMMs at TP1/TP8 (QKV, O, gate+up, down) and square shapes, across token counts.
    kn = [(8192, 10240), (8192, 8192), (8192, 57344), (28672, 8192), (8192, 1280), (1024, 8192), (8192, 7168), (3584, 8192), (4096, 4096)]
    ms = [1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
    for k, n in kn:
        for m in ms:
            a = torch.randn(m, k, device=dev, dtype=torch.bfloat16)
            b = torch.randn(k, n, device=dev, dtype=torch.bfloat16)
            t = timed(lambda: a @ b)
            rows.append(("matmul", "bf16", f"{m},{k},{n}", t, 2 * m * k * n / t / 1e12, ""))
            try:
                a8 = a.to(torch.float8_e4m3fn)
                b8 = b.t().contiguous().to(torch.float8_e4m3fn).t()
                one = torch.ones((), device=dev, dtype=torch.float32)
                t8 = timed(lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
                rows.append(("matmul", "fp8", f"{m},{k},{n}", t8, 2 * m * k * n / t8 / 1e12, "per-tensor scales, torch._scaled_mm"))
            except Exception as e:  # noqa: BLE001
                rows.append(("matmul", "fp8", f"{m},{k},{n}", "", "", f"failed: {e}"))
            del a, b
    # Prefill attention (causal), 64 query heads / 8 KV heads (GQA), head dim 128.
    for heads, kv_heads in [(64, 8), (8, 1)]:
        for seqs, q in [(1, 512), (1, 1024), (1, 2048), (1, 4096), (1, 8192), (4, 2048), (8, 1024)]:
            qq = torch.randn(seqs, heads, q, 128, device=dev, dtype=torch.bfloat16)
            kk = torch.randn(seqs, kv_heads, q, 128, device=dev, dtype=torch.bfloat16)
            vv = torch.randn(seqs, kv_heads, q, 128, device=dev, dtype=torch.bfloat16)
            t = timed(lambda: F.scaled_dot_product_attention(qq, kk, vv, is_causal=True, enable_gqa=True))
            flops = 4 * seqs * heads * 128 * q * (q + 1) / 2
            rows.append(("flash_attention", "bf16", f"{seqs},{q},{q},{heads},{kv_heads},128", t, flops / t / 1e12, "SDPA causal"))
    # Decode attention: one query per sequence over its context.
    for heads, kv_heads in [(64, 8), (8, 1)]:
        for seqs, ctx in [(1, 1024), (1, 8192), (8, 2048), (32, 2048), (64, 4096), (128, 1024), (256, 2048)]:
            qq = torch.randn(seqs, heads, 1, 128, device=dev, dtype=torch.bfloat16)
            kk = torch.randn(seqs, kv_heads, ctx, 128, device=dev, dtype=torch.bfloat16)
            vv = torch.randn(seqs, kv_heads, ctx, 128, device=dev, dtype=torch.bfloat16)
            t = timed(lambda: F.scaled_dot_product_attention(qq, kk, vv, enable_gqa=True))
            bytes_ = 2 * seqs * kv_heads * ctx * 128 * 2
            rows.append(("decode_attention", "bf16", f"{seqs},{seqs * ctx},{heads},{kv_heads},128", t, bytes_ / t / 1e12, "SDPA, TB/s of KV read in tflops column"))
    # Element-wise / norm kernels.
    for m in [1, 64, 1024, 8192]:
        x = torch.randn(m, 8192, device=dev, dtype=torch.bfloat16)
        w = torch.randn(8192, device=dev, dtype=torch.bfloat16)
        t = timed(lambda: F.rms_norm(x, (8192,), w))
        rows.append(("layernorm", "bf16", f"{m},8192", t, "", "rms_norm"))
        y = torch.randn(m, 28672, device=dev, dtype=torch.bfloat16)
        t = timed(lambda: F.silu(y))
        rows.append(("silu", "bf16", f"{m},28672", t, "", ""))
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["device", "op", "dtype", "shape", "latency_s", "tflops", "notes"])
        for r in rows:
            w.writerow([name, *r])
    print(f"{len(rows)} rows on {name} -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
