"""The data recipe: vocabulary, split, example counts, and obtaining names.txt."""
import hashlib

import pytest
import torch

from wavenet.data import build_dataset, decode, encode, itos, read_words, split_words, stoi, vocab_size
from wavenet.data import names as names_mod


def test_vocabulary_is_dot_then_a_to_z():
    """'.' is 0 and a..z are 1..26, 27 symbols in all."""
    assert vocab_size == 27
    assert itos[0] == "." and itos[1] == "a" and itos[26] == "z"
    assert all(stoi[itos[i]] == i for i in range(27))
    assert decode(encode("emma")) == "emma"


def test_names_file_has_32033_names():
    """The verified file holds the course's 32,033 names."""
    words = read_words()
    assert len(words) == 32033
    assert words[0] == "emma"


def test_split_is_80_10_10_by_words_and_leaves_input_alone():
    """random.seed(42) shuffle, then 80/10/10 over words; the caller's list is not shuffled."""
    words = read_words()
    before = list(words)
    parts = split_words(words)
    assert words == before
    assert [len(parts[k]) for k in ("train", "val", "test")] == [25626, 3203, 3204]
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == sorted(words)


def test_block_size_8_example_counts(splits8):
    """The lecture's 182,625 / 22,655 / 22,866 examples for block size 8."""
    counts = [splits8[k][0].shape[0] for k in ("train", "val", "test")]
    assert counts == [182625, 22655, 22866]
    assert splits8["train"][0].shape == (182625, 8) and splits8["train"][1].shape == (182625,)


def test_first_training_rows_match_the_lecture(splits8):
    """The first shuffled training name is 'yuheng': ........ --> y, .......y --> u, ..."""
    X, Y = splits8["train"]
    rows = [f"{decode(X[i])} --> {itos[Y[i].item()]}" for i in range(3)]
    assert rows == ["........ --> y", ".......y --> u", "......yu --> h"]


def test_build_dataset_pads_with_dots_and_ends_each_name_with_dot():
    """Every name gives len+1 examples; the last target is '.'."""
    X, Y = build_dataset(["ab"], 3)
    assert [decode(x) for x in X] == ["...", "..a", ".ab"]
    assert decode(Y) == "ab."
    assert X.dtype == torch.long


def test_wrong_local_copy_is_rejected_with_instructions(tmp_path):
    """A copy whose hash differs fails clearly and says how to supply the file."""
    bad = tmp_path / "names.txt"
    bad.write_text("emma\nolivia\n")
    with pytest.raises(names_mod.NamesError, match="--from"):
        names_mod.ensure_names(bad, dest=tmp_path / "dest.txt")
    assert not (tmp_path / "dest.txt").exists()


def test_local_copy_via_env_is_installed(tmp_path, monkeypatch):
    """NAMES_TXT points to a good copy: it is verified and copied into place."""
    monkeypatch.setenv(names_mod.ENV_VAR, str(names_mod.DEFAULT_PATH))
    dest = names_mod.ensure_names(dest=tmp_path / "names.txt")
    assert names_mod.sha256_of(dest) == names_mod.NAMES_SHA256


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    """No network: a clear error, and no partial file in the data folder."""
    monkeypatch.delenv(names_mod.ENV_VAR, raising=False)
    url = (tmp_path / "missing.txt").as_uri()  # a URL that cannot be fetched, no network needed
    with pytest.raises(names_mod.NamesError, match="could not download"):
        names_mod.ensure_names(dest=tmp_path / "names.txt", url=url)
    assert list(tmp_path.iterdir()) == []


def test_download_with_wrong_hash_is_discarded(tmp_path, monkeypatch):
    """A download that does not verify never lands in place."""
    monkeypatch.delenv(names_mod.ENV_VAR, raising=False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "names.txt").write_text("not the names\n")
    dest_dir = tmp_path / "data"
    with pytest.raises(names_mod.NamesError, match="sha256"):
        names_mod.ensure_names(dest=dest_dir / "names.txt", url=(src / "names.txt").as_uri())
    assert list(dest_dir.iterdir()) == []


def test_good_download_is_verified_and_kept(tmp_path, monkeypatch):
    """A download with the right hash is moved into place."""
    monkeypatch.delenv(names_mod.ENV_VAR, raising=False)
    dest = names_mod.ensure_names(dest=tmp_path / "names.txt", url=names_mod.DEFAULT_PATH.as_uri())
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == names_mod.NAMES_SHA256
