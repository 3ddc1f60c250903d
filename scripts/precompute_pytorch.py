#!/usr/bin/env python3
"""Writes a kd cache from any PyTorch model: the teacher `kd distill` trains students from, when the
zoo does not have it. Needs torch, h5py and numpy only; no project code.

    python3 scripts/precompute_pytorch.py --model teacher.py:make_teacher --weights teacher.pth \\
        --data data/fashion-mnist/train.h5 --test data/fashion-mnist/test.h5 --output foreign.h5 \\
        --mean 0.286 --std 0.353 --features layer2 --attention layer1,layer2 --boundary conv1 --input-grad --verify 64

The model is `--model FILE.py:FUNCTION` (FUNCTION() returns a torch.nn.Module; `--weights` is then
loaded into it as a state_dict, unless `--weights-loaded-by-model`) or `--torchscript MODEL.pt`.
Its output is the logits `[n, K]`, or a tuple whose first element is. Features and attention maps
are the outputs of named modules (`named_modules()`), boundary bits the signs of a module's output
(name the layer before the ReLU), the embedding the input of a module (the final linear layer).

The file has the layout and attributes of kd's cache (README, "What each file holds"), with root
attributes `teacher_source = "external"` and `teacher_description`, and `teacher_sha256` the
SHA-256 of the weights file. Views 1.. are random crops/flips drawn here from `--seed`; the view
table is stored in `views/`, and kd reads it from there, so the students see what the teacher saw.
The dataset fingerprint is kd's: SHA-256 of "NxHxWxC|class|names", the int32 labels, the pixels.
"""
import argparse
import datetime
import hashlib
import importlib.util
import json
import math
import os
import sys
import time

import h5py
import numpy as np
import torch

NAME = "precompute_pytorch"
TOOL_VERSION = "precompute_pytorch.py 1"
MODES = ("sum_p", "sum", "max_p")


def fail(message):
    """Ends with one line on standard error."""
    sys.exit(f"{NAME}: {message}")


# Images: the packed HDF5 dataset, images uint8 [N,H,W,C], labels [N], attribute classes.

class Packed:
    """A packed dataset: its images, labels (int32) and class names (those of the attribute, else 0...max label)."""

    def __init__(self, path):
        if not os.path.isfile(path):
            fail(f"{path}: no such file")
        try:
            with h5py.File(path, "r") as f:
                if "images" not in f or "labels" not in f:
                    fail(f"{path}: not a packed dataset (needs images [N,H,W,C] uint8 and labels [N]); it has {', '.join(f)}")
                self.images = f["images"][()]
                self.labels = f["labels"][()].astype(np.int32)
                classes = f.attrs.get("classes")
        except OSError as error:
            fail(f"{path}: not readable as HDF5 ({error})")
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[3] not in (1, 3):
            fail(f"{path}: images are {self.images.dtype} {list(self.images.shape)}; expected uint8 [N,H,W,C] with C 1 or 3")
        if len(self.labels) != len(self.images):
            fail(f"{path}: {len(self.labels)} labels for {len(self.images)} images")
        if classes is None:
            self.classes = [str(k) for k in range(max(0, int(self.labels.max(initial=-1))) + 1)]
        else:
            self.classes = [c.decode() if isinstance(c, bytes) else str(c) for c in classes]
        self.path = path

    def fingerprint(self):
        """kd's dataset fingerprint (Sources/Pipeline/Shared/Fingerprint.swift)."""
        n, h, w, c = self.images.shape
        digest = hashlib.sha256(f"{n}x{h}x{w}x{c}|{'|'.join(self.classes)}".encode())
        digest.update(self.labels.astype("<i4").tobytes())
        digest.update(np.ascontiguousarray(self.images).tobytes())
        return digest.hexdigest()


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Views: view 0 is the image itself; view v > 0 a crop of the zero-padded image and a mirror.

def view_table(count, views, padding, flip, seed):
    """dy, dx, flip, each uint8 [V, N]: view 0 is (padding, padding, no flip), view v drawn from seed * 7919 + v."""
    dy = np.full((views, count), padding, np.uint8)
    dx = np.full((views, count), padding, np.uint8)
    mirror = np.zeros((views, count), np.uint8)
    for v in range(1, views):
        rng = np.random.default_rng(seed * 7919 + v)
        dy[v] = rng.integers(0, 2 * padding + 1, count)
        dx[v] = rng.integers(0, 2 * padding + 1, count)
        mirror[v] = rng.integers(0, 2, count) if flip else 0
    return dy, dx, mirror


