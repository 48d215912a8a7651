"""Schedule amendments: change a running mix from a block boundary on, keeping every count exact.

An :class:`Amendment` says: from the first block that starts at or after ``at_tokens`` (its
``from_block``, which starts at ``from_tokens``), the run follows ``schedule`` (a whole-run
schedule, read at absolute token positions, so a lengthened phase is just a later ``end``), the
documents ``removed`` (ids) never appear again, and the corpus is the one of fingerprint ``corpus``
(the same documents in every domain the run already had, plus new domains). An
:class:`AmendedSchedule` chains a base schedule and its amendments and is what the plan follows:

- blocks before an amendment's ``from_block`` are planned exactly as before it (the plan is a
  pure function of its blocks' start states), so consumed batches, resumes and the ledger of the
  past are unchanged;
- every domain keeps its stream: its epoch order and cursor continue where they stood, so no
  document is repeated before its epoch ends and none is skipped. Removed documents are left out
  of the rest of the epoch and of later ones (a removed document already begun is not finished);
- a domain the run did not have gets the next domain index (domains are never re-ordered, since
  a domain's index seeds its permutations), a fresh stream and a zero error carry.

The chain goes into the loader's state (:meth:`to_dict`), with each amendment's fingerprint: a
loader built on the amended corpus and schedule accepts the state, rebuilds the chain from it and
continues. Domain weights of an amendment's schedule are read by domain name, so its domains may
be any sorted set over the corpus.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from midtrain.errors import ConfigError


@dataclass(frozen=True)
class Amendment:
    """One change of plan, from block ``from_block`` (starting at ``from_tokens``) on."""

    at_tokens: int
    """The token position asked for; the amendment applies from the first block starting at or after it."""
    from_block: int
    from_tokens: int
    schedule: Any
    """The whole-run schedule (a :class:`midtrain.mixers.Schedule`) followed from ``from_block`` on."""
    removed: tuple[str, ...] = ()
    """Ids of the documents removed by this amendment (earlier amendments' removals still hold)."""
    corpus: str | None = None
    """Fingerprint of the corpus from this amendment on (that of the loader that made it)."""
    fingerprint: str = ""
    """The plan fingerprint of a loader built on that corpus with ``schedule``: what a resuming loader has."""
    description: dict[str, Any] | None = None
    """That loader's plan description (settings, domains, shards, schedule), to say what differs."""

    def to_dict(self) -> dict[str, Any]:
        return {"at_tokens": self.at_tokens, "from_block": self.from_block, "from_tokens": self.from_tokens,
                "schedule": self.schedule.to_dict(), "removed": list(self.removed), "corpus": self.corpus,
                "fingerprint": self.fingerprint, "plan_description": self.description}

    @classmethod
    def from_dict(cls, d: dict[str, Any], key: str) -> "Amendment":
        from midtrain.mixers import load_schedule

        try:
            return cls(at_tokens=int(d["at_tokens"]), from_block=int(d["from_block"]),
                       from_tokens=int(d["from_tokens"]), schedule=load_schedule(d["schedule"]),
                       removed=tuple(str(x) for x in d.get("removed", ())), corpus=d.get("corpus"),
                       fingerprint=str(d["fingerprint"]), description=d.get("plan_description"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{key}: malformed amendment ({type(exc).__name__}: {exc})") from None


@dataclass
class AmendedSchedule:
    """A base schedule and its amendments, as the loader's plan reads a schedule (``ScheduleLike``)."""

    base: Any
    amendments: list[Amendment] = field(default_factory=list)

    def __post_init__(self) -> None:
        domains = list(self.base.domains)
        for a in self.amendments:
            domains += [d for d in a.schedule.domains if d not in domains]
        self.domains: tuple[str, ...] = tuple(domains)
        self._index = {d: i for i, d in enumerate(self.domains)}

    # -- eras ---------------------------------------------------------------------------------
    def era_at(self, tokens: int) -> int:
        """0 for the base schedule, ``i + 1`` once amendment ``i`` applies (blocks start at ``tokens``)."""
        era = 0
        for i, a in enumerate(self.amendments):
            if tokens >= a.from_tokens:
                era = i + 1
        return era

    def schedule_at(self, tokens: int) -> Any:
        era = self.era_at(tokens)
        return self.base if era == 0 else self.amendments[era - 1].schedule

    def era_start_block(self, tokens: int) -> int:
        """The first block of the era in force at ``tokens`` (0 for the base)."""
        era = self.era_at(tokens)
        return 0 if era == 0 else self.amendments[era - 1].from_block

    # -- ScheduleLike ---------------------------------------------------------------------------
    @property
    def total_tokens(self) -> int | None:
        return (self.amendments[-1].schedule if self.amendments else self.base).total_tokens

    @property
    def phases(self) -> tuple:
        return tuple(p for s in [self.base, *(a.schedule for a in self.amendments)] for p in s.phases)

    @property
    def long_min_tokens(self) -> int | None:
        return self.base.long_min_tokens

    def weights_vector_at(self, tokens: int) -> np.ndarray:
        s = self.schedule_at(tokens)
        out = np.zeros(len(self.domains), np.float64)
        out[[self._index[d] for d in s.domains]] = s.weights_vector_at(tokens)
        return out

    def seq_len_at(self, tokens: int) -> int | None:
        return self.schedule_at(tokens).seq_len_at(tokens)

    def phase_at(self, tokens: int) -> Any:
        return self.schedule_at(tokens).phase_at(tokens)

    def fingerprint(self) -> str:
        """The base schedule's fingerprint without amendments; else a hash of the whole chain."""
        if not self.amendments:
            return self.base.fingerprint()
        body = json.dumps({"base": self.base.fingerprint(), "amendments": [a.to_dict() for a in self.amendments]},
                          sort_keys=True)
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "amendments": [a.to_dict() for a in self.amendments]}


def block_starts_until(plan: Any, start_block: int, start_tokens: int, at_tokens: int) -> tuple[int, int]:
    """The first block at or after ``start_block`` (which starts at ``start_tokens``) that starts at or
    after ``at_tokens``, and its start: block sizes follow from each phase's sequence length and global
    batch alone, so no block is planned."""
    block, tokens = start_block, start_tokens
    bb = plan.block_batches
    while tokens < at_tokens:
        tokens += plan.global_batch_at(tokens) * bb * plan.seq_len_at(tokens)
        block += 1
    return block, tokens


def same_plan(saved: dict[str, Any] | None, here: dict[str, Any]) -> bool:
    """Whether a plan described by ``saved`` is the plan described by ``here`` although the corpus
    fingerprints differ: the same settings and schedule, every saved domain with the same documents,
    every saved shard still there with the same checksum (new shards may hold new domains)."""
    if not saved:
        return False
    if any(saved.get(k) != here.get(k) for k in ("seed", "seq_len", "packing", "window", "long_min_tokens", "schedule")):
        return False
    if any(here["domains"].get(d) != v for d, v in saved.get("domains", {}).items()):
        return False
    return set(saved.get("shards", ())) <= set(here.get("shards", ()))


def describe_difference(saved: dict[str, Any], here: dict[str, Any]) -> str:
    """What differs between two plan descriptions (:meth:`PackedLoader.plan_description`), in words."""
    parts = []
    for key in ("seed", "seq_len", "packing", "window", "long_min_tokens"):
        if saved.get(key) != here.get(key):
            parts.append(f"{key} {saved.get(key)!r} != {here.get(key)!r}")
    s_dom, h_dom = saved.get("domains", {}), here.get("domains", {})
    if s_dom and h_dom:
        for d in sorted(set(s_dom) | set(h_dom)):
            if d not in h_dom:
                parts.append(f"domain {d!r} is not in this corpus")
            elif d not in s_dom:
                parts.append(f"domain {d!r} is new")
            elif s_dom[d] != h_dom[d]:
                parts.append(f"domain {d!r} has other documents ({s_dom[d]['documents']:,} documents, "
                             f"{s_dom[d]['tokens']:,} tokens saved; {h_dom[d]['documents']:,}, {h_dom[d]['tokens']:,} here)")
    if saved.get("shards") and here.get("shards") and saved["shards"] != here["shards"]:
        gone = sorted(set(saved["shards"]) - set(here["shards"]))
        new = sorted(set(here["shards"]) - set(saved["shards"]))
        if gone or new:
            parts.append(f"shards changed ({len(gone)} gone{': ' + ', '.join(gone[:3]) if gone else ''}; "
                         f"{len(new)} new{': ' + ', '.join(new[:3]) if new else ''})")
    s_sched, h_sched = saved.get("schedule"), here.get("schedule")
    if s_sched and h_sched and s_sched != h_sched:
        parts += _schedule_difference(s_sched, h_sched)
    return "; ".join(parts)


def _schedule_difference(saved: dict[str, Any], here: dict[str, Any]) -> list[str]:
    out = []
    if saved.get("domains") != here.get("domains"):
        out.append(f"schedule domains {saved.get('domains')} != {here.get('domains')}")
    if saved.get("total_tokens") != here.get("total_tokens"):
        out.append(f"total_tokens {saved.get('total_tokens')} != {here.get('total_tokens')}")
    sp, hp = saved.get("phases", []), here.get("phases", [])
    for i in range(max(len(sp), len(hp))):
        a = sp[i] if i < len(sp) else None
        b = hp[i] if i < len(hp) else None
        if a != b:
            name = (b or a or {}).get("name", i)
            if a is None or b is None:
                out.append(f"phase {i} ({name}) {'added' if a is None else 'removed'}")
            else:
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                out.append(f"phase {i} ({name}) differs in {', '.join(keys)}")
    return out


def amend_state_file(state_path: str, schedule: Any, corpus: str, *, at_tokens: int | None = None,
                     remove_file: str | None = None, total_tokens: int | None = None,
                     output: str | None = None) -> tuple[Amendment, str]:
    """Amend the loader state saved at ``state_path`` (what ``midtrain amend`` does); returns the
    amendment and the path written. The loader is rebuilt from the state's own record of its plan."""
    from pathlib import Path

    from midtrain.corpus.manifest import atomic_write_bytes
    from midtrain.loaders import build_loader
    from midtrain.mixers import load_schedule

    path = Path(state_path)
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such state file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON loader state ({exc})") from None
    if not isinstance(state, dict) or "plan" not in state:
        raise ConfigError(f"{path}: not a loader state (no 'plan')")
    amendments = state.get("amendments") or []
    desc = amendments[-1].get("plan_description") if amendments else state.get("plan_description")
    if not desc or not desc.get("schedule"):
        raise ConfigError(f"{path}: the state does not record its plan (saved by an older midtrain); amend it in "
                          "the training script instead: loader.amend(new_schedule) before state_dict()")
    removed: list[str] = []
    if remove_file is not None:
        try:
            removed = [line.strip() for line in Path(remove_file).read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            raise ConfigError(f"{remove_file}: no such file of document ids") from None
    loader = build_loader(corpus, load_schedule(desc["schedule"]), seq_len=int(desc["seq_len"]),
                          batch_size=int(state["global_batch_size"]), world_size=1, rank=0, seed=int(desc["seed"]),
                          packing=desc["packing"], window=int(desc["window"]),
                          block_batches=int(state["block_batches"]), long_min_tokens=desc.get("long_min_tokens"),
                          total_tokens=total_tokens)
    loader.load_state_dict(state)
    amendment = loader.amend(schedule, at_tokens=at_tokens, remove=removed, corpus=corpus)
    new_state = {**state, **loader.state_dict()}  # keeps what this loader does not own (a policy's state)
    out = Path(output) if output else path
    atomic_write_bytes(out, (json.dumps(new_state, indent=1, sort_keys=True) + "\n").encode())
    return amendment, str(out)
