#!/usr/bin/env python3
"""Startup time and idle memory of `palisade serve` on the embedded default.

For each run: a fresh data dir (so the SQLite file is created and migrated and an operator key is
generated), time from exec to the "palisade ready" line, then to the first 200 from /healthz;
then VmRSS after 2 s idle and after 200 authenticated requests. Prints medians.
Usage: scripts/bench-startup.py [path/to/palisade] [runs]
"""
import json, os, statistics, subprocess, sys, tempfile, time, urllib.request

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/palisade"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
binary = os.path.abspath(binary)

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

ready, healthy, idle, loaded = [], [], [], []
for _ in range(runs):
    d = tempfile.mkdtemp(prefix="palisade_bench_")
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0"], cwd=d,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    ready.append(time.perf_counter() - t0)
    url = next(w for w in line.split() if w.startswith("http://"))
    while True:
        try:
            if urllib.request.urlopen(url + "/healthz").status == 200:
                break
        except OSError:
            pass
    healthy.append(time.perf_counter() - t0)
    time.sleep(2)
    idle.append(rss_kib(p.pid))
    key = open(os.path.join(d, "palisade-data/operator.key")).read().strip()
    for _ in range(200):
        req = urllib.request.Request(url + "/v1/tenants?limit=10", headers={"Authorization": "Bearer " + key})
        urllib.request.urlopen(req).read()
    loaded.append(rss_kib(p.pid))
    p.terminate(); p.wait()

med = statistics.median
print(json.dumps({
    "runs": runs,
    "ready_line_ms_median": round(med(ready) * 1e3, 1), "ready_line_ms_max": round(max(ready) * 1e3, 1),
    "first_healthz_ms_median": round(med(healthy) * 1e3, 1),
    "idle_rss_mib_median": round(med(idle) / 1024, 1), "idle_rss_mib_max": round(max(idle) / 1024, 1),
    "rss_after_200_requests_mib_median": round(med(loaded) / 1024, 1),
}, indent=1))
