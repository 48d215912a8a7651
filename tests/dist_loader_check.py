"""Run under ``torchrun --nproc_per_node 2`` (gloo): every rank's sequences, gathered, are the
planned global order with no duplicate and none skipped; then a resume after a checkpoint.

Usage: torchrun --nproc_per_node 2 tests/dist_loader_check.py CORPUS OUT.json
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


if __name__ == "__main__":
    main()
