"""Files: atomic writes, checkpoints (arrays + JSON metadata) that training resumes from.

Every file is written to a temporary name in the same directory and then renamed over the target,
so an interrupted run leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .backend import to_device, to_host


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename); returns the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:  # a file stands where a directory must be
        blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()),
                       path.parent)
        raise NotADirectory(f"cannot write {path}: {blocker} is a file, not a directory; choose another "
                            f"output path (or move that file away)") from exc
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; results are shared like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


TMP_SUFFIX = ".tmp"  # a killed write leaves '.<name>.<random>.tmp'; RunDir.start removes them


def current_umask() -> int:
    """The process's umask (read by setting and restoring it: there is no other portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


class NotADirectory(ValueError):
    """An output path runs through an existing file where a directory must be."""


class CorruptFile(ValueError):
    """A file that dmf_np wrote earlier cannot be read back (truncated, edited, or not ours)."""


def read_json(path, remedy: str):
    """The JSON object in ``path``; a :class:`CorruptFile` naming the file and ``remedy`` (what the
    user can do about it) when it does not parse."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFile(f"{path} is not valid JSON ({exc}); {remedy}") from exc


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_checkpoint(path, arrays: dict, meta: dict) -> Path:
    """Save named arrays (moved to the host) and a JSON-serialisable ``meta`` dict in one .npz."""
    import io as _io  # noqa: PLC0415

    buf = _io.BytesIO()
    payload = {f"a/{k}": to_host(v) for k, v in arrays.items()}
    payload["meta.json"] = np.frombuffer(json.dumps(meta, default=_json_default).encode(), dtype=np.uint8)
    np.savez(buf, **payload)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path, xp=np):
    """(arrays on backend ``xp``, meta) from :func:`save_checkpoint`; a clear error if missing/corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta.json"]).decode())
            arrays = {k[2:]: to_device(z[k], xp) for k in z.files if k.startswith("a/")}
    except Exception as exc:
        raise ValueError(f"checkpoint {path} is unreadable ({exc}); delete it to start over") from exc
    return arrays, meta


def save_training_state(path, params: dict, optimizer, rng, epoch: int, history: dict, tag=None) -> Path:
    """Checkpoint of a training loop after ``epoch`` finished epochs: parameters, optimizer state,
    the host random generator's state and the history, so that a resumed run continues identically.
    ``tag``: what the checkpoint belongs to (an experiment unit's fingerprint), checked on loading."""
    arrays = {f"param/{k}": v for k, v in params.items()}
    arrays.update({f"opt/{k}": v for k, v in optimizer.state_dict().items()})
    meta = {"epoch": epoch, "history": history, "rng": rng.bit_generator.state}
    if tag is not None:
        meta["tag"] = tag
    return save_checkpoint(path, arrays, meta)


def load_training_state(path, params: dict, optimizer, rng, xp, tag=None):
    """Restore what :func:`save_training_state` wrote, in place (parameters, optimizer, generator);
    returns (history, finished epochs), or ({"train_loss": []}, 0) when ``path`` is None or absent.
    With ``tag``, a checkpoint saved under another tag is refused (it belongs to another protocol)."""
    if path is None or not Path(path).is_file():
        return {"train_loss": []}, 0
    arrays, meta = load_checkpoint(path, xp)
    if tag is not None and meta.get("tag") != tag:
        raise ValueError(f"checkpoint {path} belongs to another protocol (tag {meta.get('tag')!r}, expected "
                         f"{tag!r}); delete it to start that unit over")
    missing = [k for k in params if f"param/{k}" not in arrays]
    if missing:
        raise ValueError(f"checkpoint {path} does not hold parameters {missing}: it belongs to another "
                         f"network; delete it or choose another path")
    for k in params:
        params[k][...] = arrays[f"param/{k}"]
    optimizer.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")}, xp)
    rng.bit_generator.state = meta["rng"]
    return meta["history"], meta["epoch"]
