"""Standalone SCALE-Sim batch runner (no accel import) for the device machine."""
import contextlib, csv, io, os, sys, time, tempfile, itertools, math
from multiprocessing import Pool
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CFG = """[general]
run_name = r
[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ikb}
FilterSramSzkB: {fkb}
OfmapSramSzkB: {okb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : {bw}
Dataflow : {df}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512
[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2
[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40
[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""

def rows_of(path):
    out = []
    with open(path) as f:
        for i, row in enumerate(csv.reader(f)):
            if i == 0: continue
            c = [x.strip() for x in row if x.strip() != ""]
            if c: out.append(c)
    return out

def job(args):
    topo, gemm, row, rows, cols, df, mode, bw, ikb, fkb, okb = args
    from scalesim.scale_sim import scalesim
    with tempfile.TemporaryDirectory() as wd:
        tp = os.path.join(wd, "t.csv"); lp = os.path.join(wd, "l.csv"); cp = os.path.join(wd, "c.cfg")
        hdr = "Layer, M, N, K,\n" if gemm else "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        open(tp, "w").write(hdr + ",".join(row) + ",\n")
        open(lp, "w").write("Layer name, x,\n")
        open(cp, "w").write(CFG.format(rows=rows, cols=cols, ikb=ikb, fkb=fkb, okb=okb, bw=bw, df=df, mode=mode))
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            s = scalesim(save_disk_space=True, verbose=False, config=cp, topology=tp, layout=lp, input_type_gemm=gemm)
            s.run_scale(top_path=os.path.join(wd, "o"))
        dt = time.perf_counter() - t0
        c = rows_of(os.path.join(wd, "o", "r", "COMPUTE_REPORT.csv"))[0]
        d = rows_of(os.path.join(wd, "o", "r", "DETAILED_ACCESS_REPORT.csv"))[0]
    return dict(topology=topo, layer=row[0], gemm=int(gemm), rows=rows, cols=cols, dataflow=df, mode=mode, bandwidth=bw,
                ifmap_kb=ikb, filter_kb=fkb, ofmap_kb=okb,
                total_cycles_incl_prefetch=c[1], total_cycles=c[2], stall_cycles=c[3], overall_util=c[4],
                mapping_efficiency=c[5], compute_util=c[6], sram_ifmap_reads=d[3], sram_filter_reads=d[6],
                sram_ofmap_writes=d[9], dram_ifmap_reads=d[12], dram_filter_reads=d[15], dram_ofmap_writes=d[18],
                seconds=round(dt, 3))

if __name__ == "__main__":
    out, procs = sys.argv[1], int(sys.argv[2])
    modes = sys.argv[3].split(",")
    arrays = [int(a) for a in sys.argv[4].split(",")]
    topos = sys.argv[5].split(",")
    bw = int(sys.argv[6]) if len(sys.argv) > 6 else 10
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    jobs = []
    for topo in topos:
        gemm = topo == "gemm"
        for row in rows_of(os.path.join(here, f"topo_{topo}.csv")):
            for a, df, mode in itertools.product(arrays, ["os", "ws", "is"], modes):
                jobs.append((topo, gemm, row, a, a, df, mode, bw, 64, 64, 64))
    def cost(j):
        topo, gemm, row, a = j[:4]
        v = [int(x) for x in row[1:]]
        if gemm:
            m, n, k = v[:3]; return m*n*k/a
        h, w, r, s_, c, k, st = v[:7]
        return ((h-r)//st+1)*((w-s_)//st+1)*r*s_*c*k/a
    jobs.sort(key=cost, reverse=True)
    done = set()
    for dpath in sys.argv[7:]:
        with open(dpath) as f:
            for d in csv.DictReader(f):
                done.add((d["topology"], d["layer"], int(d["rows"]), d["dataflow"], d["mode"]))
    jobs = [j for j in jobs if (j[0], j[2][0], j[3], j[5], j[6]) not in done]
    print("jobs", len(jobs), flush=True)
    t0 = time.time()
    res = []
    with Pool(procs) as p:
        for r in p.imap_unordered(job, jobs):
            res.append(r)
            print(len(res), "/", len(jobs), r["topology"], r["layer"], r["rows"], r["dataflow"], r["mode"], r["total_cycles"], r["stall_cycles"], r["seconds"], round(time.time()-t0), flush=True)
            with open(out, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(res[0])); w.writeheader(); w.writerows(res)
