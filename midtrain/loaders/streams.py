"""Per-domain sequence streams: documents in a seeded permutation per epoch, packed into sequences.

A stream is a pure function of (domain documents, seed, cursor): ``take(cursor, n, seq_len)``
returns the next ``n`` sequences as segments ``(sequence, document, begin, length)`` and the
cursor after them. Cursors are a few integers, so they go into the loader's state dict.

- :class:`ConcatStream` concatenates the epochs' permuted documents into one endless token stream
  and cuts it every ``seq_len`` tokens (concat-and-split). Cursor: the token offset in that stream,
  or, once a length rule has applied, ``[epoch, position in the epoch's order, token offset in
  that document]``.

A *length rule* (a phase's ``length_upsample`` / ``min_doc_tokens``, as the integer key of
:class:`~midtrain.mixers.schedule.LengthRule`) drops documents from the stream while it is in
force: a document of ``n`` tokens stays when ``n >= min_tokens`` and (``n >= below`` or its draw,
seeded by (seed, domain, epoch, document), is under ``keep``). The rule in force when a take starts
applies to every document not yet begun; a document already begun is always finished.
- :class:`BestFitStream` takes windows of ``window`` documents of an epoch, splits documents longer
  than ``seq_len`` into ``seq_len`` pieces, packs the pieces best-fit-decreasing into bins of
  ``seq_len`` and emits the bins in a seeded order. Documents that fit are never split. Cursor:
  ``[epoch, window, bin, piece, window_seq_len]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from midtrain.loaders.kernels import best_fit_decreasing, split_into_sequences, stream_pieces


def seeded_rng(*key: int) -> np.random.Generator:
    """A generator seeded by a tuple of non-negative integers (seed, domain, epoch, ...)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


@dataclass
class Segments:
    """Sequences as flat segment arrays: ``seq`` (sequence index, non-decreasing), doc, begin, length."""

    seq: np.ndarray
    doc: np.ndarray
    begin: np.ndarray
    length: np.ndarray


