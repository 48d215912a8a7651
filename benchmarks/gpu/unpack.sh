#!/usr/bin/env bash
# Unpack the GPU experiment bundle on the device (issue 9) and prove both token corpora sound.
#
#   bash benchmarks/gpu/unpack.sh [BUNDLE_DIR] [DEST_DIR]
#
# BUNDLE_DIR (default benchmarks/.cache/gpu_bundle, carried with `carry`) holds train.tar.zst,
# heldout.tar.zst, tokenizer.json and wheels/ (built by benchmarks/gpu/prepare_corpus.py).
# DEST_DIR (default /tmp/midtrain_gpu) receives:
#   site/            the wheels, installed with --no-deps --no-index (xxhash, pyyaml)
#   train_tokens/    the train token corpus      heldout_tokens/  the held-out token corpus
#   tokenizer.json
# then each corpus is checked with midtrain.corpus.validation.validate (sizes, checksums, offsets,
# ids < vocab). Decompression uses pyarrow's zstd codec: the image has pyarrow, not zstandard.
# Afterwards run the trainer with: export PYTHONPATH=DEST_DIR/site:REPO_ROOT
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bundle="$(cd "${1:-$repo/benchmarks/.cache/gpu_bundle}" && pwd)"
dest="${2:-/tmp/midtrain_gpu}"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$dest/site" "$bundle"/wheels/*.whl
export PYTHONPATH="$dest/site:$repo${PYTHONPATH:+:$PYTHONPATH}"

python3 - "$bundle" "$dest" <<'EOF'
import shutil, sys, tarfile, time
from pathlib import Path

import pyarrow as pa

from midtrain.corpus import Manifest
from midtrain.corpus.validation import validate

bundle, dest = Path(sys.argv[1]), Path(sys.argv[2])
failed = False
# code_grouped: the issue-17 bundle's package-level code corpus (benchmarks/gpu/prepare_longctx.py)
for split in ("train", "heldout", "code_grouped"):
    if not (bundle / f"{split}.tar.zst").exists() and split == "code_grouped":
        continue
    t0 = time.perf_counter()
    folder = dest / f"{split}_tokens"
    shutil.rmtree(folder, ignore_errors=True)
    with pa.input_stream(str(bundle / f"{split}.tar.zst"), compression="zstd") as stream:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            tar.extractall(dest, filter="data")
    problems = validate(folder)
    for p in problems:
        print(f"INVALID {p}")
    failed |= bool(problems)
    m = Manifest.read(folder)
    totals = ", ".join(f"{d} {t['rows']:,} docs {t['tokens']:,} tokens" for d, t in m.domains.items())
    print(f"{folder}: {'ok' if not problems else 'INVALID'} in {time.perf_counter() - t0:.1f} s: {totals}")
shutil.copy(bundle / "tokenizer.json", dest / "tokenizer.json")
sys.exit(1 if failed else 0)
EOF
echo "export PYTHONPATH=$dest/site:$repo"
