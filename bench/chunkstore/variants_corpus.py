"""A corpus of safetensors model files and the variants that model hubs see every day, for measuring
chunk-level dedup: generated, deterministic (seeded), written as valid safetensors files.

Used by tests/e2e/test_chunk_store.py (asserts) and bench/chunkstore/variants.py (prints a table).

safetensors layout: u64 little-endian header length N, N bytes of JSON header (tensor name -> dtype,
shape, data_offsets relative to the end of the header; optional "__metadata__" string map), padded
with spaces to a multiple of 8, then the tensor bytes in header order.

The base model has `n_tensors` BF16 tensors (default 40) of `total_mib / n_tensors` MiB each. Variants
of the base:
  copy      the identical file (uploaded to another user's repo)
  changed   a few tensors (default 3) replaced by new values, everything else identical
  inserted  the header grows by one metadata key: every tensor byte shifts by a few dozen bytes
  appended  a few tensors (default 4) appended at the end (the header grows too)
  config    the model file unchanged, only config.json edited (a small non-LFS file)
  finetune  (bench only) every BF16 value's lowest mantissa bit flipped at random: a full fine-tune
            with tiny updates; no 64 KiB chunk survives, so chunk dedup cannot help

Tensor data: "random" (default) is uniformly random 16-bit words (PCG64DXSM), incompressible;
"normal" is BF16 values shaped like trained weights (sign and 7 mantissa bits random, exponent drawn
from |N(0, 0.02)|), whose high bytes have low entropy (about what ZipNN-style coders exploit).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

MiB = 1 << 20
ROW_BYTES = 4096  # cols = 2048 BF16 values: every tensor is a multiple of 4 KiB
BLOCK = 8 * MiB   # generation block (bounded memory)


@dataclass(frozen=True)
class Tensor:
    name: str
    rows: int
    seed: int
    cols: int = ROW_BYTES // 2
    flip_seed: int | None = None  # finetune: XOR the low mantissa bit with random bits from this seed

    @property
    def nbytes(self) -> int:
        return self.rows * self.cols * 2


@dataclass(frozen=True)
class Model:
    tensors: tuple[Tensor, ...]
    metadata: dict = field(default_factory=lambda: {"format": "pt"})
    data: str = "random"  # or "normal"

    def header(self) -> bytes:
        h: dict = {"__metadata__": dict(self.metadata)}
        off = 0
        for t in self.tensors:
            h[t.name] = {"dtype": "BF16", "shape": [t.rows, t.cols], "data_offsets": [off, off + t.nbytes]}
            off += t.nbytes
        raw = json.dumps(h, separators=(",", ":")).encode()
        return raw + b" " * (-len(raw) % 8)

    @property
    def size(self) -> int:
        return 8 + len(self.header()) + sum(t.nbytes for t in self.tensors)


@dataclass(frozen=True)
class FileInfo:
    path: Path
    size: int
    sha256: str


# ---- tensor bytes -------------------------------------------------------------------------------------

def _exponent_table() -> np.ndarray:
    """256 BF16 exponent fields, equiprobable quantiles of |N(0, 0.02)| (what trained weights look like)."""
    nd = statistics.NormalDist(0.0, 0.02)
    out = np.empty(256, dtype=np.uint16)
    for u in range(256):
        p = (u + 0.5) / 256
        x = nd.inv_cdf(0.5 + p / 2)  # quantile of |X|
        out[u] = max(1, min(254, math.floor(math.log2(x)) + 127))
    return out


_EXP = _exponent_table()


def tensor_blocks(t: Tensor, data: str = "random"):
    """Yields the tensor's bytes in blocks of at most BLOCK bytes (deterministic from t.seed)."""
    bg = np.random.PCG64DXSM(t.seed)
    flip = np.random.PCG64DXSM(t.flip_seed) if t.flip_seed is not None else None
    left = t.nbytes
    while left:
        n = min(BLOCK, left)  # always a multiple of 8
        words = bg.random_raw(n // 8).view(np.uint16)
        if data == "normal":
            sign_mant = words & np.uint16(0x807F)
            words = sign_mant | (_EXP[(words >> 7) & 0xFF] << 7)
        elif data != "random":
            raise ValueError(f"unknown data kind {data!r}")
        if flip is not None:
            words = words ^ (flip.random_raw(n // 8).view(np.uint16) & np.uint16(1))
        yield words.tobytes()
        left -= n


def write_model(model: Model, path: str | os.PathLike) -> FileInfo:
    """Writes the model as a safetensors file; returns its size and sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    header = model.header()
    size = 0
    with open(path, "wb") as f:
        for block in _file_blocks(model, header):
            h.update(block)
            f.write(block)
            size += len(block)
    assert size == model.size
    return FileInfo(path, size, h.hexdigest())


def _file_blocks(model: Model, header: bytes):
    yield struct.pack("<Q", len(header)) + header
    for t in model.tensors:
        yield from tensor_blocks(t, model.data)


# ---- the base model and its variants ----------------------------------------------------------------

def base_model(total_mib: int = 1024, n_tensors: int = 40, seed: int = 1, data: str = "random") -> Model:
    """About total_mib MiB of BF16 tensors in n_tensors equal tensors (at least one 4 KiB row each)."""
    rows = max(1, total_mib * MiB // n_tensors // ROW_BYTES)
    tensors = tuple(Tensor(f"model.layers.{i}.weight", rows, seed * 1_000_003 + i) for i in range(n_tensors))
    return Model(tensors, {"format": "pt"}, data)


def changed(base: Model, k: int = 3) -> tuple[Model, int]:
    """k tensors spread through the file get new values; returns (model, changed tensor bytes)."""
    n = len(base.tensors)
    picks = sorted({(i * n) // k + n // (2 * k) for i in range(k)})
    ts = list(base.tensors)
    for i in picks:
        ts[i] = replace(ts[i], seed=ts[i].seed + 7_000_000)
    return replace(base, tensors=tuple(ts)), sum(base.tensors[i].nbytes for i in picks)


def inserted(base: Model, key_chars: int = 90) -> tuple[Model, int]:
    """One more __metadata__ key: the header grows, every tensor byte after it shifts; returns
    (model, bytes inserted)."""
    meta = dict(base.metadata)
    meta["modelhub_note"] = ("chunk-store test: header grew by one key " * 10)[:key_chars]
    m = replace(base, metadata=meta)
    return m, m.size - base.size


def appended(base: Model, k: int = 4) -> tuple[Model, int]:
    """k new tensors (same size as the others) after the last one; returns (model, bytes appended,
    counting the header growth)."""
    last = base.tensors[-1]
    extra = tuple(Tensor(f"lm_head.extra.{j}.weight", last.rows, last.seed + 9_000_000 + j) for j in range(k))
    m = replace(base, tensors=base.tensors + extra)
    return m, m.size - base.size


def finetuned(base: Model) -> tuple[Model, int]:
    """Every value's lowest mantissa bit randomly flipped; returns (model, bytes touched = all tensors)."""
    ts = tuple(replace(t, flip_seed=t.seed + 11_000_000) for t in base.tensors)
    return replace(base, tensors=ts), sum(t.nbytes for t in base.tensors)


def config_json(version: int = 1) -> bytes:
    cfg = {
        "architectures": ["ModelhubTestForCausalLM"],
        "model_type": "llama",
        "hidden_size": 2048,
        "num_hidden_layers": 40,
        "torch_dtype": "bfloat16",
        "rope_theta": 10000.0 * version,
        "modelhub_config_version": version,
    }
    return (json.dumps(cfg, indent=2) + "\n").encode()


@dataclass(frozen=True)
class Variant:
    key: str           # "base", "a".."f"
    name: str          # copy, changed, ...
    what: str          # one line for tables
    model: Model | None  # None: only config.json changes
    new_bytes: int     # bytes of genuinely new content (changed/appended/inserted); 0 for a copy
    config: bytes | None = None


def corpus(total_mib: int = 1024, data: str = "random", with_finetune: bool = False) -> list[Variant]:
    """The base model then variants a-e (and f, the full fine-tune, when asked), in upload order."""
    base = base_model(total_mib, data=data)
    ch, ch_bytes = changed(base)
    ins, ins_bytes = inserted(base)
    app, app_bytes = appended(base)
    out = [
        Variant("base", "base", f"{len(base.tensors)} BF16 tensors", base, base.size, config_json(1)),
        Variant("a", "copy", "identical file, other user's repo", base, 0),
        Variant("b", "changed", f"3 of {len(base.tensors)} tensors new", ch, ch_bytes),
        Variant("c", "inserted", f"header +{ins_bytes} B: every tensor shifted", ins, ins_bytes),
        Variant("d", "appended", "4 tensors appended", app, app_bytes),
        Variant("e", "config", "config.json edited only", None, len(config_json(2)), config_json(2)),
    ]
    if with_finetune:
        ft, ft_bytes = finetuned(base)
        out.append(Variant("f", "finetune", "every value's low bit flipped at random", ft, ft_bytes))
    return out


def stored_bytes(data_dir: str | os.PathLike) -> int:
    """Sum of file sizes under DATA/blobs/xorbs (what the chunk store keeps on disk)."""
    total = 0
    root = Path(data_dir) / "blobs" / "xorbs"
    if not root.exists():
        return 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            try:
                total += os.stat(os.path.join(dirpath, n)).st_size
            except FileNotFoundError:  # collected while we walked
                pass
    return total


if __name__ == "__main__":  # quick self-check: python variants_corpus.py DIR [MiB]
    import sys
    import time

    d = Path(sys.argv[1])
    mib = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    for v in corpus(mib, with_finetune=True):
        if v.model is None:
            continue
        t0 = time.perf_counter()
        fi = write_model(v.model, d / f"{v.key}.safetensors")
        print(f"{v.key:5s} {v.name:9s} {fi.size:>12d} B  new {v.new_bytes:>11d} B  {fi.sha256[:16]}  "
              f"{fi.size / MiB / (time.perf_counter() - t0):.0f} MiB/s")
