"""Retrieval quality and speed on a BEIR dataset, end to end through agentfs' public API.

Every document of ``corpus.jsonl`` becomes a Markdown file ``/knowledge/<dataset>/<id>.md``
(``# title`` then the text) written with ``ContextFS.write_many`` in batches; the semantic index
catches up (``agentfs index sync``); then every test query runs through ``ContextFS.search`` in
each mode. Printed per mode: nDCG@10 and recall@100 (trec_eval definitions: linear gain), and
query latency p50/p95 (k=100); plus ingestion throughput (writing, indexing, end to end).

The baseline is plain BM25 (SQLite FTS5 scoring every matching file: ``lexical_exact``, the
store's ``lexical_budget`` set to 0), measured in the same run; the ratios of every mode to it are
printed. ``lexical`` is agentfs' bounded BM25 (see agentfs/index/lexical.py), which must keep the
baseline's quality while its latency stays flat as the store grows: ``--pad 95000`` adds that
many distractor files (sentences of the corpus shuffled together, never relevant) to measure it
at 100,000 files; ``--modes lexical,lexical_exact`` skips the embedder for such a run.

    python benchmarks/retrieval.py                         # SciFact (../shared/datasets/scifact)
    python benchmarks/retrieval.py --beir ../shared/datasets/cranfield
    python benchmarks/retrieval.py --json                  # one JSON object
    python benchmarks/retrieval.py --smoke                 # 150 documents, 20 queries
    python benchmarks/retrieval.py --pad 95000 --modes lexical,lexical_exact   # lexical at 100k files

Nothing here was tuned on the test queries: the chunk size follows the model's input limit and
the fusion weight was picked on SciFact's *train* queries (see docs/search.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import agentfs

REPO_ROOT = Path(__file__).resolve().parents[1]
MODES = ("lexical_exact", "lexical", "dense", "hybrid")
TARGETS = {"scifact": {"lexical": 0.65, "dense": 0.64, "hybrid": 0.70}}
BATCH = 500
ADMIN = "user:bench"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_dataset() -> Path:
    base = os.environ.get("AGENTFS_DATASETS_DIR")
    return (Path(base) if base else REPO_ROOT.parent / "shared" / "datasets") / "scifact"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load(folder: Path, split: str) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    corpus = read_jsonl(folder / "corpus.jsonl")
    queries = {str(q["_id"]): q["text"] for q in read_jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            parts = line.rstrip("\n").split("\t")
            if number == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            query_id, doc_id, score = parts[0], parts[1], int(parts[2])
            if score > 0:
                qrels.setdefault(query_id, {})[doc_id] = score
    qrels = {q: r for q, r in qrels.items() if q in queries}
    return corpus, queries, qrels


def doc_path(dataset: str, doc_id: str) -> str:
    return f"/knowledge/{dataset}/{_SAFE.sub('_', doc_id)}.md"


def document(doc: dict[str, Any]) -> str:
    title = " ".join(str(doc.get("title") or "").split())
    text = str(doc.get("text") or "").strip()
    return f"# {title}\n\n{text}\n" if title else f"{text}\n"


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant) if relevant else 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def smoke_subset(corpus: list[dict], qrels: dict[str, dict[str, int]], docs: int, queries: int):
    """A small corpus that still holds every relevant document of the queries kept."""
    kept_queries = dict(list(qrels.items())[:queries])
    needed = {d for rel in kept_queries.values() for d in rel}
    picked = [d for d in corpus if str(d["_id"]) in needed]
    picked += [d for d in corpus if str(d["_id"]) not in needed][: max(0, docs - len(picked))]
    return picked, kept_queries


def padding(corpus: list[dict], count: int, seed: int = 0) -> list[str]:
    """``count`` distractor documents: six sentences of the corpus each, shuffled together."""
    rng = random.Random(seed)
    sentences = [s for d in corpus for s in re.split(r"(?<=[.!?])\s+", str(d.get("text") or "")) if len(s) > 20]
    return [f"# Note {i}\n\n{' '.join(rng.sample(sentences, min(6, len(sentences))))}\n" for i in range(count)]


def run(folder: Path, *, split: str, embedder: str, backend: str, smoke: bool, store: Path | None,
        pad: int = 0, modes_wanted: tuple[str, ...] = MODES) -> dict[str, Any]:
    dataset = folder.name
    corpus, queries, qrels = load(folder, split)
    if smoke:
        corpus, qrels = smoke_subset(corpus, qrels, 150, 20)
    path_to_id = {doc_path(dataset, str(d["_id"])): str(d["_id"]) for d in corpus}
    with tempfile.TemporaryDirectory(prefix="agentfs-retrieval-") as tmp:
        root = store or Path(tmp) / "ctx"
        fs = agentfs.init(root, admin=ADMIN)
        try:
            service = fs.service("search")
            service.configure(fs, embedder=embedder, backend=backend)

            started = time.perf_counter()
            for start in range(0, len(corpus), BATCH):
                fs.write_many([(doc_path(dataset, str(d["_id"])), document(d)) for d in corpus[start:start + BATCH]])
            write_s = time.perf_counter() - started
            if pad:
                notes = padding(corpus, pad)
                for start in range(0, pad, BATCH):
                    fs.write_many([(f"/knowledge/pad/p{i}.md", notes[i]) for i in range(start, min(pad, start + BATCH))])
            dense_wanted = bool({"dense", "hybrid"} & set(modes_wanted))
            started = time.perf_counter()
            report = service.sync(fs) if dense_wanted else None
            index_s = time.perf_counter() - started

            modes: dict[str, Any] = {}
            budget = service.settings.lexical_budget
            for mode in modes_wanted:
                search_mode = "lexical" if mode == "lexical_exact" else mode
                service.configure(fs, lexical_budget=0 if mode == "lexical_exact" else budget)
                fs.search("warm up", k=10, mode=search_mode)
                ndcgs, recalls, latencies = [], [], []
                for query_id, relevant in qrels.items():
                    began = time.perf_counter()
                    hits = fs.search(queries[query_id], k=100, mode=search_mode)
                    latencies.append(time.perf_counter() - began)
                    ranked = [path_to_id.get(h.path, "") for h in hits]
                    ndcgs.append(ndcg_at(ranked, relevant))
                    recalls.append(recall_at(ranked, relevant))
                modes[mode] = {
                    "ndcg_at_10": round(statistics.fmean(ndcgs), 4),
                    "recall_at_100": round(statistics.fmean(recalls), 4),
                    "latency_p50_ms": round(percentile(latencies, 50) * 1000, 2),
                    "latency_p95_ms": round(percentile(latencies, 95) * 1000, 2),
                }
            status = service.status(fs)
        finally:
            fs.close()
    base = modes.get("lexical_exact") or modes.get("lexical") or {"ndcg_at_10": 0.0, "latency_p50_ms": 0.0}
    baseline = base["ndcg_at_10"] or 1e-9
    targets = TARGETS.get(dataset) if not (smoke or pad) else None
    chunks = report.chunks_written if report is not None else 0
    out = {
        "dataset": dataset,
        "split": split,
        "smoke": smoke,
        "documents": len(corpus),
        "padding_files": pad,
        "queries": len(qrels),
        "lexical_budget": budget,
        "embedder": status.get("model"),
        "backend": status.get("backend"),
        "chunks": chunks,
        "write_s": round(write_s, 2),
        "index_s": round(index_s, 2),
        "write_docs_per_s": round(len(corpus) / write_s, 1),
        "index_docs_per_s": round(len(corpus) / index_s, 1) if report is not None else None,
        "index_chunks_per_s": round(chunks / index_s, 1) if report is not None else None,
        "ingest_docs_per_s": round(len(corpus) / (write_s + index_s), 1),
        "modes": modes,
        "targets": targets,
        "targets_met": None if targets is None else all(modes[m]["ndcg_at_10"] >= t for m, t in targets.items()
                                                          if m in modes),
        "load_average": round(os.getloadavg()[0], 2),
    }
    for mode in ("lexical", "dense", "hybrid"):
        if mode in modes:
            out[f"{mode}_vs_bm25"] = round(modes[mode]["ndcg_at_10"] / baseline, 3)
    if "lexical" in modes and "lexical_exact" in modes:
        out["lexical_p50_speedup"] = round(base["latency_p50_ms"] / max(modes["lexical"]["latency_p50_ms"], 1e-9), 2)
        out["lexical_p95_speedup"] = round(base["latency_p95_ms"] / max(modes["lexical"]["latency_p95_ms"], 1e-9), 2)
    return out


def print_table(result: dict[str, Any]) -> None:
    padded = f" + {result['padding_files']} distractor files" if result["padding_files"] else ""
    print(f"{result['dataset']} ({result['split']}): {result['documents']} documents{padded}, {result['queries']} "
          f"queries, {result['embedder']} on {result['backend']}{' [smoke]' if result['smoke'] else ''}")
    print(f"ingest: write {result['write_s']} s ({result['write_docs_per_s']} docs/s), index {result['index_s']} s "
          f"({result['index_docs_per_s']} docs/s, {result['chunks']} chunks, {result['index_chunks_per_s']} chunks/s), "
          f"end to end {result['ingest_docs_per_s']} docs/s   (load average {result['load_average']})")
    targets = result["targets"] or {}
    base = result["modes"].get("lexical_exact") or result["modes"].get("lexical") or {"ndcg_at_10": 0.0}
    print(f"{'mode':<14} {'nDCG@10':>8} {'R@100':>7} {'p50 ms':>8} {'p95 ms':>8} {'vs BM25':>8} {'target':>7}")
    for mode, row in result["modes"].items():
        ratio = row["ndcg_at_10"] / (base["ndcg_at_10"] or 1e-9)
        target = targets.get(mode)
        mark = "" if target is None else (f"{target:.2f} " + ("ok" if row["ndcg_at_10"] >= target else "MISS"))
        print(f"{mode:<14} {row['ndcg_at_10']:>8.4f} {row['recall_at_100']:>7.4f} {row['latency_p50_ms']:>8.1f} "
              f"{row['latency_p95_ms']:>8.1f} {ratio:>7.3f}x {mark:>7}")
    if "lexical_p50_speedup" in result:
        print(f"bounded lexical (budget {result['lexical_budget']} rows) vs plain BM25: p50 "
              f"{result['lexical_p50_speedup']}x, p95 {result['lexical_p95_speedup']}x faster")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", type=Path, default=default_dataset(), help="A BEIR folder (default: SciFact).")
    parser.add_argument("--split", default="test", help="qrels file to score against (default: test).")
    parser.add_argument("--embedder", default="minilm", help="minilm (default), hash or module:Class.")
    parser.add_argument("--backend", default="chroma", help="Dense backend: chroma (default) or ann.")
    parser.add_argument("--store", type=Path, help="Build the store here (kept) instead of a temp folder.")
    parser.add_argument("--smoke", action="store_true", help="150 documents and 20 queries.")
    parser.add_argument("--pad", type=int, default=0, help="Add this many distractor files (scale).")
    parser.add_argument("--modes", default=",".join(MODES), help=f"Comma-separated subset of {', '.join(MODES)}.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)
    wanted = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not wanted or set(wanted) - set(MODES):
        print(f"retrieval: --modes takes a subset of {', '.join(MODES)}", file=sys.stderr)
        return 2
    if not (args.beir / "corpus.jsonl").is_file():
        print(f"retrieval: no BEIR corpus.jsonl in {args.beir}", file=sys.stderr)
        return 2
    result = run(args.beir, split=args.split, embedder=args.embedder, backend=args.backend, smoke=args.smoke,
                 store=args.store, pad=args.pad, modes_wanted=wanted)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
