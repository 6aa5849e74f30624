#!/usr/bin/env python3
"""model-signing side of bench/digest.sh: hash a model with its public API.

Usage: digest_ms.py files|shards PATH

Prints the in-toto subject digest model-signing would sign, and on stderr
`hash_seconds S`, the time spent in the one-line hashing call alone.
"""

import sys
import time

from model_signing import hashing
from model_signing._signing import signing


def main() -> int:
    mode, path = sys.argv[1], sys.argv[2]
    config = hashing.Config()
    config = config.use_file_serialization() if mode == "files" else config.use_shard_serialization()
    started = time.perf_counter()
    manifest = config.hash(path)
    elapsed = time.perf_counter() - started
    subject = signing.Payload(manifest).statement.pb.subject[0]
    print(subject.digest["sha256"])
    print(f"hash_seconds {elapsed:.6f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
