"""inspect reads what transformers and torch wrote: the counts it reports are those
safetensors' own reader and ``torch.load`` give, for single files, shards with an index, tied
and untied heads, torch zips and legacy pickles, and GGUF/ONNX files are recognised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from checkpoints import needs_torch, safetensors_counts, save_bert, save_llama, torch_counts
from ggufgen import build, kv_str

from hfcache.errors import BadInputError
from hfcache.inspect import inspect_target

_DTYPE = {"bfloat16": "BF16", "float32": "F32", "float16": "F16", "int64": "I64"}


def _doc(target: Path | str, **kw: Any) -> dict[str, Any]:
    return inspect_target(str(target), **kw).to_json()


def _agrees(doc: dict[str, Any], truth: dict[str, Any]) -> None:
    totals = doc["totals"]
    assert (totals["tensors"], totals["parameters"], totals["bytes"]) == (
        truth["tensors"],
        truth["parameters"],
        truth["bytes"],
    )
    assert {k: v["bytes"] for k, v in doc["dtypes"].items()} == {
        _DTYPE[k]: v for k, v in truth["dtypes"].items()
    }
    assert sum(v["tensors"] for v in doc["dtypes"].values()) == truth["tensors"]


def test_tied_llama_single_file(tmp_path: Path) -> None:
    save_llama(tmp_path, tied=True)
    doc = _doc(tmp_path)
    _agrees(doc, safetensors_counts([tmp_path / "model.safetensors"]))
    assert doc["formats"] == ["safetensors"] and doc["findings"] == []
    (f,) = doc["files"]
    assert f["name"] == "model.safetensors" and f["size"] == (tmp_path / "model.safetensors").stat().st_size
    assert doc["tied"] == [
        {"name": "lm_head.weight", "to": "model.embed_tokens.weight", "source": "config", "stored": False}
    ]
    arch = doc["architecture"]
    assert arch["model_type"] == "llama" and arch["architectures"] == ["LlamaForCausalLM"]
    assert (arch["num_hidden_layers"], arch["hidden_size"], arch["num_attention_heads"]) == (2, 32, 4)
    assert (arch["num_key_value_heads"], arch["head_dim"], arch["vocab_size"]) == (2, 8, 128)
    assert arch["dtype"] == "bfloat16" and arch["tie_word_embeddings"] is True
    names = {t["name"]: t for t in doc["tensors"]}
    assert names["model.embed_tokens.weight"]["shape"] == [128, 32]
    assert names["model.embed_tokens.weight"]["dtype"] == "BF16"


def test_untied_sharded_llama_with_index(tmp_path: Path) -> None:
    save_llama(tmp_path, tied=False, shard="20KB")
    shards = sorted(tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 1
    doc = _doc(tmp_path)
    _agrees(doc, safetensors_counts(shards))
    assert doc["tied"] == [] and doc["findings"] == []
    (index,) = doc["indexes"]
    assert index["shards"] == [p.name for p in shards]
    assert index["total_size"] == index["data_bytes"] == doc["totals"]["bytes"]
    assert "lm_head.weight" in {t["name"] for t in doc["tensors"]}
    # The index file as TARGET gives the same checkpoint.
    again = _doc(tmp_path / "model.safetensors.index.json")
    assert again["totals"] == doc["totals"]
    # One shard alone: its own counts, and no claim about the head (it is in another shard).
    one = _doc(shards[0])
    _agrees(one, safetensors_counts(shards[:1]))
    assert one["findings"] == [] and one["tied"] == []


def test_index_against_its_shards(tmp_path: Path) -> None:
    save_llama(tmp_path, tied=False, shard="20KB")
    index_path = tmp_path / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    first, last = sorted(set(index["weight_map"].values()))[0], sorted(set(index["weight_map"].values()))[-1]
    moved = next(n for n, s in index["weight_map"].items() if s == first)
    index["weight_map"]["ghost.weight"] = first  # listed, not in the shard
    del index["weight_map"][moved]  # in the shard, not listed
    index["metadata"]["total_size"] += 2
    index_path.write_text(json.dumps(index))
    (tmp_path / last).unlink()
    codes = {f["code"]: f for f in _doc(tmp_path)["findings"]}
    assert set(codes) == {"shard-missing", "shard-tensor-missing", "shard-tensor-unlisted"}
    assert codes["shard-missing"]["path"] == str(tmp_path / last)
    assert "ghost.weight" in codes["shard-tensor-missing"]["message"]
    assert moved in codes["shard-tensor-unlisted"]["message"]
    save_llama(tmp_path / "b", tied=False, shard="20KB")
    index_path = tmp_path / "b" / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["metadata"]["total_size"] += 2
    index_path.write_text(json.dumps(index))
    assert [f["code"] for f in _doc(tmp_path / "b")["findings"]] == ["shard-total-size"]
    index_path.write_text("{not json")
    assert [f["code"] for f in _doc(tmp_path / "b")["findings"]] == ["index-unreadable"]


def test_untied_config_without_the_head(tmp_path: Path) -> None:
    torch = needs_torch()
    from safetensors.torch import save_file

    model = save_llama(tmp_path / "full", tied=False)
    state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    (tmp_path / "cut").mkdir()
    save_file(state, str(tmp_path / "cut" / "model.safetensors"), metadata={"format": "pt"})
    (tmp_path / "cut" / "config.json").write_bytes((tmp_path / "full" / "config.json").read_bytes())
    (found,) = _doc(tmp_path / "cut")["findings"]
    assert found["code"] == "keys-missing" and found["severity"] == "error"
    assert "lm_head.weight" in found["message"] and found["fix"]
    transformers = pytest.importorskip("transformers")
    _, info = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "cut", output_loading_info=True)
    assert "lm_head.weight" in info["missing_keys"]  # what the finding predicts
    assert torch is not None


def test_bert_fp32(tmp_path: Path) -> None:
    save_bert(tmp_path)
    doc = _doc(tmp_path)
    _agrees(doc, safetensors_counts([tmp_path / "model.safetensors"]))
    assert list(doc["dtypes"]) == ["F32"] and doc["findings"] == [] and doc["tied"] == []
    assert doc["architecture"]["model_type"] == "bert" and doc["architecture"]["head_dim"] == 16
    assert "head_dim" in doc["architecture"]["derived"]


def test_torch_zip_and_legacy_counts(tmp_path: Path) -> None:
    torch = needs_torch()
    model = save_llama(tmp_path / "src", tied=True)
    state = model.state_dict()
    state["step"] = torch.tensor(3)
    torch.save(state, tmp_path / "pytorch_model.bin")
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    torch.save(state, legacy / "model.pt", _use_new_zipfile_serialization=False)
    zipped = _doc(tmp_path / "pytorch_model.bin")
    assert zipped["formats"] == ["torch-zip"]
    assert {k: zipped["totals"][k] for k in ("tensors", "parameters", "bytes")} == torch_counts(
        tmp_path / "pytorch_model.bin"
    )
    # The tied head shares the embedding's storage: reported, and its bytes counted as shared.
    (tie,) = zipped["tied"]
    assert {tie["name"], tie["to"]} == {"lm_head.weight", "model.embed_tokens.weight"}
    assert tie["source"] == "storage" and zipped["totals"]["shared_bytes"] == 128 * 32 * 2
    old = _doc(legacy / "model.pt")
    assert old["formats"] == ["torch-legacy"]
    assert {k: old["totals"][k] for k in ("tensors", "parameters", "bytes")} == torch_counts(
        legacy / "model.pt"
    )


def test_safetensors_preferred_over_bin_in_one_folder(tmp_path: Path) -> None:
    torch = needs_torch()
    model = save_llama(tmp_path, tied=True)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    torch.save({"lr": 1.0}, tmp_path / "optimizer.pt")
    doc = _doc(tmp_path)
    assert [f["name"] for f in doc["files"]] == ["model.safetensors"]
    assert {i["name"] for i in doc["ignored"]} == {"pytorch_model.bin", "optimizer.pt"}


def test_quantization_config_is_explained(tmp_path: Path) -> None:
    torch = needs_torch()
    from safetensors.torch import save_file

    state = {
        "model.layers.0.mlp.up_proj.qweight": torch.zeros(4, 64, dtype=torch.int32),
        "model.layers.0.mlp.up_proj.qzeros": torch.zeros(1, 8, dtype=torch.int32),
        "model.layers.0.mlp.up_proj.scales": torch.zeros(1, 64, dtype=torch.float16),
        "model.embed_tokens.weight": torch.zeros(16, 32, dtype=torch.float16),
    }
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "tie_word_embeddings": True}
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128}
    (tmp_path / "config.json").write_text(json.dumps(config))
    q = _doc(tmp_path)["quantization"]
    assert (q["quant_method"], q["bits"], q["group_size"], q["packed_dtype"]) == ("gptq", 4, 128, "I32")
    assert q["packed_tensors"] == 2 and q["values_per_element"] == 8
    assert q["packed_values"] == (4 * 64 + 8) * 8 and "qweight" in q["meaning"]


def test_multimodal_text_config(tmp_path: Path) -> None:
    torch = needs_torch()
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    text = {"model_type": "qwen2", "num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 8}
    config = {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"], "text_config": text}
    config |= {"torch_dtype": "float16", "tie_word_embeddings": False}
    (tmp_path / "config.json").write_text(json.dumps(config))
    arch = _doc(tmp_path)["architecture"]
    assert (arch["model_type"], arch["text_model_type"], arch["num_hidden_layers"]) == ("llava", "qwen2", 4)
    assert (arch["head_dim"], arch["num_key_value_heads"], arch["dtype"]) == (8, 8, "float16")


def test_gguf_and_onnx_recognised(tmp_path: Path) -> None:
    gguf = build([kv_str("general.architecture", "llama")], [("a", 0, (8,)), ("b", 8, (32, 2))])
    (tmp_path / "model-q4.gguf").write_bytes(gguf)
    onnx = bytes([0x08, 0x08]) + b"\x12\x07pytorch" + b"\x1a\x032.1" + b"\x3a\x04\x12\x02gr"
    (tmp_path / "model.onnx").write_bytes(onnx)
    doc = _doc(tmp_path)
    files = {f["name"]: f for f in doc["files"]}
    assert files["model-q4.gguf"]["format"] == "gguf" and files["model-q4.gguf"]["problem"] is None
    assert files["model-q4.gguf"]["details"]["tensor_count"] == 2
    assert files["model-q4.gguf"]["size"] == len(gguf)
    assert files["model.onnx"]["format"] == "onnx" and files["model.onnx"]["details"]["ir_version"] == 8
    assert files["model.onnx"]["details"]["producer_name"] == "pytorch"
    assert doc["findings"] == []
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf at all")
    (bad,) = _doc(tmp_path / "bad.onnx")["findings"]
    assert bad["code"] == "checkpoint-unreadable"


def test_damaged_files_are_findings(tmp_path: Path) -> None:
    save_llama(tmp_path, tied=True)
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    assert [f["code"] for f in _doc(tmp_path)["findings"]] == ["shard-truncated"]
    path.write_bytes(data + b"\0")
    assert [f["code"] for f in _doc(tmp_path)["findings"]] == ["shard-trailing-bytes"]
    path.write_bytes(b"\x10" + b"\0" * 7 + b"{broken}")
    assert [f["code"] for f in _doc(tmp_path)["findings"]] == ["shard-header-unreadable"]
    (tmp_path / "config.json").write_text("{")
    assert "config-unreadable" in {f["code"] for f in _doc(tmp_path)["findings"]}
    (tmp_path / "garbage.bin").write_bytes(b"\x80\x02garbage")
    path.unlink()
    assert "checkpoint-unreadable" in {f["code"] for f in _doc(tmp_path)["findings"]}


def test_bad_targets(tmp_path: Path) -> None:
    for target, kw in (
        (tmp_path / "missing", {}),
        ("not a repo id", {}),
        ("org/name", {"cache_dir": str(tmp_path / "no-cache")}),
        (tmp_path, {"revision": "main"}),
        (tmp_path, {"strip_prefix": ["module."]}),
    ):
        with pytest.raises(BadInputError):
            inspect_target(str(target), **kw)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(BadInputError):
        inspect_target(str(tmp_path / "notes.txt"))
