"""IDX readers (MNIST's file format) with every check of CONTRACT.md, and the four-file dataset.

Files are read, and fully checked, in this order: train images, train labels (then their
counts are compared), test images, test labels (then theirs). Each file: header length, magic
number, payload length; labels are checked to be digits after the count comparison. Choices
CONTRACT.md leaves open (the Rust binary makes the same): an image file with no samples (a count,
rows or cols of 0) and test images of another size than the training images are errors; bytes
after the announced payload are ignored.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from python_impl.errors import NUL_IN_PATH, InputError

IMAGES_MAGIC = 0x00000803  # u8 data, 3 dimensions: count, rows, cols
LABELS_MAGIC = 0x00000801  # u8 data, 1 dimension: count
NUM_CLASSES = 10
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass
class Dataset:
    """Pixels as float32 p / 255, one row per image; labels as uint8 digits."""

    train_x: np.ndarray  # float32 (n_train, rows * cols), C-contiguous
    train_y: np.ndarray  # uint8 (n_train,)
    test_x: np.ndarray  # float32 (n_test, rows * cols)
    test_y: np.ndarray  # uint8 (n_test,)
    rows: int = 28  # image height in pixels
    cols: int = 28  # image width in pixels


def find_file(directory: str, name: str) -> str:
    """The raw file if present, else the same name + .gz; InputError when neither exists."""
    raw = os.path.join(directory, name)
    for candidate in (raw, raw + ".gz"):
        if os.path.isfile(candidate):
            return candidate
    raise InputError(  # the folder as given, then "/" (as the Rust binary prints it)
        f"{directory}/{name}: not found (nor {name}.gz); "
        "expected the four MNIST IDX files in dataset.dir"
    )


def read_file(path: Path | str, limit: int | None = None) -> bytes:
    """The file's bytes; InputError "cannot read" with the OS's reason (any input file). With a
    limit, reading stops after limit + 1 bytes (the file may be endless, like /dev/zero), so
    more than `limit` bytes back means the file is longer than that."""
    try:
        with open(path, "rb") as f:
            return f.read() if limit is None else f.read(limit + 1)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except ValueError:  # a NUL byte in the path (only a JSON string can hold one)
        raise InputError(f"{path}: cannot read: {NUL_IN_PATH}") from None


def read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when its name ends in .gz."""
    raw = read_file(path)
    return gunzip(path, raw) if path.endswith(".gz") else raw


def gunzip(path: str, raw: bytes) -> bytes:
    """One or more whole gzip members back to back (RFC 1952, as zcat reads them), nothing else.

    An empty file, a truncated member, a bad checksum and any bytes after the last member (even
    zero padding) are "not a valid gzip stream": the Rust binary's flate2 MultiGzDecoder draws
    the same line, so both contenders accept exactly the same bytes.
    """
    invalid = InputError(f"{path}: not a valid gzip stream")
    members = []
    rest = raw
    while True:
        member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip wrapper, CRC checked
        try:
            members.append(member.decompress(rest))
        except zlib.error:
            raise invalid from None
        if not member.eof:  # empty or truncated
            raise invalid
        rest = member.unused_data
        if not rest:
            return b"".join(members)


def _header(path: str, raw: bytes, words: int, magic: int, kind: str) -> list[int]:
    """The big-endian u32 header words after checking the length and the magic number."""
    size = 4 * words
    if len(raw) < size:
        raise InputError(
            f"{path}: truncated: expected a {size}-byte IDX header, found {len(raw)} bytes"
        )
    if (found := int.from_bytes(raw[:4], "big")) != magic:
        raise InputError(f"{path}: bad magic number 0x{found:08x}, expected 0x{magic:08x} ({kind})")
    return [int.from_bytes(raw[i : i + 4], "big") for i in range(4, size, 4)]


def _body(path: str, raw: bytes, header_size: int, expected: int) -> np.ndarray:
    """The first `expected` u8 bytes after the header."""
    found = len(raw) - header_size
    if found < expected:
        raise InputError(
            f"{path}: truncated: expected {expected} bytes after the header, found {found}"
        )
    return np.frombuffer(raw, dtype=np.uint8, count=expected, offset=header_size)


def read_images(path: str) -> np.ndarray:
    """An IDX image file as uint8 (count, rows, cols)."""
    raw = read_bytes(path)
    count, rows, cols = _header(path, raw, 4, IMAGES_MAGIC, "IDX images")
    pixels = _body(path, raw, 16, count * rows * cols)
    if count * rows * cols == 0:
        raise InputError(f"{path}: holds no samples, expected at least one")
    return pixels.reshape(count, rows, cols)


def _label_bytes(path: str) -> np.ndarray:
    """An IDX label file's labels, header and length checked (not yet their values)."""
    raw = read_bytes(path)
    (count,) = _header(path, raw, 2, LABELS_MAGIC, "IDX labels")
    return _body(path, raw, 8, count)


def check_digits(path: str, labels: np.ndarray) -> None:
    """Every label must be a class 0-9; names the first one that is not."""
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        i = int(bad[0])
        raise InputError(f"{path}: label {labels[i]} at index {i} is not a digit 0-9")


def _split(directory: str, split: str) -> tuple[np.ndarray, np.ndarray, str]:
    """One split's images (uint8 3-d), labels and image file name, counts checked."""
    images_name, labels_name = FILES[split]
    images_path = find_file(directory, images_name)
    images = read_images(images_path)
    labels_path = find_file(directory, labels_name)
    labels = _label_bytes(labels_path)
    if len(labels) != len(images):
        raise InputError(
            f"{labels_path}: {len(labels)} labels but {images_path} has {len(images)} images"
        )
    check_digits(labels_path, labels)
    return images, labels, images_path


def to_inputs(images: np.ndarray) -> np.ndarray:
    """Pixels p in 0..255 to float32 p / 255 (a correctly rounded float32 division), flattened."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    flat /= np.float32(255)
    return flat


def load_dataset(directory: Path | str) -> Dataset:
    """The four IDX files of `directory` (raw or .gz), checked; InputError on any problem."""
    directory = str(directory)
    train_images, train_y, train_path = _split(directory, "train")
    test_images, test_y, test_path = _split(directory, "test")
    if test_images.shape[1:] != train_images.shape[1:]:
        r, c = test_images.shape[1:]
        tr, tc = train_images.shape[1:]
        raise InputError(f"{test_path}: images are {r}x{c} pixels but {train_path} has {tr}x{tc}")
    rows, cols = train_images.shape[1:]
    return Dataset(
        train_x=to_inputs(train_images),
        train_y=train_y.copy(),
        test_x=to_inputs(test_images),
        test_y=test_y.copy(),
        rows=rows,
        cols=cols,
    )


def write_images(path: str | Path, images: np.ndarray) -> None:
    """Write uint8 (count, rows, cols) images as an IDX file (gzipped when the name ends .gz)."""
    images = np.asarray(images, dtype=np.uint8)
    header = np.array([IMAGES_MAGIC, *images.shape], dtype=">u4").tobytes()
    _write(str(path), header + images.tobytes())


def write_labels(path: str | Path, labels: np.ndarray) -> None:
    """Write uint8 labels as an IDX file (gzipped when the name ends .gz)."""
    labels = np.asarray(labels, dtype=np.uint8)
    _write(
        str(path), np.array([LABELS_MAGIC, len(labels)], dtype=">u4").tobytes() + labels.tobytes()
    )


def _write(path: str, raw: bytes) -> None:
    with open(path, "wb") as f:
        f.write(gzip.compress(raw, mtime=0) if path.endswith(".gz") else raw)
