#!/usr/bin/env python3
"""Safetensors interop between Lopt (Swift) and the Python `safetensors` package.

Usage:
    . /root/.venvs/peers/bin/activate        # any Python 3 with numpy and safetensors
    python3 scripts/make_safetensors_fixture.py [--out PATH]
    python3 scripts/make_safetensors_fixture.py --check FILE

Default mode: writes the test fixture Tests/LoptCoreTests/Resources/python_written.safetensors
with `safetensors` itself, which LoptCoreTests reads and checks value by value. Every value
follows a formula (below), so the Swift test needs no copy of the data. The bytes may differ
between runs only in the order of the `__metadata__` keys (the Rust writer keeps them in a
hash map); names, dtypes, shapes, offsets and values are fixed.

    name             dtype  shape         values (row-major, i = flat index)
    dense/kernel     F32    [3, 4]        (i - 5.5) / 4
    scale            F32    []            2.5
    conv.kernel      F32    [2, 3, 2, 2]  0.25 * i - 3
    empty            F32    [0, 3]        (none)
    steps            I32    [2, 3]        7 * i - 20
    extremes         I32    [5]           -2^31, -1, 0, 1, 2^31 - 1
    pixels           U8     [2, 4]        37 * i mod 256
    half             F16    [8]           1, -2.5, 65504, 2^-24, 2^-14, 0, -0, +inf
    double           F64    [3]           0.1, -7.25, 0.001
    wide             I64    [2]           -2^40, 5
    brain            BF16   [3]           bit patterns 0x3F80, 0xC020, 0x7F80 (1, -2.5, +inf)
    metadata: format = "np", creator = "scripts/make_safetensors_fixture.py",
              note = 'ünïcødé ∑, "quotes", back\\slash, tab\\t, newline\\n'

--check FILE: loads a file (for example one Lopt wrote) with both `safetensors.numpy.load_file`
and `safe_open`, prints its metadata, then each tensor in data order (name, dtype, shape,
values) and exits non-zero if Python cannot read it. To check Lopt's writer by hand:

    swift test --filter LoptCoreTests    # or any Swift code calling SafetensorsFile.write(to:)
    python3 scripts/make_safetensors_fixture.py --check /path/to/written.safetensors

LoptCoreTests runs this check itself when LOPT_SAFETENSORS_PYTHON names a Python executable
that has numpy and safetensors (e.g. LOPT_SAFETENSORS_PYTHON=/root/.venvs/peers/bin/python3).
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
from safetensors import TensorSpec, safe_open, serialize_file
from safetensors.numpy import load_file

DEFAULT_OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..',
    'Tests', 'LoptCoreTests', 'Resources', 'python_written.safetensors')

METADATA = {
    'format': 'np',
    'creator': 'scripts/make_safetensors_fixture.py',
    'note': 'ünïcødé ∑, "quotes", back\\slash, tab\t, newline\n',
}


def fixture_arrays():
    """The fixture's tensors as numpy arrays (BF16 as its uint16 bit patterns)."""
    i12 = np.arange(12, dtype=np.float32)
    return {
        'dense/kernel': ((i12 - 5.5) / 4).reshape(3, 4),
        'scale': np.array(2.5, dtype=np.float32),
        'conv.kernel': (0.25 * np.arange(24, dtype=np.float32) - 3).reshape(2, 3, 2, 2),
        'empty': np.zeros((0, 3), dtype=np.float32),
        'steps': (7 * np.arange(6, dtype=np.int32) - 20).reshape(2, 3),
        'extremes': np.array([-2**31, -1, 0, 1, 2**31 - 1], dtype=np.int32),
        'pixels': ((37 * np.arange(8)) % 256).astype(np.uint8).reshape(2, 4),
        'half': np.array([1, -2.5, 65504, 2**-24, 2**-14, 0, -0.0, np.inf], dtype=np.float16),
        'double': np.array([0.1, -7.25, 0.001], dtype=np.float64),
        'wide': np.array([-2**40, 5], dtype=np.int64),
        'brain': np.array([0x3F80, 0xC020, 0x7F80], dtype=np.uint16),
    }


def write_fixture(path):
    """Writes the fixture with the safetensors serializer (numpy has no bfloat16 dtype, so the
    specs are built directly; `safetensors.numpy.save_file` does the same for other dtypes)."""
    arrays = fixture_arrays()
    specs = {}
    for name, array in arrays.items():  # `arrays` keeps the buffers alive while serializing
        assert array.flags.c_contiguous
        dtype = 'bfloat16' if name == 'brain' else array.dtype.name
        specs[name] = TensorSpec(
            dtype=dtype, shape=array.shape, data_ptr=array.ctypes.data, data_len=array.nbytes)
    serialize_file(specs, path, metadata=METADATA)
    check(path)


def header_order(path):
    """The tensor names as the header lists them, and the header's length."""
    with open(path, 'rb') as f:
        (length,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(length))
    names = [key for key in header if key != '__metadata__']
    return sorted(names, key=lambda n: tuple(header[n]['data_offsets'])), length


def check(path):
    """Loads `path` with the Python library and prints everything in it."""
    names, header_length = header_order(path)
    try:
        numpy_tensors = load_file(path)
        loaded = f'load_file read all {len(numpy_tensors)}'
    except TypeError as error:  # a dtype numpy lacks (BF16); safe_open still reads the rest
        numpy_tensors = {}
        loaded = f'load_file failed ({error}), safe_open read them'
    print(f'{path}: {len(names)} tensors ({loaded}), header {header_length} bytes')
    with safe_open(path, framework='np') as f:
        for key, value in sorted((f.metadata() or {}).items()):
            print(f'  metadata {key!r}: {value!r}')
        for name in names:
            view = f.get_slice(name)
            try:
                array = numpy_tensors[name] if name in numpy_tensors else f.get_tensor(name)
                values = array.ravel().tolist()
            except TypeError:
                values = '(no numpy dtype)'
            print(f'  {name}: {view.get_dtype()} {view.get_shape()} {values}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=DEFAULT_OUT, help='where to write the fixture')
    parser.add_argument('--check', metavar='FILE', help='load FILE with Python and print it')
    args = parser.parse_args()
    if args.check:
        check(args.check)
    else:
        write_fixture(os.path.normpath(args.out))


if __name__ == '__main__':
    sys.exit(main())
