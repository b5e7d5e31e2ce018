"""Wrapper prefixes and hostile pickles, end to end: real DataParallel and torch.compile state
dicts are flagged, the printed ``key_mapping`` really loads them in transformers, the
``--strip-prefix`` copy loads with no missing or unexpected key, and a pickle that would run a
command is reported and never runs."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from checkpoints import hostile_pickle, hostile_zip, needs_torch, save_llama

from hfcache.errors import BadInputError
from hfcache.inspect import inspect_target
from hfcache.inspect.keys import strip, wrapper_prefix


def _wrapped_state(kind: str, model: Any) -> dict[str, Any]:
    torch = needs_torch()
    if kind == "dataparallel":
        return dict(torch.nn.DataParallel(model).state_dict())
    if kind == "compile":
        return dict(torch.compile(model).state_dict())
    return dict(torch.compile(torch.nn.DataParallel(model)).state_dict())  # "_orig_mod.module."


def _save(state: dict[str, Any], folder: Path, fmt: str, config: Path) -> None:
    torch = needs_torch()
    folder.mkdir(parents=True)
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"), {"format": "pt"}
        )
    else:
        torch.save(state, folder / "pytorch_model.bin")
    (folder / "config.json").write_bytes(config.read_bytes())


def _key_mapping(advice: str) -> dict[str, str]:
    """The ``key_mapping={...}`` the advice prints, parsed as the Python literal it is."""
    found = re.search(r"key_mapping=(\{.*?\})\)", advice)
    assert found, advice
    mapping = ast.literal_eval(found.group(1))
    assert isinstance(mapping, dict)
    return mapping


def _load(folder: Path, **kw: Any) -> tuple[Any, dict[str, Any]]:
    transformers = pytest.importorskip("transformers")
    model, info = transformers.AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True, **kw)
    return model, info


def _same_weights(a: Any, b: Any) -> bool:
    torch = needs_torch()
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [("dataparallel", "module."), ("compile", "_orig_mod."), ("both", "_orig_mod.module.")],
)
@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_prefixed_state_dicts(tmp_path: Path, kind: str, prefix: str, fmt: str) -> None:
    original = save_llama(tmp_path / "orig", tied=False)
    state = _wrapped_state(kind, original)
    assert all(k.startswith(prefix) for k in state)
    folder = tmp_path / "wrapped"
    _save(state, folder, fmt, tmp_path / "orig" / "config.json")
    doc = inspect_target(str(folder)).to_json()
    (found,) = doc["findings"]
    assert found["code"] == "keys-prefixed" and found["severity"] == "error"
    assert repr(prefix) in found["message"] and found["fixable"] is False
    advice = found["fix"]
    assert "consume_prefix_in_state_dict_if_present(sd" in advice
    assert f"--strip-prefix {prefix} --write-to" in advice

    # transformers loads nothing without help, and everything with the printed key_mapping.
    _, info = _load(folder)
    assert info["missing_keys"] and info["unexpected_keys"]
    mapping = _key_mapping(advice)
    assert mapping == {"^" + re.escape(prefix): ""}
    mapped, info = _load(folder, key_mapping=mapping)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert _same_weights(mapped, original)

    # The stripped copy loads cleanly and holds the same weights.
    out = tmp_path / "stripped"
    result = inspect_target(str(folder), strip_prefix=[prefix], write_to=str(out))
    assert result.written is not None and result.written.renamed == len(state)
    assert result.written.files == ("model.safetensors",) and "config.json" in result.written.copied
    copy, info = _load(out)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert _same_weights(copy, original)
    assert inspect_target(str(out)).to_json()["findings"] == []


def test_stripped_copy_of_a_sharded_checkpoint(tmp_path: Path) -> None:
    original = save_llama(tmp_path / "orig", tied=False, shard="20KB")
    folder = tmp_path / "wrapped"
    folder.mkdir()
    for path in (tmp_path / "orig").iterdir():
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            from safetensors.torch import save_file

            with safe_open(str(path), "pt") as f:
                tensors = {f"module.{k}": f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            save_file(tensors, str(folder / path.name), {"format": "pt"})
        elif path.name.endswith(".index.json"):
            index = json.loads(path.read_text())
            index["weight_map"] = {f"module.{k}": v for k, v in index["weight_map"].items()}
            (folder / path.name).write_text(json.dumps(index))
        else:
            (folder / path.name).write_bytes(path.read_bytes())
    assert [f["code"] for f in inspect_target(str(folder)).to_json()["findings"]] == ["keys-prefixed"]
    out = tmp_path / "out"
    written = inspect_target(str(folder), strip_prefix=["module."], write_to=str(out)).written
    assert written is not None and "model.safetensors.index.json" in written.files
    copy, info = _load(out)
    assert not info["missing_keys"] and not info["unexpected_keys"] and _same_weights(copy, original)
    assert inspect_target(str(out)).to_json()["findings"] == []


def test_the_writer_refuses(tmp_path: Path, hf_env: Path) -> None:
    torch = needs_torch()
    model = save_llama(tmp_path / "orig", tied=False)
    folder = tmp_path / "wrapped"
    _save(_wrapped_state("dataparallel", model), folder, "safetensors", tmp_path / "orig" / "config.json")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("keep me")
    for dest, prefixes in (
        (full, ["module."]),  # not empty: nothing is overwritten
        (hf_env / "somewhere", ["module."]),  # inside the cache huggingface_hub uses
        (tmp_path / "models--a--b" / "x", ["module."]),  # inside a repo folder
        (tmp_path / "new", ["nothing."]),  # no name carries the prefix
    ):
        with pytest.raises(BadInputError):
            inspect_target(str(folder), strip_prefix=prefixes, write_to=str(dest))
    assert (full / "x").read_text() == "keep me" and not (tmp_path / "new").exists()
    # A torch tensor that views part of a storage is refused with the reason.
    base = torch.arange(12, dtype=torch.float32)
    torch.save({"module.a": base[2:6], "module.b": base}, tmp_path / "views.bin")
    with pytest.raises(BadInputError, match="part of a larger storage"):
        inspect_target(str(tmp_path / "views.bin"), strip_prefix=["module."], write_to=str(tmp_path / "v"))
    torch.save({"module.t": torch.zeros(3, 4).t()}, tmp_path / "strided.bin")
    with pytest.raises(BadInputError, match="not contiguous"):
        inspect_target(str(tmp_path / "strided.bin"), strip_prefix=["module."], write_to=str(tmp_path / "s"))


def test_a_few_unprefixed_names_still_count(tmp_path: Path) -> None:
    torch = needs_torch()
    from safetensors.torch import save_file

    tensors = {f"module.layer{i}.weight": torch.zeros(2) for i in range(40)} | {"step": torch.zeros(1)}
    save_file(tensors, str(tmp_path / "model.safetensors"))
    assert [f["code"] for f in inspect_target(str(tmp_path)).to_json()["findings"]] == ["keys-prefixed"]
    save_file(tensors | {f"other{i}": torch.zeros(1) for i in range(5)}, str(tmp_path / "model.safetensors"))
    assert inspect_target(str(tmp_path)).to_json()["findings"] == []  # under 95 %: not a wrapper


def test_prefix_helpers() -> None:
    assert wrapper_prefix("_orig_mod.module.model.x") == "_orig_mod.module."
    assert wrapper_prefix("model.module.x") == ""
    assert strip("_orig_mod.module.a", ("module.", "_orig_mod.")) == "a"
    assert strip("modules.a", ("module.",)) == "modules.a"


@pytest.mark.parametrize("kind", ["zip", "raw"])
def test_hostile_pickle_is_reported_and_never_runs(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "pytorch_model.bin"
    (hostile_zip if kind == "zip" else hostile_pickle)(path, marker)
    for target in (path, tmp_path):
        doc = inspect_target(str(target)).to_json()
        (found,) = doc["findings"]
        assert found["code"] == "pickle-unsafe-import" and found["severity"] == "error"
        assert "system" in found["message"] and "never" in found["message"]
        assert "safetensors" in found["fix"] and doc["files"][0]["unsafe_imports"]
        assert doc["totals"]["tensors"] == 0
    with pytest.raises(BadInputError, match="imports code"):
        inspect_target(str(path), strip_prefix=["module."], write_to=str(tmp_path / "out"))
    assert not marker.exists()
