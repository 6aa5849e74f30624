#!/usr/bin/env python3
"""Writes the 2 GiB mixed-size model directory that bench/digest.sh hashes.

Usage: digest_gen.py DIR

Sizes (MiB): 1 x 512, 2 x 256, 4 x 128, 8 x 32, 64 x 2, 256 x 0.25 and
2048 x 1/32 (32 KiB), 2048 MiB in all across nested folders. Bytes come from a
seeded generator: the content does not change SHA-256 speed, but it must not be
sparse or compressible by the filesystem.
"""

import os
import random
import sys

MIB = 1024 * 1024
PLAN = [
    (1, 512 * MIB, "weights"),
    (2, 256 * MIB, "weights"),
    (4, 128 * MIB, "shards"),
    (8, 32 * MIB, "shards"),
    (64, 2 * MIB, "tensors"),
    (256, 256 * 1024, "tensors/small"),
    (2048, 32 * 1024, "tokenizer/pieces"),
]


def main() -> int:
    root = sys.argv[1]
    rng = random.Random(20261125)
    block = rng.randbytes(8 * MIB)
    total = 0
    for count, size, folder in PLAN:
        for i in range(count):
            sub = os.path.join(root, folder, f"g{i % 16:02d}")
            os.makedirs(sub, exist_ok=True)
            path = os.path.join(sub, f"part-{size}-{i:05d}.bin")
            with open(path, "wb") as f:
                # Rotate the block so files differ; write in 8 MiB pieces.
                offset = (i * 4099 + size) % len(block)
                data = block[offset:] + block[:offset]
                left = size
                while left > 0:
                    n = min(left, len(data))
                    f.write(data[:n])
                    left -= n
            total += size
    print(f"wrote {total / MIB:.0f} MiB to {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
