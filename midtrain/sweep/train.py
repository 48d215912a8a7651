"""``sweep run``: train the swarm's proxies, M at a time in one stacked model, and append their results.

    run_sweep(directory, group=16, resume=False, device=None, compile=None, run_ids=None, progress=True)

What happens, in order (the sweep folder is ``midtrain/sweep/spec.py``'s contract):

1. the runs still to do: those of ``run_ids`` (default: all), minus those already in ``results.jsonl``
   with ``resume`` (without it, a results file that has results is an error that says ``--resume``);
2. per proxy, those runs in balanced groups of at most ``group``; a short group is padded with copies
   of its first run (trained, never recorded), so every group of a proxy has one shape and one
   ``torch.compile`` graph;
3. ``anneal`` mode: one base proxy trains on the prior for ``base_tokens`` (warm-up, then a constant
   learning rate) and is saved to ``checkpoints/base-<proxy>.pt`` (atomic); a rerun reuses it. Every
   member then starts from its weights and AdamW moments and anneals on its own mix for ``tokens``,
   the learning rate falling linearly to zero. ``pretrain`` mode: every member starts from the init of
   its run's seed, warm-up then cosine (or WSD) decay;
4. each member reads its own midtrain loader (its run's schedule, its run's seed), stacked into one
   ``[M, B, T]`` batch a step ahead in a background thread;
5. the group's per-domain held-out loss (:mod:`midtrain.sweep.evaluate`), then one ``RunResult`` line
   per real member, appended as soon as the group ends: a killed sweep loses at most one group.

Numbers: AdamW (0.9, 0.95), weight decay 0.1, per-member gradient clipping at 1.0, peak learning rate
1e-3, 2% warm-up; bf16 autocast on CUDA, float32 on CPU.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import torch

from midtrain.errors import ConfigError
from midtrain.sweep.evaluate import BATCH_KEYS, HeldoutRows, heldout_losses, heldout_rows
from midtrain.sweep.spec import RunResult, RunSpec, SweepSpec, append_result, read_results, read_sweep, run_schedule
from midtrain.sweep.stacked import Attention, ProxyShape, StackedLlama, clip_grad_norm_per_model, make_optimizer

CHECKPOINTS_DIR = "checkpoints"
CHECKPOINT_FORMAT = "midtrain.sweep.base/1"
LrSchedule = Literal["cosine", "wsd"]


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """How the proxies train (the sweep folder says on what and for how long)."""

    lr: float = 1e-3
    """Peak learning rate (the base proxy's constant rate, where every anneal starts)."""
    warmup: float = 0.02
    """Linear warm-up, as a fraction of the steps of a from-scratch run (pretrain members, the base)."""
    lr_schedule: LrSchedule = "cosine"
    """Pretrain mode after warm-up: ``cosine`` to ``final_lr`` x lr, or ``wsd`` (constant, then linear
    to zero over the last ``decay`` of the steps)."""
    final_lr: float = 0.1
    decay: float = 0.2
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    clip: float = 1.0
    """Gradient-norm bound of each member."""
    heldout_rows: int = 512
    """Held-out sequences per domain (of ``seq_len`` tokens; the same rows for every run). 512 rows of
    1,024 tokens: on the H200 sweep, 128 rows left the web loss's ranking mostly noise (held-out ρ
    0.841), 512 gave 0.979 for about 3 s more evaluation per stack of 27."""
    attention: Attention | Literal["auto"] = "auto"
    """``auto``: FlexAttention on CUDA when it imports, SDPA with a boolean mask otherwise."""
    num_workers: int = 0
    """Loader workers per member. 0: batches are built in the trainer's background thread (0.1 ms per
    8 x 1024 batch measured on this repo's CPU; a worker's hand-off costs more, 0.28 ms)."""
    compile_base: bool = False
    """``torch.compile`` the 1-member base proxy too (worth it only for a long base)."""
    time_budget_s: float | None = None
    """Start no group that would end after this many seconds (estimated from the groups before);
    the runs left are reported and a ``--resume`` finishes them."""


@dataclass(frozen=True, kw_only=True)
class GroupStats:
    """One stacked group: what it trained and how fast."""

    proxy: str
    members: int
    """Models in the stack (real runs plus padding copies)."""
    run_ids: tuple[str, ...]
    steps: int
    step_time_ms: float
    tokens_per_s: float
    """Training tokens per second of the whole stack (every member, padding included), past warm-up."""
    train_seconds: float
    eval_seconds: float
    seconds: float


@dataclass(kw_only=True)
class SweepRunReport:
    """What one ``run_sweep`` call did."""

    directory: Path
    trained: list[str] = field(default_factory=list)
    """Run ids finished (and appended to ``results.jsonl``) by this call."""
    skipped: list[str] = field(default_factory=list)
    """Run ids that already had a result."""
    remaining: list[str] = field(default_factory=list)
    """Run ids not started because the time budget ran out."""
    failed: dict[str, str] = field(default_factory=dict)
    """Run id -> why no result was written (a non-finite loss)."""
    groups: list[GroupStats] = field(default_factory=list)
    base_checkpoints: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Lines of ``results.jsonl`` that were skipped when reading it."""
    seconds: float = 0.0
    device: str = "cpu"

    def summary(self) -> str:
        """One paragraph for the terminal."""
        steady = [g.tokens_per_s for g in self.groups[1:]] or [g.tokens_per_s for g in self.groups]
        rate = f", {format_rate(sum(steady) / len(steady))} training tokens/s per stack" if steady else ""
        lines = [f"{self.directory}: trained {len(self.trained)} run(s) in {len(self.groups)} group(s) on "
                 f"{self.device} in {self.seconds:.0f} s{rate}; {len(self.skipped)} already done"]
        if self.remaining:
            lines.append(f"{len(self.remaining)} run(s) left for the time budget; rerun with --resume")
        for run_id, why in self.failed.items():
            lines.append(f"{run_id}: no result ({why})")
        lines += [f"results.jsonl: {p}" for p in self.problems]
        return "\n".join(lines)


# -- the entry point ----------------------------------------------------------------------------------
def run_sweep(directory: str | os.PathLike, *, group: int = 16, resume: bool = False, device: str | None = None,
              compile: bool | None = None, run_ids: list[str] | None = None, progress: bool = True,
              settings: TrainSettings | None = None) -> SweepRunReport:
    """Train the sweep's unfinished runs ``group`` at a time and append a ``RunResult`` per run."""
    t_start = time.perf_counter()
    directory = Path(directory)
    settings = settings or TrainSettings()
    spec = read_sweep(directory)
    if isinstance(group, bool) or not isinstance(group, int) or group < 1:
        raise ConfigError(f"--group: must be a positive integer, got {group!r}")
    results, problems = read_results(directory, spec)
    if results and not resume:
        raise ConfigError(f"{directory / 'results.jsonl'} already has {len(results)} result(s); pass --resume to "
                          "train only the runs without one, or use a new sweep folder")
    done = {r.run_id for r in results}
    wanted = _wanted_runs(spec, run_ids)
    pending = [r for r in wanted if r.run_id not in done]
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA device here; use --device cpu (slow: tiny proxies only)")
    compile = dev.type == "cuda" if compile is None else bool(compile)
    report = SweepRunReport(directory=directory, skipped=[r.run_id for r in wanted if r.run_id in done],
                            problems=problems, device=str(dev))
    if not pending:
        report.seconds = time.perf_counter() - t_start
        return report
    trainer = _Trainer(spec, directory, dev, compile, settings, progress)
    budget_end = None if settings.time_budget_s is None else t_start + settings.time_budget_s
    for proxy in dict.fromkeys(r.proxy for r in pending):
        groups = plan_groups([r for r in pending if r.proxy == proxy], group)
        base = trainer.base_state(proxy, report) if spec.mode == "anneal" else None
        for runs in groups:
            last = report.groups[-1].seconds if report.groups else 0.0
            if budget_end is not None and report.groups and time.perf_counter() + last > budget_end:
                report.remaining += [r.run_id for r in runs]
                continue
            stats, measured = trainer.train_group(proxy, runs, base)
            report.groups.append(stats)
            for run_id, result in measured.items():
                if isinstance(result, str):
                    report.failed[run_id] = result
                else:
                    append_result(directory, result)
                    report.trained.append(run_id)
    report.seconds = time.perf_counter() - t_start
    return report


def _wanted_runs(spec: SweepSpec, run_ids: list[str] | None) -> list[RunSpec]:
    if run_ids is None:
        return list(spec.runs)
    known = {r.run_id for r in spec.runs}
    unknown = [i for i in run_ids if i not in known]
    if unknown:
        raise ConfigError(f"--runs: {', '.join(unknown)} not in sweep.json (its ids start with 'r' + 10 hex digits)")
    chosen = set(run_ids)
    return [r for r in spec.runs if r.run_id in chosen]


def plan_groups(runs: list[RunSpec], group: int) -> list[list[RunSpec]]:
    """``runs`` (in order) in ``ceil(n / group)`` consecutive groups of as equal a size as can be: 40 runs
    at ``group=16`` are 14 + 14 + 12, not 16 + 16 + 8, so padding the short groups costs at most one
    member each."""
    if not runs:
        return []
    count = math.ceil(len(runs) / group)
    size = math.ceil(len(runs) / count)
    return [runs[i:i + size] for i in range(0, len(runs), size)]


# -- learning rates -----------------------------------------------------------------------------------
def lr_at(step: int, steps: int, settings: TrainSettings, kind: str) -> float:
    """The learning rate of ``step`` (0-based) of ``steps``.

    ``constant`` (the base proxy): warm-up, then the peak. ``anneal``: linearly from the peak to zero
    (the last step's rate is peak/steps). ``cosine``/``wsd``: from scratch, warm-up then decay.
    """
    peak = settings.lr
    if kind == "anneal":
        return peak * (steps - step) / steps
    warm = max(1, round(settings.warmup * steps))
    if step < warm:
        return peak * (step + 1) / warm
    if kind == "constant":
        return peak
    if kind == "wsd":
        start = steps - max(1, round(settings.decay * steps))
        return peak if step < start else peak * (steps - step) / (steps - start)
    if kind == "cosine":
        u = (step - warm) / max(1, steps - warm)
        floor = settings.final_lr * peak
        return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * u))
    raise ConfigError(f"lr_schedule: unknown kind {kind!r}")


