"""Row-concatenate CSR blocks one at a time: into memory, or straight into an HDF5 file.

A processed split is its GSMs' scaled blocks stacked by rows. Stacking into
preallocated arrays keeps the output plus one block alive (no ``sp.vstack``
copies); writing into an HDF5 file on disk block by block keeps no copy of
the matrix at all, only the block being written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import h5py
import numpy as np
import scipy.sparse as sp

#: Entries per HDF5 chunk of the streamed arrays (1 MiB of float32).
CHUNK = 1 << 18


@dataclass(frozen=True)
class Placed:
    """Where a block goes: its first output row and its first entry in the data and indices arrays."""

    block: sp.csr_matrix
    row: int
    pos: int


def placed(blocks: Iterable[sp.csr_matrix]) -> Iterator[Placed]:
    """Each block with its output offsets, in order."""
    row = pos = 0
    for block in blocks:
        yield Placed(block, row, pos)
        row, pos = row + block.shape[0], pos + block.nnz


def _index_dtype(nnz: int) -> type[np.signedinteger]:
    return np.int32 if nnz < np.iinfo(np.int32).max else np.int64


def csr_bytes(n_rows: int, nnz: int) -> int:
    """Bytes of a float32 CSR matrix's arrays with `nnz` entries, as `stack_rows` and `write_rows` store it."""
    index = np.dtype(_index_dtype(nnz)).itemsize
    return nnz * (np.dtype(np.float32).itemsize + index) + (n_rows + 1) * index


def stack_rows(blocks: Iterable[sp.csr_matrix], n_rows: int, nnz: int, width: int) -> sp.csr_matrix:
    """Row-concatenate CSR blocks of `width` columns into arrays allocated once for `nnz` entries.

    Equivalent to ``sp.vstack`` without its checks and intermediate copies.
    `nnz` comes from the cached statistics, which count nonzero values: stored
    zeros (only from float underflow) grow the arrays.
    """
    data = np.empty(nnz, dtype=np.float32)
    indices = np.empty(nnz, dtype=_index_dtype(nnz))
    indptr = np.zeros(n_rows + 1, dtype=indices.dtype)
    end = 0
    for p in placed(blocks):
        b = p.block
        if p.pos + b.nnz > data.size:
            data, indices = (np.concatenate([a[: p.pos], np.empty(b.nnz, a.dtype)]) for a in (data, indices))
        data[p.pos : p.pos + b.nnz] = b.data
        indices[p.pos : p.pos + b.nnz] = b.indices
        indptr[p.row + 1 : p.row + b.shape[0] + 1] = b.indptr[1:] + p.pos
        end = p.pos + b.nnz
    return sp.csr_matrix((data[:end], indices[:end], indptr), shape=(n_rows, width))


def write_rows(parent: h5py.Group, key: str, blocks: Iterable[sp.csr_matrix], n_rows: int, nnz: int,
               width: int) -> None:
    """Write the stacked blocks as anndata's ``csr_matrix`` element `key` of `parent`, one block at a time.

    The arrays are chunked and resizable, so stored zeros beyond the `nnz`
    estimate grow them like `stack_rows`; anndata reads the element back as
    the same matrix `stack_rows` returns (tested).
    """
    group = parent.create_group(key)
    group.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0",
                        "shape": np.array([n_rows, width], dtype=np.int64)})
    dtype = _index_dtype(nnz)
    arrays = {name: group.create_dataset(name, shape=(nnz,), maxshape=(None,), chunks=(CHUNK,), dtype=t)
              for name, t in (("data", np.float32), ("indices", dtype))}
    indptr = np.zeros(n_rows + 1, dtype=dtype)
    end = 0
    for p in placed(blocks):
        b = p.block
        end = p.pos + b.nnz
        for name, values in (("data", b.data), ("indices", b.indices)):
            if end > arrays[name].shape[0]:
                arrays[name].resize((end,))
            arrays[name][p.pos : end] = values
        indptr[p.row + 1 : p.row + b.shape[0] + 1] = b.indptr[1:] + p.pos
    for array in arrays.values():
        array.resize((end,))
    group.create_dataset("indptr", data=indptr)
