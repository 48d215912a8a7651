"""Run under ``torchrun --nproc_per_node 2`` (gloo): every rank's sequences, gathered, are the
planned global order with no duplicate and none skipped; then a resume after a checkpoint.

With a third argument ``cp``: the two ranks form one context-parallel group (``cp_degree=2``) and
each records its batches' fingerprints and (document id, position) -> (token, label) maps.

Usage: torchrun --nproc_per_node 2 tests/dist_loader_check.py CORPUS OUT.json [cp]
"""

import json
import sys

import torch.distributed as dist

from helpers.loader_corpora import row_digests
from midtrain.loaders import build_loader

MIX = {"domains": ["code", "math", "web"], "phases": [{"weights": {"web": 0.5, "code": 0.3, "math": 0.2}}]}


def main() -> None:
    corpus, out = sys.argv[1], sys.argv[2]
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if len(sys.argv) > 3 and sys.argv[3] == "cp":
        return context_parallel(corpus, out, rank, world)
    loader = build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=11, num_workers=1, packing="best_fit",
                          window=128)
    mine, it = [], iter(loader)
    for _ in range(6):
        mine.append(row_digests(next(it)))
    state = loader.state_dict()
    # resume from the checkpoint in a fresh loader (another worker count) on every rank
    resumed = build_loader(corpus, MIX, seq_len=128, batch_size=4, seed=11, num_workers=0, packing="best_fit",
                           window=128)
    resumed.load_state_dict(state)
    it2 = iter(resumed)
    for _ in range(4):
        mine.append(row_digests(next(it2)))
    gathered = [None] * world
    dist.all_gather_object(gathered, {"rank": rank, "rows": mine, "state": state})
    if rank == 0:
        with open(out, "w") as f:
            json.dump(gathered, f)
    dist.barrier()
    dist.destroy_process_group()


def context_parallel(corpus: str, out: str, rank: int, world: int) -> None:
    loader = build_loader(corpus, MIX, seq_len=256, batch_size=2, seed=5, num_workers=1, cp_degree=world)
    mine = []
    for _, batch in zip(range(4), loader):
        tokens = {}
        for row in range(batch["input_ids"].shape[0]):
            for d, p, i, l in zip(*(batch[k][row].tolist() for k in ("document_ids", "position_ids", "input_ids",
                                                                     "labels"))):
                tokens[f"{row}:{d}:{p}"] = [i, l]
        mine.append({"fingerprint": batch["cp"]["fingerprint"], "shape": list(batch["input_ids"].shape),
                     "tokens": tokens})
    gathered = [None] * world
    dist.all_gather_object(gathered, {"rank": rank, "batches": mine})
    if rank == 0:
        with open(out, "w") as f:
            json.dump(gathered, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