# -- batches ------------------------------------------------------------------------------------------
class StackedBatches:
    """``steps`` batches of every member's loader stacked to ``[M, B, T]`` tensors, built one step ahead
    in a background thread (loader work releases the GIL in its numba kernels; stacking copies out of
    the loaders' recycled buffers). Pinned on CUDA for asynchronous copies."""

    def __init__(self, loaders: list[Any], steps: int, *, pin: bool = False, depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(loaders, steps, pin), daemon=True,
                                        name="sweep-batches")
        self._thread.start()

    def _run(self, loaders: list[Any], steps: int, pin: bool) -> None:
        iters = [iter(ld) for ld in loaders]
        try:
            for step in range(steps):
                parts = []
                for m, it in enumerate(iters):
                    batch = next(it, None)
                    if batch is None:
                        raise ConfigError(f"member {m}'s loader ended after {step} of {steps} steps; its schedule "
                                          "has fewer tokens than the sweep's `tokens`")
                    parts.append(batch)
                stacked = {k: torch.stack([p[k] for p in parts]) for k in BATCH_KEYS}
                if pin:
                    stacked = {k: v.pin_memory() for k, v in stacked.items()}
                del parts
                if not self._put(("batch", stacked)):
                    return
            self._put(("end", None))
        except BaseException as exc:  # handed to the training thread, which raises it
            self._put(("error", exc))
        finally:
            for it in iters:
                it.close()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stop the thread (it may be blocked on a full queue) and wait for it."""
        self._stop.set()
        self._thread.join(timeout=30)


# -- one stack on a device ----------------------------------------------------------------------------
class StackRunner:
    """A stacked model on its device: the (compiled) loss of a stacked batch, under bf16 autocast on CUDA."""

    def __init__(self, model: StackedLlama, device: torch.device, *, compile: bool) -> None:
        self.model = model.to(device)
        self.device = device
        self.forward = torch.compile(self.model, dynamic=False) if compile else self.model
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's (loss sum, token count) on ``batch`` (``[M, B, T]`` tensors, any device)."""
        b = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        mask = self.model.block_mask(b["document_ids"]) if self.model.attention == "flex" else None
        with self.autocast:
            return self.forward(b["input_ids"], b["position_ids"], b["document_ids"], b["labels"], block_mask=mask)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


