#!/usr/bin/env python3
"""Turns a PyTorch checkpoint (.pth/.pt) into a file `kd` reads: safetensors (by extension) or the
project's HDF5 checkpoint. Needs torch only (h5py too for an .h5 output); no project code.

    python3 scripts/import_pytorch.py ckpt_epoch_240.pth --output teacher.safetensors \\
        --arch resnet32x4 --mean 0.5071,0.4865,0.4409 --std 0.2673,0.2564,0.2762 --classes airplane,automobile,...

It reads a plain state_dict and the common wrappers: {"model": ...} (RepDistiller's published
teachers), {"state_dict": ...}, {"net": ...}, {"model_state_dict": ...}, a whole pickled nn.Module,
and the "module." prefix DataParallel adds. `--arch`, `--classes`, `--mean`, `--std` go into the
safetensors `__metadata__` (or the HDF5 attributes), which `kd` reads as the checkpoint's facts.
"""
import argparse
import json
import os
import struct
import sys

import torch

WRAPPER_KEYS = ("model", "state_dict", "net", "model_state_dict", "module")


def unwrap(obj, key=None):
    """The state_dict inside `obj`: a dict of tensors, found under `key` or a common wrapper key."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if not isinstance(obj, dict):
        sys.exit(f"import_pytorch: the file holds a {type(obj).__name__}, not a state_dict or a wrapper of one")
    if key is not None:
        if key not in obj:
            sys.exit(f"import_pytorch: no key '{key}'; the file has {', '.join(map(str, obj))}")
        return unwrap(obj[key])
    if obj and all(torch.is_tensor(v) for v in obj.values()):
        return obj
    for wrapper in WRAPPER_KEYS:
        if wrapper in obj:
            return unwrap(obj[wrapper])
    sys.exit(f"import_pytorch: found no state_dict; top-level keys: {', '.join(map(str, obj))} (choose one with --key)")


def strip_prefix(state):
    """Drops DataParallel's "module." prefix when every name has it."""
    if state and all(name.startswith("module.") for name in state):
        return {name[len("module."):]: t for name, t in state.items()}
    return state


def tensors(state):
    """Contiguous CPU tensors: floating ones as float32, integer ones (num_batches_tracked) as int64."""
    out = {}
    for name, t in state.items():
        t = t.detach().cpu()
        out[name] = (t.to(torch.float32) if t.is_floating_point() else t.to(torch.int64)).contiguous()
    return out


def write_safetensors(state, metadata, path):
    """The safetensors format by hand: u64 header length, JSON header, raw little-endian bytes."""
    header, blobs, offset = {}, [], 0
    for name in sorted(state):
        t = state[name]
        data = t.numpy().astype("<f4" if t.dtype == torch.float32 else "<i8").tobytes()
        header[name] = {"dtype": "F32" if t.dtype == torch.float32 else "I64", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(path + ".tmp", path)


def write_hdf5(state, metadata, path):
    """The project's HDF5 checkpoint: one dataset per state_dict entry, facts as root attributes."""
    import h5py
    import numpy as np
    with h5py.File(path + ".tmp", "w") as f:
        for name, t in state.items():
            f.create_dataset(name, data=t.numpy())
        for key, value in metadata.items():
            if key in ("input_mean", "input_std"):
                f.attrs[key] = np.array([float(v) for v in value.split(",")])
            elif key == "classes":
                f.attrs[key] = [c.encode() for c in value.split(",")]
            else:
                f.attrs[key] = value
        if "classes" in metadata:
            f.attrs["num_classes"] = np.int64(len(metadata["classes"].split(",")))
        f.attrs["format"] = "kd checkpoint: PyTorch state_dict names and shapes"
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--output", required=True, help="a .safetensors or .h5 file")
    parser.add_argument("--key", help="the top-level key holding the state_dict (default: found)")
    parser.add_argument("--arch", help="the zoo's architecture (mnist_teacher, resnet32x4, ...)")
    parser.add_argument("--classes", help="class names in label order, comma-separated")
    parser.add_argument("--mean", help="per-channel input mean of pixels in [0, 1], comma-separated")
    parser.add_argument("--std", help="per-channel input standard deviation, comma-separated")
    parser.add_argument("--unsafe", action="store_true", help="allow arbitrary pickles (a whole nn.Module); only for files you trust")
    args = parser.parse_args()
    try:
        obj = torch.load(args.checkpoint, map_location="cpu", weights_only=not args.unsafe)
    except Exception as error:  # noqa: BLE001 - one line for the user, whatever torch raises
        reason = (str(error).splitlines() or [""])[0]
        sys.exit(f"import_pytorch: {args.checkpoint}: torch.load cannot read it ({type(error).__name__}: {reason})"
                 + ("" if args.unsafe else "; if it pickles a whole model and you trust it, pass --unsafe"))
    state = tensors(strip_prefix(unwrap(obj, args.key)))
    metadata = {k: v for k, v in (("arch", args.arch), ("classes", args.classes), ("input_mean", args.mean),
                                  ("input_std", args.std)) if v is not None}
    if args.output.endswith(".safetensors"):
        write_safetensors(state, metadata, args.output)
    elif args.output.endswith(".h5"):
        write_hdf5(state, metadata, args.output)
    else:
        sys.exit(f"import_pytorch: {args.output}: the output must end in .safetensors or .h5")
    print(f"{args.checkpoint} -> {args.output}: {len(state)} tensors, "
          f"{sum(t.numel() for t in state.values() if t.is_floating_point())} parameters and buffers")


if __name__ == "__main__":
    main()