class _EpochCache:
    """Permutation and cumulative lengths of the most recently used epochs of one domain."""

    def __init__(self, lengths: np.ndarray, seed: int, domain_index: int, keep: int = 3) -> None:
        self.lengths = lengths
        self.seed = seed
        self.domain_index = domain_index
        self.keep = keep
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def get(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._cache.get(epoch)
        if hit is None:
            perm = seeded_rng(self.seed, self.domain_index, epoch).permutation(len(self.lengths))
            cum = np.zeros(len(perm) + 1, np.int64)
            np.cumsum(self.lengths[perm], out=cum[1:])
            if len(self._cache) >= self.keep:
                self._cache.pop(min(self._cache))
            hit = self._cache[epoch] = (perm, cum)
        return hit


Drop = tuple[int, np.ndarray]
"""Removed documents: ``(key, mask)``, a bool per document; equal keys mean equal masks (the amendment era)."""
RuleKey = tuple[int, int, int]
"""A length rule as integers: ``(min_tokens, below, keep in parts per billion)``."""
KEEP_SCALE = 10**9
MAX_EMPTY_EPOCHS = 64
"""Consecutive epochs a length rule may leave empty before the stream gives up (bad luck with a
tiny ``keep`` on a domain of only short documents)."""


def kept_documents(lengths: np.ndarray, rule: RuleKey, seed: int, domain_index: int, epoch: int) -> np.ndarray:
    """Which documents ``rule`` keeps in ``epoch`` (a bool per document): a pure function of
    (seed, domain, epoch, document), so a resume keeps the same ones."""
    min_tokens, below, keep_ppb = rule
    kept = lengths >= max(min_tokens, 1)
    if below:
        draw = seeded_rng(seed, domain_index, epoch, 0x6C656E67).integers(0, KEEP_SCALE, len(lengths))
        kept &= (lengths >= below) | (draw < keep_ppb)
    return kept


def check_rule(lengths: np.ndarray, rule: RuleKey) -> str | None:
    """Why ``rule`` can never keep a document of this domain, or ``None``."""
    min_tokens, below, keep_ppb = rule
    longest = int(lengths.max()) if len(lengths) else 0
    if longest < max(min_tokens, 1):
        return f"no document has min_doc_tokens={min_tokens:,} tokens (the longest has {longest:,})"
    if below and keep_ppb == 0 and longest < below:
        return f"length_upsample keeps 0 of the documents below {below:,} tokens and none is longer (longest {longest:,})"
    return None


class ConcatStream:
    """Concat-and-split over an endless stream of seeded epochs."""

    def __init__(self, lengths: np.ndarray, seed: int, domain_index: int) -> None:
        self.lengths = lengths
        self.seed = seed
        self.domain_index = domain_index
        self.tokens_per_epoch = int(lengths.sum())
        if self.tokens_per_epoch == 0:
            raise ValueError("a domain with no tokens cannot be sampled")
        self._epochs = _EpochCache(lengths, seed, domain_index)
        self._filtered: dict[tuple[int, RuleKey | None], np.ndarray] = {}

    @staticmethod
    def initial_cursor() -> list[int]:
        return [0]

    def _cum(self, epoch: int, rule: RuleKey | None, drop: Drop | None = None) -> np.ndarray:
        """Cumulative kept lengths in the epoch's order (dropped and removed documents count 0)."""
        key = (epoch, rule, None if drop is None else drop[0])
        hit = self._filtered.get(key)
        if hit is None:
            perm, cum = self._epochs.get(epoch)
            if rule is None and drop is None:
                hit = cum
            else:
                kept = np.ones(len(self.lengths), bool) if rule is None else \
                    kept_documents(self.lengths, rule, self.seed, self.domain_index, epoch)
                if drop is not None:
                    kept &= ~drop[1]
                lengths = np.where(kept, self.lengths, 0)
                hit = np.zeros(len(perm) + 1, np.int64)
                np.cumsum(lengths[perm], out=hit[1:])
            if len(self._filtered) >= 4:
                self._filtered.pop(next(iter(self._filtered)))
            self._filtered[key] = hit
        return hit

    def take(self, cursor: list[int], n: int, seq_len: int, rule: RuleKey | None = None,
             drop: Drop | None = None) -> tuple[Segments, list[int]]:
        """The next ``n`` sequences of ``seq_len`` tokens and the cursor after them; ``rule`` and
        ``drop`` (removed documents) leave documents not yet begun out of the stream."""
        if rule is not None or drop is not None or len(cursor) == 3:
            return self._take_documents(cursor, n, seq_len, rule, drop)
        start = cursor[0]
        stop = start + n * seq_len
        parts = []
        pos = start
        while pos < stop:
            epoch, offset = divmod(pos, self.tokens_per_epoch)
            end = min(stop - pos, self.tokens_per_epoch - offset) + offset
            perm, cum = self._epochs.get(epoch)
            parts.append(stream_pieces(perm, cum, offset, end))
            pos += end - offset
        docs = np.concatenate([p[0] for p in parts])
        begins = np.concatenate([p[1] for p in parts])
        lengths = np.concatenate([p[2] for p in parts])
        seq, d, b, ln = split_into_sequences(docs, begins, lengths, seq_len)
        return Segments(seq, d, b, ln), [stop]

    def _take_documents(self, cursor: list[int], n: int, seq_len: int, rule: RuleKey | None,
                        drop: Drop | None = None) -> tuple[Segments, list[int]]:
        """``take`` with a document-level cursor: the documents not yet begun pass ``rule`` and are
        not in ``drop``; a document begun is finished unless it was removed since."""
        if len(cursor) == 1:  # a token offset: convert it once to (epoch, position, offset)
            epoch, offset = divmod(cursor[0], self.tokens_per_epoch)
            cum = self._epochs.get(epoch)[1]
            pos = int(np.searchsorted(cum, offset, "right")) - 1
            cursor = [epoch, pos, offset - int(cum[pos])]
        epoch, pos, off = (int(x) for x in cursor)
        need = n * seq_len
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        empty = 0
        while need > 0:
            perm, _ = self._epochs.get(epoch)
            if pos >= len(perm):
                epoch, pos, off = epoch + 1, 0, 0
                continue
            if off > 0 and drop is not None and drop[1][int(perm[pos])]:
                pos, off = pos + 1, 0  # a removed document is not finished
                continue
            if off > 0:  # finish the document already begun, whatever the rule
                doc = int(perm[pos])
                k = min(need, int(self.lengths[doc]) - off)
                parts.append((np.array([doc]), np.array([off]), np.array([k])))
                need -= k
                off += k
                if off == int(self.lengths[doc]):
                    pos, off = pos + 1, 0
                continue
            cum = self._cum(epoch, rule, drop)
            start, end = int(cum[pos]), int(cum[-1])
            if end == start:
                empty = empty + 1 if start == 0 else 0
                if empty > MAX_EMPTY_EPOCHS:
                    raise ValueError(f"length rule {rule} kept no document in {MAX_EMPTY_EPOCHS} epochs")
                epoch, pos = epoch + 1, 0
                continue
            empty = 0
            stop = min(end, start + need)
            parts.append(stream_pieces(perm, cum, start, stop))
            need -= stop - start
            if stop == end:
                epoch, pos = epoch + 1, 0
            else:
                pos = int(np.searchsorted(cum, stop, "right")) - 1
                off = stop - int(cum[pos])
        docs = np.concatenate([p[0] for p in parts]).astype(np.int64, copy=False)
        begins = np.concatenate([p[1] for p in parts]).astype(np.int64, copy=False)
        lengths = np.concatenate([p[2] for p in parts]).astype(np.int64, copy=False)
        seq, d, b, ln = split_into_sequences(docs, begins, lengths, seq_len)
        return Segments(seq, d, b, ln), [epoch, pos, off]



class BestFitStream:
    """Best-fit-decreasing packing within windows of documents; long documents split, never cut."""

    def __init__(self, lengths: np.ndarray, seed: int, domain_index: int, window: int) -> None:
        self.lengths = lengths
        self.n_docs = len(lengths)
        self.nonempty = int((lengths > 0).sum())
        if self.nonempty == 0:
            raise ValueError("a domain with no tokens cannot be sampled")
        self.window = max(1, window)
        self.windows_per_epoch = -(-self.n_docs // self.window)
        self.seed = seed
        self.domain_index = domain_index
        self._epochs = _EpochCache(lengths, seed, domain_index)
        self._packed: dict[tuple[int, int, int], tuple] = {}

    @staticmethod
    def initial_cursor() -> list[int]:
        return [0, 0, 0, 0, 0]

    def _pack(self, epoch: int, window: int, seq_len: int, rule: RuleKey | None = None):
        """Bins of one window as CSR: ``bin_ptr``, then items (doc, begin, length) bin by bin."""
        key = (epoch, window, seq_len, rule)
        hit = self._packed.get(key)
        if hit is not None:
            return hit
        perm, _ = self._epochs.get(epoch)
        docs = perm[window * self.window:(window + 1) * self.window]
        lens = self.lengths[docs]
        if rule is not None:
            lens = np.where(kept_documents(self.lengths, rule, self.seed, self.domain_index, epoch)[docs], lens, 0)
        docs, lens = docs[lens > 0], lens[lens > 0]
        # split documents longer than seq_len into seq_len pieces (the last one shorter)
        n_pieces = -(-lens // seq_len)
        item_doc = np.repeat(docs, n_pieces)
        first = np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
        piece_idx = np.arange(len(item_doc)) - first
        item_begin = piece_idx * seq_len
        item_len = np.minimum(np.repeat(lens, n_pieces) - item_begin, seq_len)
        bin_of = best_fit_decreasing(item_len, seq_len)
        n_bins = int(bin_of.max()) + 1 if len(bin_of) else 0
        # seeded bin order: BFD creates bins longest-first, so emit them shuffled
        order = seeded_rng(self.seed, self.domain_index, epoch, window, 1).permutation(n_bins)
        rank = np.empty(n_bins, np.int64)
        rank[order] = np.arange(n_bins)
        item_rank = rank[bin_of]
        items = np.lexsort((np.arange(len(item_rank)), item_rank))
        bin_ptr = np.zeros(n_bins + 1, np.int64)
        np.cumsum(np.bincount(item_rank, minlength=n_bins), out=bin_ptr[1:])
        hit = (bin_ptr, item_doc[items], item_begin[items], item_len[items])
        if len(self._packed) >= 4:
            self._packed.pop(next(iter(self._packed)))
        self._packed[key] = hit
        return hit

    def take(self, cursor: list[int], n: int, seq_len: int, rule: RuleKey | None = None,
             drop: Drop | None = None) -> tuple[Segments, list[int]]:
        """The next ``n`` sequences (bins) and the cursor after them. Windows are packed without
        regard to ``drop``; the pieces of removed documents are taken out of the bins afterwards (more
        padding), so a window's packing never depends on when a removal came."""
        seg, out = self._take(cursor, n, seq_len, rule)
        if drop is not None and len(seg.doc):
            keep = ~drop[1][seg.doc]
            seg = Segments(seg.seq[keep], seg.doc[keep], seg.begin[keep], seg.length[keep])
        return seg, out

    def _take(self, cursor: list[int], n: int, seq_len: int,
              rule: RuleKey | None = None) -> tuple[Segments, list[int]]:
        epoch, window, bin_i, piece, win_len = cursor[:5]
        # the rule a window was packed under (cursors without one: no rule)
        win_rule: RuleKey | None = tuple(cursor[5:8]) if len(cursor) == 8 else None  # type: ignore[assignment]
        seqs, docs, begins, lengths = [], [], [], []
        produced = 0
        while produced < n:
            if bin_i == 0 and piece == 0:
                win_len = seq_len  # a window is packed at the seq_len and rule current when it starts
                win_rule = rule
            bin_ptr, idoc, ibeg, ilen = self._pack(epoch, window, win_len, win_rule)
            n_bins = len(bin_ptr) - 1
            if bin_i >= n_bins:
                window += 1
                if window >= self.windows_per_epoch:
                    epoch, window = epoch + 1, 0
                bin_i, piece = 0, 0
                continue
            if win_len <= seq_len and piece == 0:
                # fast path: whole bins, each one sequence (padded later)
                k = min(n - produced, n_bins - bin_i)
                a, b = bin_ptr[bin_i], bin_ptr[bin_i + k]
                seqs.append(np.repeat(np.arange(produced, produced + k), np.diff(bin_ptr[bin_i:bin_i + k + 1])))
                docs.append(idoc[a:b])
                begins.append(ibeg[a:b])
                lengths.append(ilen[a:b])
                produced += k
                bin_i += k
                continue
            # the window was packed for a longer seq_len than now: split this bin into pieces
            a, b = bin_ptr[bin_i], bin_ptr[bin_i + 1]
            s, d, bg, ln = _split_bin(idoc[a:b], ibeg[a:b], ilen[a:b], seq_len)
            n_piece = int(s.max()) + 1
            mask = s == piece
            seqs.append(np.full(int(mask.sum()), produced, np.int64))
            docs.append(d[mask])
            begins.append(bg[mask])
            lengths.append(ln[mask])
            produced += 1
            piece += 1
            if piece >= n_piece:
                bin_i, piece = bin_i + 1, 0
        seg = Segments(np.concatenate(seqs), np.concatenate(docs), np.concatenate(begins), np.concatenate(lengths))
        out = [epoch, window, bin_i, piece, win_len]
        return seg, out + list(win_rule) if win_rule is not None else out



def _split_bin(docs: np.ndarray, begins: np.ndarray, lengths: np.ndarray, seq_len: int):
    """Cut one bin's items into rows of at most ``seq_len`` tokens (the last row may be short)."""
    total = int(lengths.sum())
    pad = -total % seq_len
    if pad:
        docs = np.append(docs, -1)
        begins = np.append(begins, 0)
        lengths = np.append(lengths, pad)
    s, d, b, ln = split_into_sequences(docs, begins, lengths, seq_len)
    keep = d >= 0
    return s[keep], d[keep], b[keep], ln[keep]
