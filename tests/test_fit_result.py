"""``fit_target`` is ``hfcache fit`` as one call: the CLI prints its result and exits with its status.
A result without a plan (what the doctor's gate will return for a broken revision) is built here
by hand: it keeps the plan's JSON keys, exits 1, and says the reason and the command to run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from checkpoints import save_llama
from test_cli import hfcache

from hfcache.cli.fit_report import render
from hfcache.cli.output import Output
from hfcache.errors import BadInputError
from hfcache.findings import Place, finding
from hfcache.fit import NO_PLAN, Checkpoint, FitResult, Hardware, NoPlan, fit_target
from hfcache.fit.result import PLAN_KEYS

GIB = 1 << 30


def test_the_cli_prints_the_library_result(tmp_path: Path) -> None:
    save_llama(tmp_path / "m", tied=True)
    args = ["--gpu", "8GiB", "--ram", "16GiB", "--disk", "1GiB"]
    result = fit_target(str(tmp_path / "m"), gpus=["8GiB"], ram="16GiB", disk="1GiB")
    assert isinstance(result, FitResult) and result.plan is not None and result.no_plan is None
    assert (result.verdict, result.fits, result.exit_code) == ("fits-gpu", True, 0)
    assert result.checkpoint == Checkpoint("folder", str(tmp_path / "m"))
    assert result.hardware is result.plan.hardware
    doc = result.to_json()
    assert list(doc)[:2] == ["target", "checkpoint"] and doc["target"] == str(tmp_path / "m")
    assert [k for k in doc if k in PLAN_KEYS] == list(PLAN_KEYS) == list(result.plan.to_json())
    run = hfcache("fit", tmp_path / "m", *args, "--json")
    assert run.returncode == 0, run.stderr
    printed = json.loads(run.stdout)
    assert printed.pop("schema_version") == 1
    # The same document, but for what detection reads from this machine (nothing here: all given).
    assert printed == json.loads(json.dumps(doc))


def test_offload_folder_is_decided_by_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_llama(tmp_path / "m", tied=True)
    monkeypatch.chdir(tmp_path)
    result = fit_target(str(tmp_path / "m"), no_gpu=True, ram=100_000, disk=10**12)
    assert result.hardware is not None and result.hardware.offload_folder == str(tmp_path / "offload")
    with pytest.raises(BadInputError, match="contradict"):
        fit_target(str(tmp_path / "m"), gpus=["8GiB"], no_gpu=True)


def _broken() -> FitResult:
    problem = finding(
        "link-missing-blob",
        "/hub/models--org--name/snapshots/abc/model.safetensors",
        "model.safetensors points to a blob that is not in the cache.",
        at=Place("models--org--name", "org/name", "model", "abc", "model.safetensors"),
    )
    hw = Hardware((), 64 * GIB, 100 * GIB, {"gpus": "--no-gpu"}, "/hub/offload")
    snapshot = "/hub/models--org--name/snapshots/abc"
    return FitResult(
        "org/name",
        Checkpoint("repo", snapshot, "org/name", "model", "main", "abc", "/hub"),
        hw,
        None,
        NoPlan(
            "the doctor finds org/name at abc broken: a plan for it would not load",
            (problem,),
            "hfcache doctor /hub --fix",
        ),
    )


def test_a_result_without_a_plan(capsys: pytest.CaptureFixture[str]) -> None:
    result = _broken()
    assert (result.verdict, result.fits, result.exit_code) == (NO_PLAN, False, 1)
    doc = result.to_json()
    assert list(doc) == ["target", "checkpoint", *PLAN_KEYS, "no_plan"]
    assert doc["fits"] is False and doc["verdict"] == "no-plan" and doc["kwargs"] is None
    assert doc["reasons"] == [
        "the doctor finds org/name at abc broken: a plan for it would not load",
        "fix it first: hfcache doctor /hub --fix",
    ]
    assert doc["hardware"]["ram_available"] == 64 * GIB
    (problem,) = doc["no_plan"]["problems"]
    assert problem["code"] == "link-missing-blob" and doc["no_plan"]["command"] == "hfcache doctor /hub --fix"
    json.dumps(doc)
    out = Output(False)
    with pytest.raises(typer.Exit) as ended:
        out.finish(result, lambda: render(out, result))
    assert ended.value.exit_code == 1
    text = capsys.readouterr().out
    for line in (
        "Model: org/name at abc",
        "Verdict: no-plan",
        "  the doctor finds org/name at abc broken",
        "  link-missing-blob: model.safetensors points to a blob",
        "Fix it first: hfcache doctor /hub --fix",
    ):
        assert line in text, text
    json_out = Output(True)
    with pytest.raises(typer.Exit):
        json_out.finish(result, lambda: render(json_out, result))
    assert json.loads(capsys.readouterr().out)["no_plan"]["reason"].startswith("the doctor finds")


def test_a_result_holds_a_plan_or_the_reason_there_is_none() -> None:
    with pytest.raises(ValueError, match="either a plan"):
        FitResult("x", Checkpoint("folder", "/x"), None, None, None)
    no_hardware = FitResult("x", Checkpoint("folder", "/x"), None, None, NoPlan("not planned"))
    assert no_hardware.to_json()["hardware"] is None and no_hardware.reasons == ("not planned",)
