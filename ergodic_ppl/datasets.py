"""Binary data sets as ``(samples, n) int8`` ±1 spins: bundled digits, files, a train/test split.

Bits become spins by the package's one convention, ``s = 1 - 2 b`` (bit 0 -> +1, bit 1 -> -1;
:func:`ergodic_ppl.bits_to_spins`, :mod:`ergodic_ppl.spins.values`): a 1 bit of a file is spin
-1, and so is an "on" (inked) pixel of the digits, which is bit 1. So
``ep.datasets.load("bits.csv")`` equals ``ep.bits_to_spins(np.loadtxt("bits.csv",
delimiter=","))``. Files of 0/1 bits are converted once by that rule; files of ±1 values pass
through unchanged; anything else is an error naming the file and the row. These loaders are
the boundary where bits are accepted: the core API (``learning.fit``, ``BasinMixture``,
``thermo``) takes ±1 spins only.
"""

from __future__ import annotations

import csv
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .spins.values import bits_to_spins_np

__all__ = ["digits", "load", "train_test_split"]


def digits(threshold: float = 8.0, *, return_labels: bool = False):
    """scikit-learn's bundled 8×8 handwritten digits (1797 images, no download) as 64 spins.

    A pixel (grey level 0..16) is "on", bit 1, where it exceeds ``threshold``, and bit 0
    elsewhere; bits become spins by the one rule of :func:`ergodic_ppl.bits_to_spins`, so an
    "on" pixel is spin ``-1`` and the background ``+1``. With ``return_labels``, also the digit
    of each image, ``(1797,) int64``.

    >>> import ergodic_ppl as ep
    >>> ep.datasets.digits().shape
    (1797, 64)
    """
    from sklearn.datasets import load_digits

    threshold = float(threshold)
    if not 0.0 <= threshold < 16.0:
        raise ValueError(
            f"`threshold` must lie in [0, 16) (the digits' grey levels are 0..16); got {threshold}."
        )
    bunch = load_digits()
    spins = bits_to_spins_np(bunch.data > threshold)
    return (spins, bunch.target.astype(np.int64)) if return_labels else spins


def _rows_of_text(path: Path, delimiter) -> list[list[str]]:
    with path.open(newline="") as f:
        if delimiter is None:
            return [line.split() for line in f if line.strip()]
        return [row for row in csv.reader(f, delimiter=delimiter) if any(c.strip() for c in row)]


TEXT_SUFFIXES = {".csv": ",", ".txt": None, ".amat": None}


def load(path, *, array: str | None = None) -> np.ndarray:
    """Rows of binary values from ``.npy``, ``.npz``, ``.csv`` (comma-separated), ``.txt`` or
    ``.amat`` (whitespace-separated; the format in which binarized MNIST is distributed), 0/1
    bits or ±1 spins, as ``(samples, n) int8`` ±1 spins.

    A file of 0/1 bits is converted by the one rule of :func:`ergodic_ppl.bits_to_spins`:
    bit 0 -> +1, bit 1 -> -1 (an "on" MNIST pixel is -1); a file of ±1 values passes through.
    The coding is read from the values: a file with a 0 is bits, one with a -1 spins; a file
    holding only the value 1 carries no sign of its coding and is read as spins (all +1).

    ``array`` names the array of an ``.npz`` archive holding several (e.g. ``"train_data"``);
    an archive with one array needs none.  Raises ``ValueError`` naming the file (and the row,
    for text files) for an empty file, ragged rows, non-numeric or non-binary values, or a
    mixture of the 0/1 and ±1 codings; and naming ``array`` when it is missing or unknown.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"`path` {str(path)!r} is not a file.")
    suffix = path.suffix.lower()
    if array is not None and suffix != ".npz":
        raise ValueError(f"`array` names an array of an .npz archive; {path} is a {suffix} file.")
    if suffix in (".npy", ".npz"):
        values = _load_numpy(path, suffix, array)
        if values.ndim != 2 or values.size == 0:
            raise ValueError(
                f"{path}: expected a non-empty 2-D array (samples, n); got shape {values.shape}."
            )
    elif suffix in TEXT_SUFFIXES:
        values = _load_text(path, TEXT_SUFFIXES[suffix])
    else:
        raise ValueError(
            f"{path}: unknown file type {suffix!r}; use .npy, .npz, .csv, .txt or .amat."
        )
    return _as_spins(values, path)


def _load_numpy(path: Path, suffix: str, array) -> np.ndarray:
    """The array of a ``.npy`` file or of an ``.npz`` archive, never unpickling; a file NumPy
    cannot read (garbage, pickled objects, truncated) gets an error naming it."""
    try:
        values = np.load(path, allow_pickle=False)
        if suffix == ".npz":
            return _npz_array(values, path, array)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        if str(path) in str(err):  # our own message, already naming the file
            raise
        why = "pickled objects or not a NumPy file" if "pickle" in str(err) else str(err)
        raise ValueError(
            f"{path}: not a readable {suffix} array of numbers ({why}; pickles are never "
            "loaded). Save the data with numpy.save / numpy.savez, or as .csv / .txt."
        ) from None
    if not isinstance(values, np.ndarray):
        raise ValueError(
            f"{path}: expected a {suffix} array; NumPy read a {type(values).__name__}."
        )
    return values


def _npz_array(archive, path: Path, array) -> np.ndarray:
    with archive:
        names = list(archive.files)
        if array is None and len(names) == 1:
            array = names[0]
        if array is None:
            raise ValueError(f"{path} holds several arrays {names}; pass `array=` to choose one.")
        if array not in names:
            raise ValueError(f"`array={array!r}` is not in {path}; its arrays are {names}.")
        return archive[array]


def _load_text(path: Path, delimiter) -> np.ndarray:
    """A text file of numbers: NumPy's parser first (fast), the checks below on any failure."""
    try:
        with warnings.catch_warnings():  # an empty file is reported below, by name
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(path, delimiter=delimiter, ndmin=2)
        if values.size:
            return values
    except ValueError:
        pass
    return _parse_rows(path, delimiter)


