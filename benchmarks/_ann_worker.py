"""One measurement of the ANN benchmark, run in its own process so imports and other contenders'
memory never count: ``python _ann_worker.py '<json request>'`` prints one JSON result line.

Requests (``op`` and ``contender`` are ``exact``, ``chroma`` or ``agentfs``):

- ``{"op": "build", ...}``: build the index, report seconds and bytes on disk;
- ``{"op": "serve", ...}``: open it, run warm-up queries, report memory held, then time every
  query one at a time (recall@10, QPS, p50/p99 latency, pages read per query);
- ``{"op": "configure", ...}``: set Chroma's ``ef_search`` (takes effect in the next process).

Memory held = resident set after the warm-up queries minus the resident set just before the
index is opened (libraries are imported and the queries loaded before the first reading); the
peak is the largest resident set sampled every 10 warm-up queries, minus the same baseline.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ann_data import K, metadata_for

CHROMA_COLLECTION = "bench"
CHROMA_BATCH = 5000


def rss() -> int:
    return psutil.Process().memory_info().rss


def peak_rss_mb() -> float:
    """Peak resident set of this process so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --- build -------------------------------------------------------------------------------------


def build(request: dict[str, Any]) -> dict[str, Any]:
    data, index = Path(request["data"]), Path(request["index"])
    vectors = np.load(data / "vectors.npy", mmap_mode="r")
    if index.exists():
        shutil.rmtree(index)
    contender = request["contender"]
    ids = [str(i) for i in range(len(vectors))]
    metadatas = [metadata_for(i) for i in range(len(vectors))]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    if contender == "exact":
        index.mkdir(parents=True)
        shutil.copyfile(data / "vectors.npy", index / "vectors.npy")
    elif contender == "chroma":
        import chromadb
        from chromadb.config import Settings

        client = chromadb.PersistentClient(str(index), settings=Settings(anonymized_telemetry=False))
        collection = client.create_collection(CHROMA_COLLECTION, configuration={"hnsw": {"space": "cosine"}},
                                              embedding_function=None)
        for start in range(0, len(vectors), CHROMA_BATCH):
            stop = start + CHROMA_BATCH
            collection.add(ids=ids[start:stop], embeddings=np.asarray(vectors[start:stop]),
                           metadatas=metadatas[start:stop])
    else:
        from agentfs.index.ann import AnnIndex, BuildParams

        AnnIndex.build(index, ids, vectors, metadatas, params=BuildParams(**request.get("params", {}))).close()
    build_s = time.perf_counter() - started
    return {"build_s": build_s, "bytes_on_disk": disk_bytes(index), "build_rss_peak_mb": peak_rss_mb(),
            "build_load_average": [load_before, os.getloadavg()[0]]}


def configure(request: dict[str, Any]) -> dict[str, Any]:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(request["index"], settings=Settings(anonymized_telemetry=False))
    client.get_collection(CHROMA_COLLECTION).modify(configuration={"hnsw": {"ef_search": int(request["ef"])}})
    return {"ef_search": int(request["ef"])}


# --- serve -------------------------------------------------------------------------------------


class Exact:
    """Brute force: the whole matrix in RAM, one matrix-vector product per query."""

    def __init__(self, index: Path) -> None:
        self.vectors = np.load(index / "vectors.npy")
        self.pages = self.vectors.nbytes // 4096

    def query(self, q: np.ndarray) -> list[int]:
        scores = self.vectors @ q
        top = np.argpartition(-scores, K - 1)[:K]
        return top[np.argsort(-scores[top])].tolist()

    def pages_per_query(self) -> float:
        return float(self.pages)


class Chroma:
    def __init__(self, index: Path) -> None:
        import chromadb
        from chromadb.config import Settings

        self.client = chromadb.PersistentClient(str(index), settings=Settings(anonymized_telemetry=False))
        self.collection = self.client.get_collection(CHROMA_COLLECTION)

    def query(self, q: np.ndarray) -> list[int]:
        result = self.collection.query(query_embeddings=q[None, :], n_results=K, include=["distances"])
        return [int(i) for i in result["ids"][0]]

    def pages_per_query(self) -> float | None:
        return None  # the HNSW graph and vectors are read into RAM; no pages are read per query