def make_inputs(pixels, dy, dx, flip, padding, mean, std):
    """Float32 [n, C, H, W] from uint8 [n, H, W, C]: each crop at (dy, dx) of the image zero-padded by
    `padding`, mirrored when flip, then (pixel / 255 - mean) / std (kd's Views.swift, makeInputs)."""
    n, h, w, c = pixels.shape
    padded = np.zeros((n, h + 2 * padding, w + 2 * padding, c), np.uint8)
    padded[:, padding:padding + h, padding:padding + w] = pixels
    out = np.empty((n, c, h, w), np.float32)
    scale = (1 / (255 * np.asarray(std, np.float64))).astype(np.float32)
    shift = (-np.asarray(mean, np.float64) / np.asarray(std, np.float64)).astype(np.float32)
    for k in range(n):
        crop = padded[k, dy[k]:dy[k] + h, dx[k]:dx[k] + w]
        if flip[k]:
            crop = crop[:, ::-1]
        out[k] = crop.transpose(2, 0, 1).astype(np.float32) * scale[:, None, None] + shift[:, None, None]
    return torch.from_numpy(out)


# The teacher and what is cached of it.

def load_model(args):
    """The model in evaluation mode, a description of it, and the file its fingerprint is taken of."""
    if args.torchscript:
        try:
            model = torch.jit.load(args.torchscript, map_location="cpu")
        except Exception as error:  # noqa: BLE001 - one line for the user, whatever torch raises
            fail(f"{args.torchscript}: torch.jit.load cannot read it ({type(error).__name__}: {(str(error).splitlines() or [''])[0]})")
        return model.eval(), f"TorchScript {os.path.basename(args.torchscript)}", args.weights or args.torchscript
    file, _, function = args.model.rpartition(":")
    if not file or not function:
        fail(f"--model {args.model}: expected FILE.py:FUNCTION")
    if not os.path.isfile(file):
        fail(f"{file}: no such file (--model)")
    spec = importlib.util.spec_from_file_location("teacher_module", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, function):
        names = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        fail(f"{file}: has no function '{function}'; it has {', '.join(names)}")
    model = getattr(module, function)()
    if not isinstance(model, torch.nn.Module):
        fail(f"{file}: {function}() returned a {type(model).__name__}, not a torch.nn.Module")
    if args.weights is None:
        fail("--weights is needed with --model: its SHA-256 is the teacher's fingerprint")
    if not os.path.isfile(args.weights):
        fail(f"{args.weights}: no such file (--weights)")
    if not args.weights_loaded_by_model:
        try:
            state = torch.load(args.weights, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001
            fail(f"{args.weights}: torch.load cannot read it ({type(error).__name__}: {(str(error).splitlines() or [''])[0]})")
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            fail(f"{args.weights}: does not fit {type(model).__name__} ({' '.join(str(error).split())[:300]})")
    return model.eval(), f"{type(model).__name__} from {os.path.basename(file)}:{function}", args.weights


def find_modules(model, names, option):
    """The modules named `names` (named_modules()); an unknown name lists the known ones."""
    modules = dict(model.named_modules())
    for name in names:
        if name not in modules:
            known = [n for n in modules if n]
            fail(f"{option} {name}: the model has no module '{name}'; its modules are {', '.join(known)}")
    return [modules[name] for name in names]


class Teacher:
    """Runs the model with forward hooks on the named modules and returns every cached group's rows."""

    def __init__(self, model, args):
        self.model, self.args = model, args
        self.captured = {}
        # (option, module name, key of its captured output)
        self.wanted = ([("--features", n, ("feature", n)) for n in args.features] + [("--attention", n, ("attention", n)) for n in args.attention]
                       + [("--boundary", n, ("boundary", n)) for n in args.boundary]
                       + ([("--embedding", args.embedding, ("embedding", ""))] if args.embedding else []))
        named = {("feature", n): m for n, m in zip(args.features, find_modules(model, args.features, "--features"))}
        named.update({("attention", n): m for n, m in zip(args.attention, find_modules(model, args.attention, "--attention"))})
        named.update({("boundary", n): m for n, m in zip(args.boundary, find_modules(model, args.boundary, "--boundary"))})
        try:
            for key, module in named.items():
                module.register_forward_hook(lambda _m, _i, output, key=key: self.captured.__setitem__(key, output))
            if args.embedding:
                module = find_modules(model, [args.embedding], "--embedding")[0]
                module.register_forward_pre_hook(lambda _m, inputs: self.captured.__setitem__(("embedding", ""), inputs[0]))
        except RuntimeError as error:
            fail(f"{args.torchscript or args.model}: cannot hook its modules ({error}): a TorchScript model gives logits and input "
                 "gradients only; load the model from Python (--model FILE.py:FUNCTION) for --features, --attention, --boundary, --embedding")

    def logits(self, x):
        output = self.model(x)
        output = output[0] if isinstance(output, (tuple, list)) else output
        if not torch.is_tensor(output) or output.dim() != 2:
            fail(f"the model's output is {type(output).__name__} {list(getattr(output, 'shape', []))}; expected logits [n, K] or a tuple starting with them")
        return output

    def rows(self, x):
        """Each dataset's rows for the input batch x [n, C, H, W], by cache path (numpy arrays)."""
        a = self.args
        self.captured.clear()
        if a.input_grad:
            x = x.detach().requires_grad_(True)
            logits = self.logits(x)
            predicted = logits.detach().argmax(1)
            loss = torch.nn.functional.cross_entropy(logits, predicted, reduction="sum")
            gradient = torch.autograd.grad(loss, x)[0].detach()
        else:
            with torch.no_grad():
                logits = self.logits(x)
        n = x.shape[0]
        for option, name, key in self.wanted:
            if key not in self.captured:
                fail(f"{option} {name}: the module '{name}' did not run in the model's forward pass, so it has no output to cache")
        out = {"logits": logits.detach().float().numpy()}
        with torch.no_grad():
            for layer in a.features:
                values = self.captured[("feature", layer)].detach()
                out["features/" + layer] = values.numpy().astype(np.float16 if a.features_dtype == "float16" else np.float32)
            for layer in a.attention:
                out["attention/" + layer] = attention_map(self.captured[("attention", layer)].detach(), a.attention_mode, a.attention_p)
            for point in a.boundary:
                values = self.captured[("boundary", point)].detach().reshape(n, -1).numpy()
                out["boundary/" + point] = np.packbits(values > 0, axis=1)
            if a.input_grad:
                flat = gradient.reshape(n, -1).numpy().astype(np.float32)
                scale = np.abs(flat).max(axis=1)
                safe = np.where(scale > 0, scale, 1)[:, None]
                out["input_grad"] = np.where(scale[:, None] > 0, flat / safe, 0).astype(np.float16).reshape(gradient.shape)
                out["input_grad_scale"] = scale.astype(np.float32)
            if a.embedding:
                out["embedding"] = self.captured[("embedding", "")].detach().reshape(n, -1).float().numpy()
        return out


def attention_map(features, mode, p):
    """[n, H*W] float32: F(A) over channels per position (kd's attentionMap), divided by its L2 norm per image."""
    a = features.float().abs()
    mapped = a.pow(p).sum(1) if mode == "sum_p" else a.sum(1) if mode == "sum" else a.pow(p).amax(1)
    mapped = mapped.reshape(features.shape[0], -1)
    return (mapped / mapped.pow(2).sum(1, keepdim=True).sqrt().clamp(min=1e-12)).numpy().astype(np.float32)


def test_predictions(runner, pixels, mean, std):
    """The teacher's class int32 [n] for each image of uint8 [n, H, W, C], seen as it is."""
    none = np.zeros(len(pixels), np.uint8)
    with torch.no_grad():
        return runner.logits(make_inputs(pixels, none, none, none, 0, mean, std)).argmax(1).numpy().astype(np.int32)


# The cache file.

def cache_config(args):
    """The `cache_config` attribute: the settings as kd's CacheConfig reads them (JSON)."""
    config = {"teacher_checkpoint": os.path.abspath(args.weights_file), "views": args.views,
              "augment": {"crop_padding": args.crop_padding, "flip": args.flip}, "seed": args.seed,
              "batch_size": args.batch_size, "chunk_rows": args.chunk_rows, "top_k": 0,
              "features": args.features, "features_dtype": args.features_dtype,
              "boundary": args.boundary, "input_grad": args.input_grad, "embedding": bool(args.embedding)}
    if args.attention:
        config["attention"] = {"layers": args.attention, "mode": args.attention_mode, "p": args.attention_p}
    return json.dumps(config, sort_keys=True)


MEANINGS = {
    "logits": "the teacher's logits per image (evaluation mode)",
    "features": "the teacher layer's output [C,H,W] per image",
    "attention": "F(A) over channels per position (mode: sum_p = sum |A_c|^p, sum = sum |A_c|, max_p = max |A_c|^p), divided by its L2 norm per image",
    "boundary": "bit set where the pre-ReLU response is > 0, C*H*W bits per image, most significant bit first (numpy.unpackbits)",
    "input_grad": "d(cross-entropy against the teacher's own predicted class)/d(normalised input), divided by input_grad_scale per image",
    "input_grad_scale": "max |input gradient| per image: input_grad * input_grad_scale restores it",
    "embedding": "the teacher's penultimate embedding: the input of its final linear layer",
}


def compression(args):
    """h5py's keywords for --gzip (with the byte shuffle), none without."""
    return {"compression": "gzip", "compression_opts": args.gzip, "shuffle": True} if args.gzip else {}


def create_groups(f, first, views, count, chunk_rows, args, shapes):
    """Every group's dataset [V, N, ...], chunked [1, chunk_rows, ...], with its attributes; `first` holds one batch's rows."""
    datasets = {}
    for path, rows in first.items():
        row = rows.shape[1:]
        datasets[path] = f.create_dataset(path, shape=(views, count) + row, dtype=rows.dtype,
                                          chunks=(1, min(count, chunk_rows)) + row, **compression(args))
        datasets[path].attrs["meaning"] = MEANINGS[path.split("/")[0]]
        if path.startswith("attention/"):
            _, _, h, w = shapes[path]
            for key, value in (("height", np.int64(h)), ("width", np.int64(w)), ("p", float(args.attention_p)),
                               ("mode", args.attention_mode)):
                datasets[path].attrs[key] = value
        if path.startswith("boundary/"):
            shape = list(shapes[path][1:]) + [1, 1]
            for key, value in zip("CHW", shape[:3]):
                datasets[path].attrs[key] = np.int64(value)
        if path == "input_grad":
            datasets[path].attrs["class"] = "teacher_prediction"
    return datasets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    teacher = parser.add_mutually_exclusive_group(required=True)
    teacher.add_argument("--model", help="FILE.py:FUNCTION, a function returning the torch.nn.Module")
    teacher.add_argument("--torchscript", help="a TorchScript file (torch.jit.save)")
    parser.add_argument("--weights", help="the weights file (a state_dict for --model; the teacher's fingerprint is its SHA-256). Default for --torchscript: the .pt")
    parser.add_argument("--weights-loaded-by-model", action="store_true", help="FUNCTION loads --weights itself; the file is only fingerprinted")
    parser.add_argument("--data", required=True, help="the packed training images (kd data ...): images [N,H,W,C] uint8, labels, classes")
    parser.add_argument("--test", help="packed test images: the teacher's accuracy and predictions on them are recorded (the report's teacher row)")
    parser.add_argument("--output", required=True, help="the cache file to write")
    parser.add_argument("--mean", required=True, help="per-channel mean of pixels in [0, 1], comma-separated")
    parser.add_argument("--std", required=True, help="per-channel standard deviation, comma-separated")
    parser.add_argument("--views", type=int, default=1, help="views per image: 0 is the image, the others random crops/flips")
    parser.add_argument("--crop-padding", type=int, default=0, help="zero padding of the random crops of views 1 and up")
    parser.add_argument("--flip", action="store_true", help="random mirrors in views 1 and up")
    parser.add_argument("--seed", type=int, default=0, help="seed of the views' crops and flips")
    parser.add_argument("--features", default="", help="modules whose outputs are cached as features/<name>, comma-separated")
    parser.add_argument("--features-dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--attention", default="", help="modules whose attention maps are cached, comma-separated")
    parser.add_argument("--attention-mode", choices=MODES, default="sum_p")
    parser.add_argument("--attention-p", type=float, default=2.0)
    parser.add_argument("--boundary", default="", help="modules whose output (pre-ReLU) signs are cached as bits, comma-separated")
    parser.add_argument("--input-grad", action="store_true", help="cache d(CE against the teacher's prediction)/d(input)")
    parser.add_argument("--embedding", help="the module whose input is the penultimate embedding (the final linear layer)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--chunk-rows", type=int, default=16)
    parser.add_argument("--gzip", type=int, metavar="LEVEL", help="compress every dataset (kd's own caches are uncompressed, the fastest to read)")
    parser.add_argument("--verify", type=int, default=0, metavar="N", help="recompute N sampled rows from the written file and compare")
    args = parser.parse_args()
    for key in ("features", "attention", "boundary"):
        setattr(args, key, [n for n in getattr(args, key).split(",") if n])
    if args.views < 1 or args.batch_size < 1 or args.chunk_rows < 1 or args.crop_padding < 0:
        fail("--views, --batch-size and --chunk-rows must be at least 1, --crop-padding at least 0")
    if args.views > 1 and args.crop_padding == 0 and not args.flip:
        fail("--views > 1 needs --crop-padding or --flip: otherwise every view is the same image")
    if args.attention and args.attention_p <= 0:
        fail("--attention-p must be positive")
    mean, std = [float(v) for v in args.mean.split(",")], [float(v) for v in args.std.split(",")]
    torch.manual_seed(0)

    data = Packed(args.data)
    n, h, w, c = data.images.shape
    if len(mean) != c or len(std) != c or min(std) <= 0:
        fail(f"--mean and --std need {c} value(s) for the {c} channel(s) of {args.data}, std > 0")
    model, description, args.weights_file = load_model(args)
    runner = Teacher(model, args)
    dy, dx, flip = view_table(n, args.views, args.crop_padding, args.flip, args.seed)
    batches = math.ceil(n / args.batch_size)

    def batch_rows(view, rows):
        return runner.rows(make_inputs(data.images[rows], dy[view, rows], dx[view, rows], flip[view, rows], args.crop_padding, mean, std))

    try:
        probe = batch_rows(0, np.arange(min(n, 2)))
    except (RuntimeError, ValueError, TypeError) as error:
        fail(f"{description}: fails on the images of {args.data} [n, {c}, {h}, {w}] ({type(error).__name__}: {(str(error).splitlines() or [''])[0]})")
    if probe["logits"].shape[1] != len(data.classes):
        fail(f"the model has {probe['logits'].shape[1]} outputs; {args.data} has {len(data.classes)} classes")
    shapes = {("attention/" + k): tuple(runner.captured[("attention", k)].shape) for k in args.attention}
    for path, shape in shapes.items():
        if len(shape) != 4:
            fail(f"--attention {path[len('attention/'):]}: its output is {list(shape)}; attention maps need [n, C, H, W]")
    shapes.update({("boundary/" + k): tuple(runner.captured[("boundary", k)].shape) for k in args.boundary})

    temporary = args.output + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    start = time.time()
    with h5py.File(temporary, "w") as f:
        f.create_dataset("labels", data=data.labels)
        f.create_dataset("images", data=data.images, chunks=(min(n, args.chunk_rows), h, w, c), **compression(args))
        datasets = create_groups(f, probe, args.views, n, args.chunk_rows, args, shapes)
        done, last_print = 0, 0.0
        for view in range(args.views):
            for b in range(batches):
                rows = np.arange(b * args.batch_size, min(n, (b + 1) * args.batch_size))
                for path, values in batch_rows(view, rows).items():
                    datasets[path][view, rows[0]:rows[-1] + 1] = values
                done += len(rows)
                if time.time() - last_print > 5 or done == n * args.views:
                    last_print = time.time()
                    print(f"{NAME}: {done} of {n * args.views} rows ({done / max(time.time() - start, 1e-9):.0f} rows/s)", flush=True)
        for key, table in (("dy", dy), ("dx", dx), ("flip", flip)):
            f.create_dataset("views/" + key, data=table)
        f["views"].attrs["crop_padding"] = np.int64(args.crop_padding)
        f["views"].attrs["meaning"] = "view v of image i is the image zero-padded by crop_padding, cropped at (dy, dx), then mirrored if flip; view 0 is the image itself"
        f.create_dataset("skipped", data=np.zeros(n, np.uint8)).attrs["meaning"] = "1 for images that could not be read: none here"
        f.create_dataset("progress", data=np.ones(args.views * batches, np.uint8)).attrs["meaning"] = \
            f"1 for each finished batch of {args.batch_size} images, view by view"
        attributes = {
            "schema_version": np.int64(2), "teacher_source": "external", "teacher_description": description,
            "teacher_sha256": file_sha256(args.weights_file), "teacher_checkpoint": os.path.abspath(args.weights_file),
            "teacher_arch": description, "teacher_parameters": np.int64(sum(p.numel() for p in model.parameters())),
            "dataset_fingerprint": data.fingerprint(), "dataset_path": os.path.abspath(args.data),
            "num_samples": np.int64(n), "num_views": np.int64(args.views), "classes": data.classes,
            "input_mean": np.array(mean), "input_std": np.array(std), "cache_config": cache_config(args),
            "pipeline_config": " ".join(sys.argv), "created_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tool_version": TOOL_VERSION,
        }
        if args.test:
            test = Packed(args.test)
            if test.classes != data.classes or test.images.shape[1:] != data.images.shape[1:]:
                fail(f"{args.test}: images {list(test.images.shape[1:])} of classes {test.classes} are not those of {args.data}")
            predictions = np.concatenate([test_predictions(runner, test.images[s:s + args.batch_size], mean, std)
                                          for s in range(0, len(test.images), args.batch_size)])
            accuracy = float((predictions == test.labels).mean())
            stored = f.create_dataset("teacher_test/predictions", data=predictions)
            stored.attrs["meaning"] = "the teacher's class for each test image (view 0), for the students' agreement"
            stored.attrs["dataset_fingerprint"] = test.fingerprint()
            stored.attrs["dataset_path"] = os.path.abspath(args.test)
            attributes["teacher_test_accuracy"] = accuracy
            print(f"{NAME}: teacher test accuracy {100 * accuracy:.2f}% on {len(test.images)} images of {args.test}")
        for key, value in attributes.items():
            f.attrs[key] = value
    os.replace(temporary, args.output)
    print(f"{NAME}: {n} images x {args.views} view(s) of {description} -> {args.output} ({os.path.getsize(args.output)} bytes)")
    if args.verify:
        sys.exit(0 if verify(args.output, runner, args.verify, mean, std) else 1)


# --verify: the written file read back and sampled rows recomputed, each group within kd's tolerance.

def verify(path, runner, samples, mean, std):
    with h5py.File(path, "r") as f:
        views, count = f["views/dy"].shape
        padding = int(f["views"].attrs["crop_padding"])
        rng = np.random.default_rng(0)
        picks = sorted({(int(rng.integers(views)), int(rng.integers(count))) for _ in range(samples)})
        failed = 0
        by_view = {}
        for view, image in picks:
            by_view.setdefault(view, []).append(image)
        worst = {}
        for view, images in by_view.items():
            images = np.array(images)
            x = make_inputs(f["images"][images], f["views/dy"][view][images], f["views/dx"][view][images],
                            f["views/flip"][view][images], padding, mean, std)
            live = runner.rows(x)
            for name, values in live.items():
                cached = f[name][view][images]
                if name.startswith("boundary/"):
                    bits = np.unpackbits(cached ^ values).sum()
                    score = bits * 10_000 / max(1, cached.size * 8)
                    detail = f"{bits} of {cached.size * 8} bits differ (limit 1 in 10,000)"
                elif name.startswith("input_grad"):
                    continue
                else:
                    limit = 2e-3 if cached.dtype == np.float16 else 1e-4
                    error = np.abs(cached.astype(np.float64) - values.astype(np.float64)).max()
                    scale = max(np.abs(values.astype(np.float64)).max(), 1e-12)
                    score = error / scale / limit
                    detail = f"max |cached - live| {error:.3g}, {error / scale:.3g} of the largest (limit {limit:g})"
                if name not in worst or score > worst[name][0]:
                    worst[name] = (score, detail)
            if "input_grad" in live:
                g = lambda d: d["input_grad"].reshape(len(images), -1).astype(np.float64) * d["input_grad_scale"][:, None]
                a, b = g({"input_grad": f["input_grad"][view][images], "input_grad_scale": f["input_grad_scale"][view][images]}), g(live)
                norms = np.maximum(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
                errors = np.where(norms > 0, np.linalg.norm(a - b, axis=1) / np.where(norms > 0, norms, 1), 0)
                score = max(errors.max() / 0.5, errors.mean() / 0.15)
                detail = f"|cached - live| / |gradient|: worst row {errors.max():.3g} (limit 0.5), mean {errors.mean():.3g} (limit 0.15)"
                if "input_grad" not in worst or score > worst["input_grad"][0]:
                    worst["input_grad"] = (score, detail)
    width = max(len(name) for name in worst)
    for name, (score, detail) in worst.items():
        failed += score > 1
        print(("ok    " if score <= 1 else "FAIL  ") + name.ljust(width) + "  " + detail)
    print(f"{path}: {len(picks)} rows recomputed, " + ("all groups within their limits" if not failed else f"{failed} of {len(worst)} groups FAILED"))
    return failed == 0


if __name__ == "__main__":
    main()
