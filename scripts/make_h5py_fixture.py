#!/usr/bin/env python3
"""Writes Tests/HDF5Tests/Fixtures/h5py_fixture.h5, the file the HDF5 tests read to prove that
files written by h5py (not by this project) read correctly. Run by hand: python3 scripts/make_h5py_fixture.py
Every value is a simple formula, restated in Tests/HDF5Tests/H5pyFixtureTests.swift."""
import os
import h5py
import numpy as np

path = os.path.join(os.path.dirname(__file__), "..", "Tests", "HDF5Tests", "Fixtures", "h5py_fixture.h5")
with h5py.File(path, "w", libver="earliest") as f:
    f["float32"] = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8          # k/8
    f["float16"] = (np.arange(10, dtype=np.float16) - 5) / 4                       # (k-5)/4
    f["float64"] = np.linspace(0, 1, 5)                                            # k/4
    f["uint8"] = np.arange(256, dtype=np.uint8)                                    # k
    f["int64"] = -np.arange(6, dtype=np.int64) * 1_000_000_007                     # -k*1e9+7
    f.create_dataset("chunked/gzip_int32", data=np.arange(1000, dtype=np.int32) * 3,
                     chunks=(100,), compression="gzip", compression_opts=4, shuffle=True)  # 3k
    f.attrs["title"] = "written by h5py"
    f.attrs["names"] = ["alpha", "beta", "gamma"]                                   # variable-length str list
    f.attrs["fixed"] = np.array([b"ab", b"cde"], dtype="S4")                       # fixed-length, NUL-padded
    f.attrs["count"] = np.int32(42)
    f.attrs["scale"] = 0.5
    f.attrs["vector"] = np.array([1.5, -2.0, 3.25])
    f["float32"].attrs["unit"] = "eighths"
print("wrote", os.path.normpath(path))
