"""Driver for bench/scan.sh: generates the large benign set, times the tools,
and counts detections on the labelled fixtures. Prints a Markdown summary."""
import argparse
import io
import json
import os
import pickle
import statistics
import struct
import subprocess
import sys
import time
import zipfile

import numpy as np
from sklearn.linear_model import LogisticRegression


def make_large(work):
    big = os.path.join(work, "large")
    os.makedirs(big, exist_ok=True)
    pt = os.path.join(big, "model_1g.pt")
    if not os.path.exists(pt):
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crates", "scan", "tests", "fixtures"))
        rng = np.random.default_rng(0)
        state = {f"layer{i}.weight": rng.standard_normal(2**24, dtype=np.float32) for i in range(16)}
        # data.pkl in torch's layout, written without torch: rebuild globals and
        # persistent ids pointing at archive/data/<key>.
        out = io.BytesIO()
        out.write(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(")
        for i, name in enumerate(state):
            e = name.encode()
            out.write(b"X" + struct.pack("<I", len(e)) + e)
            out.write(b"ctorch._utils\n_rebuild_tensor_v2\n(")
            key = str(i).encode()
            out.write(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX" + struct.pack("<I", len(key)) + key + b"X\x03\x00\x00\x00cpuJ" + struct.pack("<i", 2**24) + b"tQ")
            out.write(b"K\x00J" + struct.pack("<i", 2**24) + b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR")
        out.write(b"u.")
        with zipfile.ZipFile(pt, "w", zipfile.ZIP_STORED) as z:
            z.writestr("archive/data.pkl", out.getvalue())
            z.writestr("archive/byteorder", "little")
            for i, arr in enumerate(state.values()):
                z.writestr(f"archive/data/{i}", arr.tobytes())
            z.writestr("archive/version", "3\n")
    small = os.path.join(work, "small")
    if not os.path.isdir(small):
        os.makedirs(small)
        rng = np.random.default_rng(1)
        X = rng.normal(size=(100, 8))
        y = (X[:, 0] > 0).astype(int)
        lr = LogisticRegression().fit(X, y)
        for i in range(2000):
            obj = {"weights": rng.standard_normal(256), "step": i} if i % 2 else lr
            with open(os.path.join(small, f"m{i:04}.pkl"), "wb") as f:
                pickle.dump(obj, f, protocol=4)
    return big, small


def size_of(paths):
    total = 0
    for p in paths:
        for d, _, files in os.walk(p):
            for f in files:
                total += os.path.getsize(os.path.join(d, f))
    return total


def timed(tools, runs):
    """Whole-process wall times, the tools taken round-robin run by run."""
    times = {name: [] for name in tools}
    for _ in range(runs):
        for name, cmd in tools.items():
            t = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t)
    return {name: (statistics.median(ts), ts) for name, ts in times.items()}


def portcullis_flags(binary, fixtures):
    out = subprocess.run([binary, "scan", "--format", "json", fixtures], capture_output=True, text=True)
    rep = json.loads(out.stdout)
    worst = {}
    order = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    for f in rep["findings"]:
        p = os.path.relpath(f["location"]["file"], fixtures)
        worst[p] = max(worst.get(p, -1), order[f["severity"]])
    return {p: s >= 2 for p, s in worst.items()}


def exit_flags(cmd, fixtures, labels):
    flags = {}
    for rel in labels:
        r = subprocess.run(cmd + [os.path.join(fixtures, rel)], capture_output=True, text=True)
        flags[rel] = r.returncode == 1
    return flags


def main():
    ap = argparse.ArgumentParser()
    for a in ("portcullis", "picklescan", "modelscan", "fixtures", "work"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    labels = json.load(open(os.path.join(a.fixtures, "labels.json")))
    big, small = make_large(a.work)
    print("## Scan\n")
    for title, corpus in (("full corpus: fixtures + 1 GiB PyTorch-style zip + 2000 small pickles", [a.fixtures, big, small]),
                          ("pickle-heavy corpus: fixtures + 2000 small pickles", [a.fixtures, small])):
        mb = size_of(corpus) / 1e6
        tools = {
            "portcullis scan": [a.portcullis, "scan"] + corpus,
            "portcullis scan --format json": [a.portcullis, "scan", "--format", "json"] + corpus,
            "portcullis scan --format sarif": [a.portcullis, "scan", "--format", "sarif"] + corpus,
            "picklescan": [a.picklescan] + sum((["-p", p] for p in corpus), []),
            "modelscan": [a.modelscan] + sum((["-p", p] for p in corpus), []),
        }
        print(f"Throughput, {title} ({mb:.0f} MB); median of {a.runs} runs, whole-process wall time, "
              f"tools run round-robin, {os.cpu_count()} cores.\n")
        print("| tool | median s | runs (s) | MB/s | picklescan's time / this tool's |\n|---|---|---|---|---|")
        med = timed(tools, a.runs)
        for name, (m, ts) in med.items():
            print(f"| {name} | {m:.3f} | {', '.join(f'{t:.3f}' for t in ts)} | {mb / m:.0f} | {med['picklescan'][0] / m:.1f}x |")
        print()
    flags = {
        "portcullis": portcullis_flags(a.portcullis, a.fixtures),
        "picklescan": exit_flags([a.picklescan, "-p"], a.fixtures, labels),
        "modelscan": exit_flags([a.modelscan, "-p"], a.fixtures, labels),
    }
    mal = [p for p, l in labels.items() if l["verdict"] == "malicious"]
    ben = [p for p, l in labels.items() if l["verdict"] == "benign"]
    print(f"Detection on the labelled fixtures ({len(mal)} malicious, {len(ben)} benign); "
          "portcullis counts a file as flagged at severity high or above, picklescan and modelscan by exit code 1.\n")
    print("| tool | malicious flagged | benign flagged |\n|---|---|---|")
    for name, f in flags.items():
        print(f"| {name} | {sum(f.get(p, False) for p in mal)}/{len(mal)} | {sum(f.get(p, False) for p in ben)}/{len(ben)} |")
    missed = {n: sorted(p for p in mal if not f.get(p, False)) for n, f in flags.items()}
    print("\nMissed by portcullis: " + (", ".join(missed["portcullis"]) or "none"))


if __name__ == "__main__":
    main()
