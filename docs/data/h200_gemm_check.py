# Independent check of AIConfigurator's H200 GEMM table on a real H200 (PyTorch + cuBLAS).
# Run on an H200: python3 docs/data/h200_gemm_check.py OUT.json  (this is the script that wrote
# h200_gemm_check.json: bf16 linear and FP8 _scaled_mm on pre-quantised operands; each shape's
# time is a CUDA graph of 20 launches, median of 7 replays, divided by 20).
import json,sys,torch
d=torch.cuda.get_device_properties(0)
S=[(m,n,k) for m in (1,16,64,256,1024,4096) for (n,k) in ((8192,1024),(7168,8192),(8192,3584))]
def T(f,r=20):
  for _ in range(3):f()
  torch.cuda.synchronize();g=torch.cuda.CUDAGraph()
  with torch.cuda.graph(g):
    for _ in range(r):f()
  g.replay();torch.cuda.synchronize();t=[]
  for _ in range(7):
    s=torch.cuda.Event(enable_timing=True);e=torch.cuda.Event(enable_timing=True);s.record();g.replay();e.record();e.synchronize();t.append(s.elapsed_time(e)*1e3/r)
  t.sort();return t[3]
R=[]
for m,n,k in S:
  a=torch.randn(m,k,device='cuda',dtype=torch.bfloat16);w=torch.randn(n,k,device='cuda',dtype=torch.bfloat16)
  R.append(dict(dtype='bfloat16',m=m,n=n,k=k,us=T(lambda:torch.nn.functional.linear(a,w))))
  w8=w.to(torch.float8_e4m3fn);a8=a.to(torch.float8_e4m3fn);o=torch.ones((),device='cuda')
  try:
    R.append(dict(dtype='fp8',m=m,n=n,k=k,us=T(lambda:torch._scaled_mm(a8,w8.t(),o,o,out_dtype=torch.bfloat16))))
  except Exception as e:R.append(dict(dtype='fp8',m=m,n=n,k=k,error=str(e)[:200]))
json.dump(dict(device=d.name,total_memory_bytes=d.total_memory,sms=d.multi_processor_count,torch=torch.__version__,method='CUDA graph of 20 launches, median of 7 replays',rows=R),open(sys.argv[1],'w'),indent=1)
print(d.name,len(R))