def _parse_rows(path: Path, delimiter) -> np.ndarray:
    """Row by row, so that an error names the row: empty file, ragged rows, non-numbers."""
    rows = _rows_of_text(path, delimiter)
    if not rows:
        raise ValueError(f"{path}: the file has no rows.")
    width = len(rows[0])
    for r, row in enumerate(rows, 1):
        if len(row) != width:
            raise ValueError(
                f"{path}, row {r}: {len(row)} values where row 1 has {width} (ragged rows)."
            )
    try:
        values = np.array([[float(c) for c in row] for row in rows])
    except ValueError:
        for r, row in enumerate(rows, 1):
            for c in row:
                try:
                    float(c)
                except ValueError:
                    raise ValueError(f"{path}, row {r}: {c!r} is not a number.") from None
        raise
    return values


def _as_spins(values: np.ndarray, path: Path) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise ValueError(f"{path}: values must be real numbers; got dtype {values.dtype}.")
    # checked on the distinct values, converted without a float64 or int64 copy of the table
    # (50 000 x 784 bits: 39 MB as uint8, 314 MB as float64)
    distinct = np.unique(values)
    if not np.isin(distinct, (-1, 0, 1)).all():
        r, c = np.argwhere(~np.isin(values, (-1, 0, 1)))[0]
        raise ValueError(
            f"{path}, row {r + 1}: value {values[r, c].item()!r} in column {c + 1} is not binary "
            "(expected 0/1 bits or -1/+1 spins)."
        )
    has_zero, has_minus = (distinct == 0).any(), (distinct == -1).any()
    if has_zero and has_minus:
        r = int(np.flatnonzero((values == 0).any(1))[0])
        raise ValueError(
            f"{path}: the file mixes 0 (row {r + 1}) and -1 values; use one coding, 0/1 bits "
            "or -1/+1 spins."
        )
    if has_zero:  # 0/1 bits: the one convention, bit 0 -> +1, bit 1 -> -1
        return bits_to_spins_np(values)
    return values.astype(np.int8)


def train_test_split(data, test_fraction: float = 0.2, *, seed: int = 0):
    """``(train, test)``: a random split of the rows of ``data`` (a seeded permutation), with
    ``round(test_fraction * samples)`` test rows (at least one of each).

    >>> import numpy as np, ergodic_ppl as ep
    >>> train, test = ep.datasets.train_test_split(np.ones((10, 3), np.int8), 0.3)
    >>> train.shape, test.shape
    ((7, 3), (3, 3))
    """
    x = np.asarray(data)
    if x.ndim != 2:
        raise ValueError(f"`data` must be (samples, n); got shape {x.shape}.")
    f = float(test_fraction)
    if not 0.0 < f < 1.0:
        raise ValueError(f"`test_fraction` must lie in (0, 1); got {test_fraction}.")
    num_test = int(round(f * len(x)))
    if not 1 <= num_test < len(x):
        raise ValueError(f"{len(x)} rows with test_fraction={f} leave an empty train or test set.")
    order = np.random.default_rng(seed).permutation(len(x))
    return x[order[num_test:]], x[order[:num_test]]
