"""Libraries that reach the hub through HF_ENDPOINT: datasets.load_dataset and transformers Auto* classes.
All data is generated here; nothing leaves 127.0.0.1 (the datasets-server lookup fails at DNS, as intended)."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from huggingface_hub import CommitOperationAdd


@pytest.fixture
def isolated_hf_caches(tmp_path, monkeypatch):
    """Fresh caches so the libraries really download from the server."""
    import huggingface_hub.constants as hc

    cache = tmp_path / "hub"
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
    return tmp_path


def _csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def test_load_dataset_csv(hub, api, isolated_hf_caches):
    datasets = pytest.importorskip("datasets")
    rid = hub.repo_id("csv-ds")
    api.create_repo(rid, repo_type="dataset")
    train = [{"id": i, "text": f"row {i}", "label": i % 3} for i in range(50)]
    test = [{"id": i, "text": f"test {i}", "label": i % 2} for i in range(10)]
    api.create_commit(rid, repo_type="dataset", commit_message="csv data", operations=[
        CommitOperationAdd("data/train.csv", _csv_bytes(train)),
        CommitOperationAdd("data/test.csv", _csv_bytes(test)),
    ])
    ds = datasets.load_dataset(rid, cache_dir=str(isolated_hf_caches / "datasets"))
    assert set(ds) == {"train", "test"}
    assert ds["train"].num_rows == 50 and ds["test"].num_rows == 10
    assert ds["train"][7] == train[7]
    assert ds["test"]["text"] == [r["text"] for r in test]


def test_load_dataset_jsonl(hub, api, isolated_hf_caches):
    datasets = pytest.importorskip("datasets")
    rid = hub.repo_id("jsonl-ds")
    api.create_repo(rid, repo_type="dataset")
    rows = [{"question": f"q{i}", "answer": i * i, "tags": ["a", "b"][: i % 3]} for i in range(40)]
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    readme = ("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
              "    path: qa.jsonl\n---\n# QA\n").encode()
    api.create_commit(rid, repo_type="dataset", commit_message="jsonl data", operations=[
        CommitOperationAdd("qa.jsonl", body),
        CommitOperationAdd("README.md", readme),
    ])
    ds = datasets.load_dataset(rid, split="train", cache_dir=str(isolated_hf_caches / "datasets"))
    assert ds.num_rows == 40
    assert ds[5] == rows[5]
    # a pinned revision resolves to the same data
    sha = api.dataset_info(rid).sha
    ds2 = datasets.load_dataset(rid, split="train", revision=sha, cache_dir=str(isolated_hf_caches / "ds2"))
    assert ds2["answer"] == [r["answer"] for r in rows]


def test_transformers_config_and_tokenizer(hub, api, tmp_path, isolated_hf_caches):
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["hello world", "modelhub serves models", "hello modelhub world"],
                            trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[CLS]", "[SEP]"]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    folder = tmp_path / "tiny"
    fast.save_pretrained(folder)
    config = transformers.BertConfig(vocab_size=fast.vocab_size, hidden_size=8, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=16)
    config.save_pretrained(folder)
    expected_ids = fast("hello modelhub world")["input_ids"]

    rid = hub.repo_id("tiny-bert")
    api.create_repo(rid)
    api.upload_folder(repo_id=rid, folder_path=folder, commit_message="tiny model")

    cache = str(isolated_hf_caches / "transformers")
    cfg = transformers.AutoConfig.from_pretrained(rid, cache_dir=cache)
    assert cfg.model_type == "bert" and cfg.hidden_size == 8 and cfg.vocab_size == fast.vocab_size
    loaded = transformers.AutoTokenizer.from_pretrained(rid, cache_dir=cache)
    assert loaded("hello modelhub world")["input_ids"] == expected_ids
    assert loaded.pad_token == "[PAD]"

    # private repo: needs the token, and works with it
    api.update_repo_settings(rid, private=True)
    with pytest.raises(OSError):
        transformers.AutoConfig.from_pretrained(rid, cache_dir=str(isolated_hf_caches / "anon"), token=False)
    cfg2 = transformers.AutoConfig.from_pretrained(rid, cache_dir=str(isolated_hf_caches / "auth"),
                                                   token=hub.token("alice"))
    assert cfg2.hidden_size == 8


def test_safetensors_metadata_via_ranged_reads(hub, api):
    """get_safetensors_metadata reads only the header of model.safetensors with ranged GETs."""
    import struct

    header = {"__metadata__": {"format": "pt"},
              "embed.weight": {"dtype": "F32", "shape": [16, 8], "data_offsets": [0, 512]},
              "head.bias": {"dtype": "F16", "shape": [8], "data_offsets": [512, 528]}}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    blob = struct.pack("<Q", len(raw)) + raw + os.urandom(528)
    rid = hub.repo_id("safetensors")
    api.create_repo(rid)
    api.upload_file(path_or_fileobj=blob, path_in_repo="model.safetensors", repo_id=rid)
    meta = api.get_safetensors_metadata(rid)
    fm = meta.files_metadata["model.safetensors"]
    assert fm.metadata == {"format": "pt"}
    assert fm.tensors["embed.weight"].shape == [16, 8] and fm.tensors["head.bias"].dtype == "F16"
    assert meta.parameter_count == {"F32": 128, "F16": 8}
