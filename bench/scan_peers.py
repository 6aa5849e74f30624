"""Records the verdicts of picklescan, modelscan, fickling and modelaudit
against portcullis on the bypass corpus (crates/scan/tests/fixtures/bypass),
per split and class, and prints the Markdown table docs/scan.md carries.

Run by hand (nothing here runs in CI):

    python3.11 -m venv /tmp/scanvenv && /tmp/scanvenv/bin/pip install picklescan==1.0.5 \\
        modelscan==0.8.8 fickling==0.1.12 modelaudit==0.2.54 numpy==2.4.6 \\
        scikit-learn==1.9.1 joblib==1.6.0
    cargo build --release -p portcullis-cli
    /tmp/scanvenv/bin/python bench/scan_peers.py --venv /tmp/scanvenv \\
        --portcullis target/release/portcullis > /tmp/peers.md

How each tool's verdict is read, per file:

- portcullis: `portcullis scan FILE` exit code 1 (a finding at the default
  `--fail-on high`);
- picklescan: `picklescan -p FILE` exit code 1 (dangerous globals found);
- modelscan: `modelscan -p FILE` exit code 1 (issues found);
- fickling: `fickling --check-safety FILE` exit code 1 (not likely safe);
- modelaudit: `modelaudit scan --format json FILE`, any issue of severity
  `critical` (its exit code is 1 for warnings too, which every unknown
  import raises).

Any other exit code, a time-out (60 s) or unparsable output is counted as an
error, separately: a malicious file that crashes a tool is not counted as
caught.
"""
import argparse
import collections
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "crates", "scan", "tests", "fixtures", "bypass")


def verdict(tool, cmd, path):
    try:
        r = subprocess.run(cmd + [path], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "error"
    if tool == "modelaudit":
        try:
            issues = json.loads(r.stdout).get("issues", [])
        except ValueError:
            return "error"
        return "flagged" if any(i.get("severity") == "critical" for i in issues) else "passed"
    if "Traceback (most recent call last)" in r.stderr:
        return "error"
    return {0: "passed", 1: "flagged"}.get(r.returncode, "error")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--venv", required=True)
    ap.add_argument("--portcullis", required=True)
    a = ap.parse_args()
    b = os.path.join(a.venv, "bin")
    tools = {
        "portcullis": [a.portcullis, "scan"],
        "picklescan": [os.path.join(b, "picklescan"), "-p"],
        "modelscan": [os.path.join(b, "modelscan"), "-p"],
        "fickling": [os.path.join(b, "fickling"), "--check-safety"],
        "modelaudit": [os.path.join(b, "modelaudit"), "scan", "--format", "json"],
    }
    with open(os.path.join(CORPUS, "labels.json")) as f:
        labels = json.load(f)
    # (split, class) -> tool -> Counter(verdict)
    table = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    raw = {}
    for rel, label in sorted(labels.items()):
        split = rel.split("/")[0]
        klass = "benign" if label["verdict"] == "benign" else label["class"]
        raw[rel] = {}
        for tool, cmd in tools.items():
            v = verdict(tool, cmd, os.path.join(CORPUS, rel))
            raw[rel][tool] = v
            table[(split, klass)][tool][v] += 1
        print(rel, raw[rel], file=sys.stderr)
    print("| split | class | files | " + " | ".join(tools) + " |")
    print("|---|---|---|" + "---|" * len(tools))
    for split in ("tune", "heldout"):
        for (s, klass), per in sorted(table.items()):
            if s != split:
                continue
            n = sum(per["portcullis"].values())
            cells = []
            for tool in tools:
                c = per[tool]
                cell = f"{c['flagged']}/{n}"
                if c["error"]:
                    cell += f" ({c['error']} err)"
                cells.append(cell)
            print(f"| {split} | {klass} | {n} | " + " | ".join(cells) + " |")
    print("\nCells: files flagged / files in the class (for benign rows, a flag is a false positive).")
    with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "scan_peers_raw.json"), "w") as f:
        json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