class Agentfs:
    def __init__(self, index: Path, request: dict[str, Any]) -> None:
        from agentfs.index.ann import AnnIndex

        self.index = AnnIndex.open(index, memory_budget_mb=float(request.get("budget_mb", 256)))
        self.nprobe = int(request["nprobe"])
        self.rerank = int(request.get("rerank", 100))

    def query(self, q: np.ndarray) -> list[int]:
        hits = self.index.search(q, K, nprobe=self.nprobe, rerank=self.rerank, with_metadata=False)[0]
        return [int(h.id) for h in hits]

    def pages_per_query(self) -> float:
        return float(self.index.info()["memory"]["pages_per_query"])

    def kernel(self) -> str:
        """``c`` (the compiled scan) or ``numpy``."""
        return str(self.index.info()["scan_kernel"])


def serve(request: dict[str, Any]) -> dict[str, Any]:
    data, index = Path(request["data"]), Path(request["index"])
    queries = np.load(data / "queries.npy")
    truth = np.load(data / "truth.npy")
    limit = request.get("queries")
    if limit:
        queries, truth = queries[:limit], truth[:limit]
    warm = int(request.get("warm", 1000))
    contender = request["contender"]
    if contender == "chroma":
        import chromadb  # noqa: F401  (imported before the baseline, like numpy)
    elif contender == "agentfs":
        import agentfs.index.ann  # noqa: F401
    before = rss()
    opened = time.perf_counter()
    engine: Any
    if contender == "exact":
        engine = Exact(index)
    elif contender == "chroma":
        engine = Chroma(index)
    else:
        engine = Agentfs(index, request)
    peak = rss()
    for i in range(warm):
        engine.query(queries[i % len(queries)])
        if i % 10 == 9:
            peak = max(peak, rss())
    warm_s = time.perf_counter() - opened
    held = rss() - before
    peak = max(peak, rss())
    latencies = np.zeros(len(queries))
    found = []
    cpu_started = time.process_time()
    for i, q in enumerate(queries):
        started = time.perf_counter()
        found.append(engine.query(q))
        latencies[i] = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    recall = float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))
    pages = engine.pages_per_query()
    return {
        "recall_at_10": recall,
        "qps": len(queries) / float(latencies.sum()),
        # CPU seconds of the whole process (every thread): what a query costs whatever the load.
        "qps_cpu": len(queries) / cpu_s if cpu_s > 0 else None,
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "held_mb": held / 2**20,
        # The largest resident set seen during the warm-up (sampled every 10 queries), minus the
        # same baseline: an index that frees pages now and then is judged at its worst moment.
        "held_peak_mb": (peak - before) / 2**20,
        "rss_mb": rss() / 2**20,
        "pages_per_query": pages,
        "warm_queries": warm,
        "open_and_warm_s": warm_s,
        "queries": len(queries),
        "load_average": os.getloadavg()[0],
        **({"scan_kernel": engine.kernel()} if isinstance(engine, Agentfs) else {}),
    }


def sweep(request: dict[str, Any]) -> dict[str, Any]:
    """Recall and QPS of agentfs at each ``nprobe`` (one process, warmed once): the curve."""
    data = Path(request["data"])
    queries, truth = np.load(data / "queries.npy"), np.load(data / "truth.npy")
    engine = Agentfs(Path(request["index"]), {**request, "nprobe": 1})
    for i in range(int(request.get("warm", 1000))):
        engine.query(queries[i % len(queries)])
    points = []
    for nprobe in request["nprobes"]:
        engine.nprobe = int(nprobe)
        started, cpu_started = time.perf_counter(), time.process_time()
        found = [engine.query(q) for q in queries]
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        recall = float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))
        points.append({"nprobe": int(nprobe), "rerank": engine.rerank, "recall_at_10": recall,
                       "qps": len(queries) / elapsed, "qps_cpu": len(queries) / cpu if cpu > 0 else None})
    return {"points": points, "load_average": os.getloadavg()[0], "scan_kernel": engine.kernel()}


def main() -> None:
    request = json.loads(sys.argv[1])
    op = request["op"]
    result = {"build": build, "serve": serve, "configure": configure, "sweep": sweep}[op](request)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