@dataclass(frozen=True)
class StepLog:
    """The losses of a training loop and how long its steps took."""

    losses: torch.Tensor
    """``[steps, M]`` mean loss per member per step (CPU, float32)."""
    step_time_s: float
    """Mean seconds per step after the first ``warm`` steps (compilation, allocator warm-up)."""
    seconds: float


def train_steps(runner: StackRunner, batches: StackedBatches, optimizer: torch.optim.Optimizer,
                lr: Callable[[int], float], steps: int, clip: float, *, warm: int = 3) -> StepLog:
    """``steps`` optimizer steps of every member at once: each member's mean loss, summed (so each
    slice of every gradient is its member's), per-member clipping, one AdamW step. Synchronises only
    twice (after ``warm`` steps and at the end), so the host runs ahead of the device."""
    M = runner.model.models
    losses = torch.zeros(steps, M, device=runner.device)
    params = list(runner.model.parameters())
    warm = min(warm, max(0, steps - 1))
    t0 = t_warm = time.perf_counter()
    step = 0
    for step, batch in enumerate(batches):
        if step == warm:
            runner.synchronize()
            t_warm = time.perf_counter()
        for g in optimizer.param_groups:
            g["lr"] = lr(step)
        loss_sum, count = runner.loss(batch)
        mean = loss_sum / count.clamp(min=1.0)
        mean.sum().backward()
        clip_grad_norm_per_model(params, clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses[step] = mean.detach().float()
    runner.synchronize()
    t_end = time.perf_counter()
    timed = max(1, step + 1 - warm)
    return StepLog(losses=losses.cpu(), step_time_s=(t_end - t_warm) / timed, seconds=t_end - t0)


def build_member_loaders(corpus: str, schedules: list[dict[str, Any]], seeds: list[int], *, seq_len: int,
                         batch_size: int, num_workers: int = 0) -> list[Any]:
    """One midtrain loader per member: its schedule (a schedule-language dict), its seed."""
    from midtrain.loaders import build_loader

    return [build_loader(corpus, sched, seq_len=seq_len, batch_size=batch_size, seed=seed, rank=0, world_size=1,
                         num_workers=num_workers, compact=True) for sched, seed in zip(schedules, seeds)]


# -- the trainer of one run_sweep call ----------------------------------------------------------------
class _Trainer:
    """What stays the same across the groups of one call: the spec, device, held-out rows and one stacked
    model (and compiled graph) per (proxy, group size)."""

    def __init__(self, spec: SweepSpec, directory: Path, device: torch.device, compile: bool,
                 settings: TrainSettings, progress: bool) -> None:
        from midtrain.corpus import Manifest

        self.spec, self.directory, self.device, self.compile = spec, directory, device, compile
        self.settings, self.progress = settings, progress
        tokenizer = Manifest.read(spec.corpus).tokenizer or {}
        if not tokenizer.get("vocab_size"):
            raise ConfigError(f"{spec.corpus}: the corpus manifest has no tokenizer.vocab_size")
        self.vocab = int(tokenizer["vocab_size"])
        self.attention = resolve_attention(settings.attention, device)
        self.heldout: list[HeldoutRows] = heldout_rows(spec.heldout, spec.domains, seq_len=spec.seq_len,
                                                       rows=settings.heldout_rows)
        self._runners: dict[tuple[str, int], StackRunner] = {}

    def runner(self, proxy: str, members: int) -> StackRunner:
        key = (proxy, members)
        if key not in self._runners:
            shape = ProxyShape.for_proxy(proxy, self.vocab)
            model = StackedLlama(shape, members, attention=self.attention, seeds=[])
            self._runners[key] = StackRunner(model, self.device, compile=self.compile)
        return self._runners[key]

    def base_state(self, proxy: str, report: SweepRunReport) -> dict[str, Any]:
        """The anneal base of ``proxy``: loaded from ``checkpoints/`` when it is there, else trained and saved."""
        path = self.directory / CHECKPOINTS_DIR / f"base-{proxy}.pt"
        key = self._base_key(proxy)
        if path.is_file():
            state = torch.load(path, map_location="cpu", weights_only=True)
            if state.get("format") != CHECKPOINT_FORMAT or state.get("key") != key:
                raise ConfigError(f"{path}: this base checkpoint was trained with other settings "
                                  f"({state.get('key')} != {key}); delete it to train a new base")
            self._say(f"base {proxy}: reused {path}")
        else:
            state = self._train_base(proxy, key)
            _atomic_torch_save(state, path)
            self._say(f"base {proxy}: {state['steps']} steps on the prior, train loss {state['train_loss']:.4f}, "
                      f"{state['seconds']:.0f} s -> {path}")
        report.base_checkpoints.append(str(path))
        return state

    def _base_key(self, proxy: str) -> dict[str, Any]:
        s, st = self.spec, self.settings
        return {"proxy": proxy, "vocab": self.vocab, "corpus": s.corpus, "prior": dict(s.prior),
                "base_tokens": s.base_tokens, "seq_len": s.seq_len, "batch_size": s.batch_size, "seed": s.seed,
                "lr": st.lr, "warmup": st.warmup, "weight_decay": st.weight_decay, "betas": list(st.betas),
                "clip": st.clip}

    def _train_base(self, proxy: str, key: dict[str, Any]) -> dict[str, Any]:
        s, st = self.spec, self.settings
        steps = s.base_tokens // (s.batch_size * s.seq_len)
        if steps < 1:
            raise ConfigError(f"sweep.json: base_tokens {s.base_tokens} is less than one step "
                              f"({s.batch_size} x {s.seq_len} tokens)")
        model = StackedLlama(ProxyShape.for_proxy(proxy, self.vocab), 1, attention=self.attention, seeds=[s.seed])
        runner = StackRunner(model, self.device, compile=self.compile and st.compile_base)
        optimizer = make_optimizer(model, lr=st.lr, weight_decay=st.weight_decay, betas=st.betas)
        schedule = {"name": "sweep base (prior)", "total_tokens": s.base_tokens, "domains": list(s.domains),
                    "phases": [{"name": "base", "weights": dict(s.prior)}]}
        loaders = build_member_loaders(s.corpus, [schedule], [s.seed], seq_len=s.seq_len, batch_size=s.batch_size,
                                       num_workers=st.num_workers)
        batches = StackedBatches(loaders, steps, pin=self.device.type == "cuda")
        try:
            log = train_steps(runner, batches, optimizer, lambda i: lr_at(i, steps, st, "constant"), steps, st.clip)
        finally:
            batches.close()
        tail = log.losses[-max(1, steps // 10):, 0]
        return {"format": CHECKPOINT_FORMAT, "key": key, "steps": steps, "train_loss": float(tail.mean()),
                "seconds": log.seconds, "model": {k: v.cpu() for k, v in model.state_dict().items()},
                "optimizer": _cpu(optimizer.state_dict())}

    def train_group(self, proxy: str, runs: list[RunSpec],
                    base: dict[str, Any] | None) -> tuple[GroupStats, dict[str, RunResult | str]]:
        """Train ``runs`` (padded to the proxy's group size) and measure them; returns the group's stats and
        a ``RunResult`` per real run (or the reason there is none)."""
        t0 = time.perf_counter()
        s, st = self.spec, self.settings
        size = self._group_size(proxy, runs)
        members = runs + [runs[0]] * (size - len(runs))
        runner = self.runner(proxy, size)
        model = runner.model
        optimizer = make_optimizer(model, lr=st.lr, weight_decay=st.weight_decay, betas=st.betas)
        if base is not None:
            model.load_replicated(base["model"])
            optimizer.load_state_dict(_replicated_optimizer_state(base["optimizer"], size))
            kind = "anneal"
        else:
            for m, run in enumerate(members):
                model.reset_member(m, seed=run.seed)
            kind = st.lr_schedule
        steps = s.tokens // (s.batch_size * s.seq_len)
        if steps < 1:
            raise ConfigError(f"sweep.json: tokens {s.tokens} is less than one step ({s.batch_size} x {s.seq_len})")
        loaders = build_member_loaders(s.corpus, [run_schedule(s, r) for r in members], [r.seed for r in members],
                                       seq_len=s.seq_len, batch_size=s.batch_size, num_workers=st.num_workers)
        batches = StackedBatches(loaders, steps, pin=self.device.type == "cuda")
        try:
            log = train_steps(runner, batches, optimizer, lambda i: lr_at(i, steps, st, kind), steps, st.clip)
        finally:
            batches.close()
        t_eval = time.perf_counter()
        model.eval()
        losses = heldout_losses(runner.loss, self.heldout, members=size, batch_size=s.batch_size)
        model.train()
        seconds = time.perf_counter() - t0
        tokens = steps * s.batch_size * s.seq_len
        stats = GroupStats(proxy=proxy, members=size, run_ids=tuple(r.run_id for r in runs), steps=steps,
                           step_time_ms=log.step_time_s * 1e3, tokens_per_s=size * s.batch_size * s.seq_len
                           / log.step_time_s, train_seconds=log.seconds, eval_seconds=seconds - (t_eval - t0),
                           seconds=seconds)
        tail = log.losses[-max(1, steps // 10):]
        measured: dict[str, RunResult | str] = {}
        for m, run in enumerate(runs):
            train_loss = float(tail[:, m].mean())
            if not all(math.isfinite(v) for v in [train_loss, *losses[m].values()]):
                measured[run.run_id] = f"non-finite loss: train {train_loss}, held-out {losses[m]}"
                continue
            measured[run.run_id] = RunResult(run_id=run.run_id, seed=run.seed, proxy=proxy, weights=dict(run.weights),
                                             heldout_loss=losses[m], train_loss=train_loss, tokens=tokens,
                                             seconds=seconds / len(runs), step_time_ms=stats.step_time_ms)
        self._say(f"group {proxy} x{size} ({len(runs)} runs): {steps} steps, {stats.step_time_ms:.1f} ms/step, "
                  f"{format_rate(stats.tokens_per_s)} tok/s, eval {stats.eval_seconds:.1f} s, {seconds:.0f} s")
        return stats, measured

    def _group_size(self, proxy: str, runs: list[RunSpec]) -> int:
        """The stack size of ``proxy`` in this call: the first group's (the largest, see :func:`plan_groups`)."""
        sizes = [m for (p, m) in self._runners if p == proxy]
        return max(sizes) if sizes and max(sizes) >= len(runs) else len(runs)

    def _say(self, line: str) -> None:
        if self.progress:
            print(line, flush=True)


def format_rate(tokens_per_s: float) -> str:
    """``2.53M``, ``41.2k``: tokens per second, short."""
    return f"{tokens_per_s / 1e6:.2f}M" if tokens_per_s >= 1e6 else f"{tokens_per_s / 1e3:.1f}k"


def resolve_attention(attention: str, device: torch.device) -> Attention:
    """``auto`` -> ``flex`` on CUDA when FlexAttention imports, else ``sdpa``."""
    if attention in ("sdpa", "flex"):
        return attention  # type: ignore[return-value]
    if attention != "auto":
        raise ConfigError(f"attention: must be auto, sdpa or flex, got {attention!r}")
    if device.type == "cuda":
        try:
            import torch.nn.attention.flex_attention  # noqa: F401
            return "flex"
        except ImportError:
            pass
    return "sdpa"


def _replicated_optimizer_state(state: dict[str, Any], members: int) -> dict[str, Any]:
    """A 1-member AdamW state made M-member: every moment repeated along the model dimension."""
    out = {"param_groups": state["param_groups"], "state": {}}
    for idx, per in state["state"].items():
        out["state"][idx] = {k: (v.expand(members, *v.shape[1:]).clone() if k != "step" else v.clone())
                             for k, v in per.items()}
    return out


def _cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu(v) for v in obj]
    return obj


def _atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` under a temporary name, fsync, rename: a killed save never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
