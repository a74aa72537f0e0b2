"""The text path end to end: text folders and CSV to a token graph with a mean read-out, its
parity, the runtime's tokenization and text streams, and `edgernn predict --text`."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgernn.runtime import InputTypeError, Model
from edgernn.runtime.splits import load_train_test
from edgernn.runtime.errors import InputError, MetadataError
from edgernn.runtime.frontend import TextFrontend, frontend_from_json
from edgernn.runtime.text import PAD_ID, Vocabulary, tokenize
from edgernn.trainer.config import ModelConfig, TrainConfig
from edgernn.trainer.network import RecurrentClassifier

from support import MEASURED_SETTINGS

TOPICS = {
    "cars": "engine wheel brake fuel drive speed tire gear motor".split(),
    "space": "orbit rocket nasa moon launch planet star shuttle mission".split(),
    "sport": "ball goal team score match player win coach league".split(),
}
COMMON = "the a of and to in is it that for on with as was".split()


def write_posts(root: Path, per_class: int, seed: int) -> Path:
    """One folder per topic, one Usenet-like post per file (header, body, signature)."""
    rng = random.Random(seed)
    for topic, words in TOPICS.items():
        folder = root / topic
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            body = " ".join(rng.choice(words if rng.random() < 0.3 else COMMON) for _ in range(rng.randint(15, 50)))
            (folder / str(i)).write_text(f"From: someone@{topic}.org\nSubject: {topic}\n\n{body}\n\n--\nmy signature {topic}\n")
    return root


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, train_seed):
    from edgernn.export.exporter import export
    from edgernn.trainer.train import train

    base = tmp_path_factory.mktemp("text")
    write_posts(base / "posts-train", 24, seed=0)
    write_posts(base / "posts-test", 8, seed=1)
    outcome = train(base / "posts-train", base / "run", {"cell": "gru", "hidden": 24, "embed_dim": 16, "readout": "mean"},
                    TrainConfig(**{**MEASURED_SETTINGS, "epochs": 8}, seed=train_seed, threads=1, max_tokens=40, min_count=1),
                    log=lambda m: None,
                    strip=("headers", "footers", "quotes"))
    artifacts = export(outcome.checkpoint, precisions=("fp32", "int8-dynamic"), log=lambda m: None)
    return outcome, artifacts


def test_a_text_folder_finds_its_test_sibling_and_strips_posts(tmp_path):
    write_posts(tmp_path / "posts-train", 3, seed=0)
    write_posts(tmp_path / "posts-test", 2, seed=1)
    train_set, test_set = load_train_test(tmp_path / "posts-train", strip=("headers", "footers"))
    assert train_set.input_kind == "text" and train_set.classes == ["cars", "space", "sport"]
    assert (len(train_set), len(test_set)) == (9, 6)
    assert not any("From:" in t or "signature" in t for t in train_set.sequences)
    with pytest.raises(InputError, match="--strip applies to text data"):
        load_train_test(Path(__file__).parent, strip=("headers",))


@pytest.mark.floor
def test_text_model_trains_and_its_graphs_pass_the_token_gates(text_run, figures):
    outcome, artifacts = text_run
    cases = len(outcome.test_set)
    # seeds 0-4: 0.9583 / 0.9667 / 1.0 of 24 cases; rule: <= 0.8333
    figures.at_least("test_accuracy", outcome.metrics["accuracy"], 0.83, cases)
    fp32, int8 = artifacts["fp32"], artifacts["int8-dynamic"]
    figures.gates({"fp32": fp32.parity, "int8-dynamic": int8.parity}, cases)
    figures.verify()
    weights = int8.footprint["weights"]
    assert weights["int8_fraction"] >= 0.99  # the embedding table is int8 too


def test_runtime_tokenization_equals_training_tokenization(text_run):
    outcome, artifacts = text_run
    model = Model(artifacts["fp32"].path)
    assert isinstance(model.frontend, TextFrontend) and model.frontend.max_tokens == 40
    from edgernn.trainer.checkpoint import read_checkpoint

    trained = frontend_from_json(read_checkpoint(outcome.checkpoint)["frontend"])
    for text in outcome.test_set.sequences:
        np.testing.assert_array_equal(model.prepare(text), trained(trained.check(text)))
    state_names = [s.name for s in model.state_specs]
    assert state_names == ["h", "pool", "pool_weight"]


def test_text_streams_in_any_pieces_equal_predict(text_run):
    outcome, artifacts = text_run
    model = Model(artifacts["fp32"].path)
    rng = np.random.default_rng(0)
    texts = [t for t in outcome.test_set.sequences if len(tokenize(t)) <= 40][:6]
    whole = model.predict(texts)
    for text, expected in zip(texts, whole):
        stream, pieces, start = model.stream(), [], 0
        while start < len(text):
            size = int(rng.integers(1, 12))
            pieces.append(stream.push(text[start:start + size]))
            start += size
        pieces.append(stream.flush())
        steps = np.concatenate(pieces)
        assert len(steps) == len(tokenize(text)) == stream.steps
        np.testing.assert_allclose(steps[-1], expected, atol=1e-5)
    ids = model.prepare(texts[0])
    by_ids = model.stream()
    last = [by_ids.push(ids[t:t + 1]) for t in range(len(ids))][-1]  # token ids one at a time
    np.testing.assert_allclose(last[-1], whole[0], atol=1e-5)


def test_a_document_without_words_reads_as_padding_and_bad_text_input_is_named(text_run):
    _, artifacts = text_run
    model = Model(artifacts["fp32"].path)
    np.testing.assert_array_equal(model.prepare("-- !!"), [PAD_ID])
    assert model.predict(["", "rocket"]).shape == (2, 3)
    with pytest.raises(InputTypeError, match="expected text as str"):
        model.predict([b"rocket"])
    with pytest.raises(InputError, match=r"token id 9999 at step 0 is outside \[0, "):
        model.stream().push(np.array([9999]))


def test_text_front_end_metadata_is_checked():
    front = TextFrontend(Vocabulary.build([["a", "b", "a"]], min_count=1), max_tokens=5)
    spec = front.to_json()
    assert frontend_from_json(json.loads(json.dumps(spec))).vocabulary == front.vocabulary
    with pytest.raises(MetadataError, match="splits words by another rule"):
        frontend_from_json({**spec, "word_pattern": "[a-z]+"})
    with pytest.raises(MetadataError, match="'max_tokens' must be null or an integer >= 1"):
        frontend_from_json({**spec, "max_tokens": 0})
    with pytest.raises(MetadataError, match="must start with"):
        frontend_from_json({**spec, "vocabulary": {"words": ["a", "b"]}})


@pytest.mark.parametrize("cell, readout", [("rnn", "mean"), ("lstm", "mean"), ("gru", "mean"), ("gru", "attention"),
                                           ("lstm", "attention")])
def test_pooled_readout_carried_as_state_equals_the_whole_sequence(cell, readout):
    torch.manual_seed(0)
    model = RecurrentClassifier(ModelConfig(cell=cell, input_kind="tokens", vocab_size=50, embed_dim=8, hidden=12,
                                            classes=3, readout=readout)).eval()
    x = torch.randint(0, 50, (2, 23))
    with torch.inference_mode():
        whole, whole_state = model(x)
        state, steps = None, []
        for t in range(23):  # one token at a time, the state carried
            logits, state = model(x[:, t:t + 1], state)
            steps.append(logits)
        np.testing.assert_allclose(torch.cat(steps, dim=1).numpy(), whole.numpy(), atol=1e-5)
        for a, b in zip(state, whole_state):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
        outputs, _ = model.rnn(model.embedding(x))  # the head reads the (weighted) mean of the outputs so far
        if readout == "mean":
            weights = torch.ones(2, 23, 1)
        else:
            weights = torch.exp(8.0 * torch.tanh(model.scorer(outputs)))
        means = torch.cumsum(weights * outputs, 1) / torch.cumsum(weights, 1)
        np.testing.assert_allclose(whole.numpy(), model.head(means).numpy(), atol=1e-5)
        np.testing.assert_allclose(whole_state[-1].flatten().numpy(), weights.sum(dim=1).flatten().numpy(), rtol=1e-5)


def test_predict_verb_takes_text_and_text_data(text_run, tmp_path):
    from edgernn.cli.main import cli

    outcome, artifacts = text_run
    path = str(artifacts["int8-dynamic"].path)
    result = CliRunner().invoke(cli, ["predict", path, "--text", "the rocket launch to the moon", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["predictions"]
    assert rows[0]["predicted"] == "space"
    test_dir = Path(outcome.dataset["load"]["data"]).with_name("posts-test")
    result = CliRunner().invoke(cli, ["predict", path, str(test_dir), "--strip", "headers,footers,quotes", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["accuracy"] >= 0.9
    (tmp_path / "one.csv").write_text("text,label\nmoon rocket orbit,space\n")
    result = CliRunner().invoke(cli, ["predict", path, str(tmp_path / "one.csv"), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["cases"] == 1
    result = CliRunner().invoke(cli, ["predict", path])
    assert result.exit_code == 2 and "give DATA or --text" in result.output
    result = CliRunner().invoke(cli, ["predict", path, "--text", "x", "--strip", "header"])
    assert result.exit_code == 2 and "unknown part(s) ['header']" in result.output


def test_word_vectors_initialise_the_embedding_rows_they_cover(tmp_path):
    from edgernn.runtime.errors import DataFormatError
    from edgernn.trainer.wordvec import initialise_embedding, read_word_vectors

    vocabulary = Vocabulary.build([["moon", "rocket", "moon", "tire"]], min_count=1)
    path = tmp_path / "vectors.txt"
    path.write_text("3 4\nmoon 1 2 3 4\nzebra 9 9 9 9\nrocket -1 0 1 0\n")  # word2vec header, a word not in the vocabulary
    vectors, found = read_word_vectors(path, vocabulary)
    assert found.tolist() == [False, False, True, True, False]  # <pad>, <unk>, moon, rocket, tire
    np.testing.assert_array_equal(vectors[vocabulary.words.index("moon")], [1, 2, 3, 4])
    embedding = torch.nn.Embedding(len(vocabulary), 4)
    before = embedding.weight.detach().clone()
    initialise_embedding(embedding, vectors, found)
    moon, rocket = embedding.weight[2].detach(), embedding.weight[3].detach()
    assert torch.allclose(moon / moon.norm(), torch.tensor([1.0, 2, 3, 4]) / np.sqrt(30), atol=1e-6)
    assert torch.allclose(rocket / rocket.norm(), torch.tensor([-1.0, 0, 1, 0]) / np.sqrt(2), atol=1e-6)
    assert torch.equal(embedding.weight[[0, 1, 4]].detach(), before[[0, 1, 4]])
    with pytest.raises(DataFormatError, match="the word vectors have 4 dimensions; the model's embedding has 8"):
        initialise_embedding(torch.nn.Embedding(5, 8), vectors, found)
    path.write_text("moon 1 2 3 4\nrocket 1 2\n")
    with pytest.raises(DataFormatError, match=r"vectors.txt:2: a vector of 2 values; the file's first has 4"):
        read_word_vectors(path, vocabulary)
    path.write_text("moon 1 2 x 4\n")
    with pytest.raises(DataFormatError, match=r"vectors.txt:1: the vector of 'moon' holds a value that is not a number"):
        read_word_vectors(path, vocabulary)


def test_train_with_word_vectors_logs_their_coverage(tmp_path):
    from edgernn.trainer.train import train

    write_posts(tmp_path / "posts-train", 4, seed=0)
    write_posts(tmp_path / "posts-test", 2, seed=1)
    vectors = tmp_path / "v.txt"
    vectors.write_text("".join(f"{w} {' '.join(str(float(i + j)) for j in range(8))}\n" for i, w in enumerate(TOPICS["space"])))
    lines = []
    train(tmp_path / "posts-train", tmp_path / "run", {"cell": "gru", "hidden": 8, "embed_dim": 8},
          TrainConfig(epochs=1, threads=1, min_count=1, word_vectors=str(vectors), token_dropout=0.1), log=lines.append)
    assert any(line.startswith("word vectors: 9 of ") for line in lines), lines


@pytest.mark.slow
def test_runtime_tokenization_equals_training_on_every_20newsgroups_test_document(newsgroups):
    """The front end as training fits it and as the runtime reads it back from the graph's
    metadata give the same ids on all 7,532 test posts; a text stream fed each post in random
    pieces gives the same words as the whole post."""
    from edgernn.runtime.text import TextStream
    from edgernn.trainer.train import fit_frontend

    strip = ("headers", "footers", "quotes")
    train_set, test_set = load_train_test(newsgroups / "20news-bydate-train", strip=strip)
    assert (len(train_set), len(test_set)) == (11314, 7532)
    trained = fit_frontend(train_set, test_set, TrainConfig(max_tokens=400))
    deployed = frontend_from_json(json.loads(json.dumps(trained.to_json())))
    assert len(deployed.vocabulary) == 30000 and deployed.max_tokens == 400
    for text in test_set.sequences:
        np.testing.assert_array_equal(deployed(deployed.check(text)), trained(trained.check(text)))
    rng = np.random.default_rng(0)
    stream = TextStream()
    for text in test_set.sequences[::5]:
        cuts = np.sort(rng.integers(0, len(text) + 1, size=8))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        assert [w for p in pieces for w in stream.push(p)] + stream.flush() == tokenize(text)


def test_stream_verb_reads_a_text_document(text_run, tmp_path):
    from edgernn.cli.main import cli

    _, artifacts = text_run
    path = str(artifacts["fp32"].path)
    doc = tmp_path / "post.txt"
    doc.write_text("the rocket launch to the moon and the shuttle orbit")  # no space after the last word
    result = CliRunner().invoke(cli, ["stream", path, str(doc), "--json", "--chunk", "7"])
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout.splitlines()[-1])
    expected = Model(path).predict([doc.read_text()])[0]
    assert final["steps"] == 10 and final["final"] == "space" and final["score"] == pytest.approx(expected.max(), abs=1e-4)


def test_skip_gram_vectors_put_words_of_one_topic_together():
    from edgernn.trainer.wordvec import train_word_vectors

    rng = np.random.default_rng(0)
    vocabulary = Vocabulary.build([TOPICS["cars"] + TOPICS["space"]], min_count=1)
    documents = []
    for _ in range(300):  # each document speaks of one topic only
        words = TOPICS["cars" if rng.random() < 0.5 else "space"]
        documents.append(vocabulary.ids([words[i] for i in rng.integers(0, len(words), size=30)]))
    vectors = train_word_vectors(documents, len(vocabulary), 16, epochs=5, subsample=1.0, seed=0)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = {topic: [vocabulary.words.index(w) for w in TOPICS[topic]] for topic in ("cars", "space")}
    within = np.mean([unit[a] @ unit[b] for topic in ids.values() for a in topic for b in topic if a != b])
    across = np.mean([unit[a] @ unit[b] for a in ids["cars"] for b in ids["space"]])
    assert within > across + 0.1, (within, across)
    for topic, members in ids.items():  # every word's nearest other word speaks of its topic
        for a in members:
            nearest = max((b for b in ids["cars"] + ids["space"] if b != a), key=lambda b: unit[a] @ unit[b])
            assert nearest in members, (topic, vocabulary.words[a], vocabulary.words[nearest])
    again = train_word_vectors(documents, len(vocabulary), 16, epochs=5, subsample=1.0, seed=0)
    np.testing.assert_array_equal(vectors, again)


def test_pretrained_vectors_start_the_embedding_and_stay_fixed_when_frozen(tmp_path, monkeypatch):
    import edgernn.trainer.train as train_module

    write_posts(tmp_path / "posts-train", 6, seed=0)
    write_posts(tmp_path / "posts-test", 2, seed=1)
    initial = {}
    pretrain = train_module.pretrain_word_vectors

    def recording(model, *args, **kwargs):
        pretrain(model, *args, **kwargs)
        initial["embedding"] = model.embedding.weight.detach().clone()
    monkeypatch.setattr(train_module, "pretrain_word_vectors", recording)
    outcome = train_module.train(tmp_path / "posts-train", tmp_path / "run", {"cell": "gru", "hidden": 8, "embed_dim": 8},
                                 TrainConfig(epochs=2, threads=1, min_count=1, pretrain_epochs=1, freeze_embedding=True),
                                 log=lambda m: None)
    assert torch.equal(outcome.model.embedding.weight.detach(), initial["embedding"])
    from edgernn.trainer.wordvec import read_word_vectors  # the vectors are kept for --word-vectors
    frontend = frontend_from_json(torch.load(outcome.checkpoint, weights_only=True)["frontend"])
    vectors, found = read_word_vectors(tmp_path / "run" / "word_vectors.txt", frontend.vocabulary)
    assert found[2:].all() and not found[:2].any() and vectors.shape == (len(frontend.vocabulary), 8)
    with pytest.raises(InputError, match="--freeze-embedding keeps word vectors fixed"):
        train_module.train(tmp_path / "posts-train", tmp_path / "run2", {"cell": "gru", "hidden": 8, "embed_dim": 8},
                           TrainConfig(epochs=1, min_count=1, freeze_embedding=True), log=lambda m: None)


def test_pipeline_runs_the_whole_text_flow_and_leaves_int8_static_out_for_a_pooled_readout(tmp_path):
    from edgernn.cli.main import cli
    from edgernn.export.exporter import AVAILABLE_PRECISIONS, default_precisions

    assert default_precisions("last", print) == AVAILABLE_PRECISIONS
    assert default_precisions("mean", lambda m: None) == ("fp32", "int8-dynamic", "fp16")
    write_posts(tmp_path / "posts-train", 10, seed=0)
    write_posts(tmp_path / "posts-test", 4, seed=1)
    result = CliRunner().invoke(cli, ["pipeline", str(tmp_path / "posts-train"), "--strip", "headers,footers,quotes",
                                      "--cell", "gru", "--readout", "mean", "--hidden", "8", "--embed-dim", "8",
                                      "--min-count", "1", "--epochs", "2", "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["artifacts"]) == ["fp16", "fp32", "int8-dynamic"]
    assert report["footprint"]["int8-dynamic"]["weights"]["int8_fraction"] >= 0.95
    assert report["stream_demo"]["steps"] >= 1


def test_a_token_lstm_int8_dynamic_file_stores_its_embedding_as_int8_too():
    from edgernn.export.torch_to_onnx import ExportContract, export_onnx
    from edgernn.export.quantize import DynamicCandidate, dynamic_int8, op_counts, weight_storage

    torch.manual_seed(0)
    model = RecurrentClassifier(ModelConfig(cell="lstm", input_kind="tokens", vocab_size=2000, embed_dim=32, hidden=16,
                                            classes=3, readout="mean")).eval()
    quantized = dynamic_int8(export_onnx(model, ExportContract.for_model(model)), DynamicCandidate(False, True))
    storage = weight_storage(quantized)
    assert storage["int8_fraction"] >= 0.99, storage  # the 64,000-parameter table dominates
    assert op_counts(quantized).get("DynamicQuantizeLSTM") == 1


def test_text_model_on_two_sessions_agrees_for_predict_stream_and_batch(text_run, two_sessions_agree):
    two_sessions_agree(text_run[1]["fp32"].path)
