"""Context build time in stores of 1,000, 10,000 and 100,000 memories.

Builds contexts for realistic tasks ("plan Ana's Tuesday", "what does Bob drink in the
morning?") as an agent with read access, in stores of synthetic but realistic memories (episodic,
semantic and procedural Markdown with front matter, about 30 people, 17 topics), plus profiles,
tools, skills and a session history. Each store is made once through ``ContextFS.write_many`` and
cached under ``.bench-cache/`` keyed by size (the 100,000 store takes about 2.5 minutes).

Measured per size, p50 and p95 over the same tasks:

- ``build``: the whole pipeline (gather, score, dedup, select, order, render, exact count,
  manifest) **and** storing it (``/context/<id>/`` plus the history line), lexical search bounded
  by the policy's pool; no embedding;
- ``assemble``: the same without storing (``store=False``): what a caller waits for before it can
  send the context, if it stores it later;
- ``build_embed``: the same with the task embedded by MiniLM (ranks tools and skills by meaning):
  the query embedding included;
- ``embed``: the query embedding alone;
- ``exact_bm25``: our pipeline with an unbounded BM25 ranking (``search.pool: null``), to show what
  the bounded pool saves;
- ``baseline``: the naive way: list every memory, read it, score it by word overlap with the task,
  fill the budget best first (a few tasks only: it reads the whole store each time).

Target: build p50 at most 50 ms at 100,000 memories, and cost growing sublinearly with the store
(the growth ratio p50(100k) / p50(1k) is printed with its exponent: 1.0 would be linear).

    python benchmarks/context.py               # the table
    python benchmarks/context.py --json        # one JSON object
    python benchmarks/context.py --smoke       # tiny stores, a few tasks (seconds)
    python benchmarks/context.py --profile     # also cProfile one size's builds
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import agentfs  # noqa: E402
from agentfs.context import build  # noqa: E402
from agentfs.context.text import term_set  # noqa: E402
from agentfs.context.tokens import Tokens  # noqa: E402

CACHE = REPO_ROOT / ".bench-cache"
GENERATOR_VERSION = 1  # bump when the generated store changes, so caches are rebuilt
AGENT = "agent:planner"
ADMIN = "user:bench"
BUDGET = 4000
TARGET_MS = 50.0

PEOPLE = ("Ana", "Bob", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena",
          "Mateo", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tomas", "Uma", "Victor", "Wen", "Ximena",
          "Yusuf", "Zoe", "Aisha", "Bruno", "Chloe", "Diego")
PLACES = ("the office", "Café Lisboa", "the gym", "the airport", "the library", "Ana's flat", "the park",
          "the dentist", "the train station", "the coworking space", "the bakery", "the clinic")
TOPICS = ("the quarterly budget", "the product launch", "the hiring plan", "the offsite", "the database migration",
          "the marketing campaign", "the customer renewal", "the security audit", "the design review",
          "the sprint retrospective", "the conference talk", "the vendor contract", "the mobile release",
          "the onboarding guide", "the tax filing", "the kitchen renovation", "the holiday trip")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FOODS = ("oat-milk flat whites", "green tea", "espresso", "sparkling water", "vegan ramen", "sushi",
         "margherita pizza", "lentil soup", "dark chocolate", "croissants")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark Industries", "Wayne Enterprises")
ROLES = ("product manager", "data engineer", "designer", "account executive", "CTO", "researcher", "nurse")
HOBBIES = ("climbing", "chess", "running", "sailing", "pottery", "jazz piano", "birdwatching", "cycling")
TOOLS = {
    "calendar": {"create_event": "Create an event in a calendar on a given day and time",
                 "list_events": "List the events of a day or a week in a calendar",
                 "move_event": "Move a calendar event to another day or time",
                 "find_free_slot": "Find a free slot for a meeting between several people"},
    "mail": {"send": "Send an email to one or more people", "search": "Search the mailbox for messages",
             "draft": "Draft a reply to an email thread", "archive": "Archive an email thread"},
    "docs": {"create": "Create a document from a template", "summarise": "Summarise a long document",
             "share": "Share a document with colleagues", "export_pdf": "Export a document as PDF"},
    "travel": {"book_flight": "Book a flight for a trip", "book_hotel": "Book a hotel room near a place",
               "weather": "Weather forecast for a city and a day", "train_times": "Train departures between stations"},
}
SKILLS = {
    "weekly-planning": "Plan a person's week or day around fixed appointments and preferences",
    "meeting-notes": "Write structured notes of a meeting with decisions and follow-ups",
    "budget-review": "Review a budget against spending and flag the largest differences",
    "trip-planning": "Plan a trip: flights, hotel, weather and a day-by-day schedule",
    "hiring-loop": "Organise interviews for a candidate and collect the feedback",
    "incident-report": "Write an incident report with timeline, impact and actions",
}
TASKS = (
    "plan {p}'s {d}", "what does {p} prefer to drink in the morning?", "prepare {t} with {p}",
    "when is {p} free this week?", "summarise what {p} and {q} discussed about {t}",
    "book a table for {p} and {q} on {d}", "draft an email to {p} about {t}",
    "what are {p}'s hobbies and where does {p} work?", "organise {t} before {d}",
    "remind {p} about the deadline of {t}",
)


# --- the synthetic store --------------------------------------------------------------------------


def memory(rng: random.Random, i: int) -> tuple[str, str]:
    person, other = rng.sample(PEOPLE, 2)
    kind = rng.choices(("episodic", "semantic", "procedural"), weights=(5, 4, 1))[0]
    day, place, topic = rng.choice(DAYS), rng.choice(PLACES), rng.choice(TOPICS)
    month, dom = rng.randint(1, 12), rng.randint(1, 28)
    if kind == "episodic":
        body = (f"On {day} 2024-{month:02d}-{dom:02d}, {person} and {other} met at {place} to discuss {topic}. "
                f"{person} said the deadline is {rng.choice(DAYS)} and asked {other} to prepare notes. "
                f"They agreed to follow up about {rng.choice(TOPICS)} next week.")
        description = f"{person} and {other} discussed {topic} at {place}"
    elif kind == "semantic":
        facts = [
            f"{person} prefers {rng.choice(FOODS)} in the morning.",
            f"{person} works at {rng.choice(COMPANIES)} as a {rng.choice(ROLES)}.",
            f"{person}'s favourite hobby is {rng.choice(HOBBIES)}.",
            f"{person} is usually free on {day} afternoons.",
            f"{person} does not eat {rng.choice(FOODS)}.",
        ]
        rng.shuffle(facts)
        body = " ".join(facts[: rng.randint(1, 3)])
        description = f"facts about {person}"
    else:
        body = (f"To prepare {topic}, first collect the notes from {person}, then book {place} for {day}, "
                f"and finally send a summary to {other}. Keep the agenda under one page.")
        description = f"how to prepare {topic}"
    tags = sorted({person.lower(), kind, topic.split()[-1]})
    text = (f"---\ndescription: {description}\ntype: {kind}\ntags: [{', '.join(tags)}]\n"
            f"importance: {round(rng.random(), 2)}\n---\n{body}\n")
    return f"/memory/{kind}/{person.lower()}-{topic.split()[-1]}-{i:06d}.md", text


def populate(fs: agentfs.ContextFS, size: int, *, seed: int = 7, batch: int = 1000) -> None:
    rng = random.Random(seed)
    done = 0
    while done < size:
        n = min(batch, size - done)
        fs.write_many([memory(rng, done + j) for j in range(n)])
        done += n
    profiles = [("/memory/profile/ana.md", "---\ndescription: Ana's profile\n---\nAna Lima is a product manager "
                 "in Lisbon. She prefers meetings before noon and oat-milk flat whites.\n"),
                ("/memory/profile/preferences.md", "---\ndescription: how the user likes answers\n---\nShort answers "
                 "with a bullet list; times in 24h format; Europe/Lisbon time zone.\n"),
                ("/human/notes/system.md", "Never book anything on Sunday without asking first.\n")]
    tools = []
    for toolset, entries in TOOLS.items():
        for name, description in entries.items():
            folder = f"/tools/{toolset}/{name}"
            tools.append((f"{folder}/README.md", f"---\ndescription: {json.dumps(description)}\n---\n# {name}\n\n{description}."
                          "\n\n## Arguments\n\nSee schema.json.\n"))
            tools.append((f"{folder}/schema.json", json.dumps({"description": description, "type": "object",
                                                               "properties": {"text": {"type": "string"}}})))
    skills = [(f"/skills/{name}/SKILL.md", f"---\nname: {name}\ndescription: {json.dumps(description)}\n---\n# {name}\n\n"
               "1. Gather what is known.\n2. Ask what is missing.\n3. Write the result.\n")
              for name, description in SKILLS.items()]
    fs.write_many([*profiles, *tools, *skills])
    for prefix in ("/memory", "/tools", "/skills", "/history", "/human/notes"):
        fs.grant(AGENT, "read,list", prefix)


def cached_store(size: int, *, quiet: bool = False, cache: Path = CACHE) -> Path:
    """The store of ``size`` memories, built once (under ``cache``) and reused."""
    root = cache / f"context-store-v{GENERATOR_VERSION}-{size}"
    marker = cache / f"context-store-v{GENERATOR_VERSION}-{size}.ok"
    if marker.exists() and root.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"building the {size:,}-memory store under {root} (cached for later runs)...", file=sys.stderr)
    started = time.perf_counter()
    fs = agentfs.init(root, admin=ADMIN)
    try:
        populate(fs, size)
    finally:
        fs.close()
    marker.write_text(f"built in {time.perf_counter() - started:.1f}s\n")
    return root


def seed_session(fs: agentfs.ContextFS, session: str, turns: int = 12) -> None:
    rng = random.Random(session)
    for turn in range(turns):
        who = "user" if turn % 2 == 0 else "assistant"
        person, topic = rng.choice(PEOPLE), rng.choice(TOPICS)
        fs.write(f"/history/{session}/{turn:04d}-{who}.md", f"{who}: let's talk about {topic} with {person}.\n")


def clean(fs: agentfs.ContextFS) -> None:
    """Remove the contexts and sessions earlier runs left in a cached store.

    Stored contexts are full-text indexed like any file, and the bounded lexical window walks the
    newest matches first: left in place, every run would make the next one slower.
    """
    system = fs.as_principal("system")
    for entry in system.ls("/context"):
        system.rm(entry.path, recursive=True)
    for entry in system.ls("/history"):
        if entry.name.startswith("bench-"):
            system.rm(entry.path, recursive=True)


def tasks(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        p, q = rng.sample(PEOPLE, 2)
        out.append(rng.choice(TASKS).format(p=p, q=q, d=rng.choice(DAYS), t=rng.choice(TOPICS)))
    return out


# --- measurements ---------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return statistics.median(ordered), p95


def timed_builds(
    fs: agentfs.ContextFS, queries: list[str], *, policy: dict, session: str, store: bool = True
) -> list[float]:
    out = []
    for task in queries:
        started = time.perf_counter()
        build(fs, task, principal=AGENT, budget=BUDGET, policy=policy, session=session, store=store)
        out.append((time.perf_counter() - started) * 1000)
    return out


def baseline(fs: agentfs.ContextFS, task: str, tokens: Tokens) -> int:
    """The naive assembly: walk every memory, read it, rank by word overlap, fill the budget."""
    reader = fs.as_principal(AGENT)
    wanted = term_set(task)
    scored = []
    for info in reader.walk("/memory"):
        if info.kind != "file":
            continue
        text = reader.read_text(info.path)
        overlap = len(wanted & term_set(text))
        if overlap:
            scored.append((-overlap, info.path, text))
    scored.sort()
    used, chosen = 0, 0
    for _, path, text in scored:
        cost = tokens.count(f"{path}\n{text}\n")
        if used + cost > BUDGET:
            break
        used += cost
        chosen += 1
    return chosen


def policy(mode: str, *, pool: int | None = 2000, embedder: str = "none") -> dict:
    return {"search": {"mode": mode, "pool": pool}, "embedder": embedder}


def run_size(size: int, n_tasks: int, n_baseline: int, profile: bool, cache: Path = CACHE) -> dict:
    root = cached_store(size, cache=cache)
    fs = agentfs.open(root, principal=ADMIN)
    clean(fs)
    session = f"bench-{uuid.uuid4().hex[:8]}"
    seed_session(fs, session)
    queries = tasks(n_tasks, seed=size)
    lexical = policy("lexical")
    try:
        timed_builds(fs, tasks(5, seed=1), policy=lexical, session=session)  # warm caches and imports
        result: dict = {"size": size, "tasks": len(queries)}
        samples = timed_builds(fs, queries, policy=lexical, session=session)
        result["build_p50_ms"], result["build_p95_ms"] = percentiles(samples)
        assemble = timed_builds(fs, queries, policy=lexical, session=session, store=False)
        result["assemble_p50_ms"], result["assemble_p95_ms"] = percentiles(assemble)
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            timed_builds(fs, queries, policy=lexical, session=session)
            profiler.disable()
            stream = io.StringIO()
            pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(25)
            result["profile"] = stream.getvalue()
        exact = timed_builds(fs, queries, policy=policy("lexical", pool=None), session=session)
        result["exact_bm25_p50_ms"], result["exact_bm25_p95_ms"] = percentiles(exact)
        try:
            from agentfs.index.embeddings import get_embedder

            embedder = get_embedder("minilm")
            embedder.embed(["warm up"])
            embed = []
            for task in queries:
                started = time.perf_counter()
                embedder.embed([task])
                embed.append((time.perf_counter() - started) * 1000)
            result["embed_p50_ms"], result["embed_p95_ms"] = percentiles(embed)
            with_embedding = policy("lexical", embedder="minilm")
            timed_builds(fs, tasks(3, seed=2), policy=with_embedding, session=session)
            samples = timed_builds(fs, queries, policy=with_embedding, session=session)
            result["build_embed_p50_ms"], result["build_embed_p95_ms"] = percentiles(samples)
        except (ImportError, RuntimeError) as exc:
            result["embed_error"] = str(exc)
        tokens = Tokens()
        naive = []
        for task in queries[:n_baseline]:
            started = time.perf_counter()
            baseline(fs, task, tokens)
            naive.append((time.perf_counter() - started) * 1000)
        if naive:
            result["baseline_p50_ms"] = statistics.median(naive)
            result["baseline_vs_build"] = result["baseline_p50_ms"] / result["build_p50_ms"]
        clean(fs)
    finally:
        fs.close()
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in result.items()}


def summarise(rows: list[dict]) -> dict:
    first, last = rows[0], rows[-1]
    growth = last["build_p50_ms"] / first["build_p50_ms"]
    scale = last["size"] / first["size"]
    return {
        "rows": rows,
        "growth_ratio_p50": round(growth, 2),
        "size_ratio": scale,
        "growth_exponent": round(math.log(growth) / math.log(scale), 3) if growth > 0 and scale > 1 else None,
        "target_ms": TARGET_MS,
        "target_met": last["build_p50_ms"] <= TARGET_MS and growth < scale,
        "budget": BUDGET,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def print_table(summary: dict) -> None:
    print(f"context build, budget {summary['budget']} tokens, lexical search (pool 2,000), "
          f"load average {summary['load_average_1m']}")
    header = (f"{'memories':>9} {'tasks':>5} {'build p50':>10} {'p95':>7} {'assemble':>9} {'+embed p50':>11} "
              f"{'p95':>7} "
              f"{'embed p50':>10} {'exact bm25':>11} {'baseline':>10} {'x faster':>9}")
    print(header)
    def cell(row: dict, key: str, width: int) -> str:
        value = row.get(key)
        return f"{value:>{width}.1f}" if isinstance(value, int | float) else f"{'-':>{width}}"

    for row in summary["rows"]:
        print(f"{row['size']:>9,} {row['tasks']:>5} {cell(row, 'build_p50_ms', 10)} {cell(row, 'build_p95_ms', 7)} "
              f"{cell(row, 'assemble_p50_ms', 9)} "
              f"{cell(row, 'build_embed_p50_ms', 11)} {cell(row, 'build_embed_p95_ms', 7)} "
              f"{cell(row, 'embed_p50_ms', 10)} {cell(row, 'exact_bm25_p50_ms', 11)} "
              f"{cell(row, 'baseline_p50_ms', 10)} {cell(row, 'baseline_vs_build', 9)}")
    print("(milliseconds; baseline = list and read every memory, then rank by word overlap)")
    print(f"growth p50 x{summary['growth_ratio_p50']} for x{summary['size_ratio']:g} memories "
          f"(exponent {summary['growth_exponent']}; 1.0 is linear); target p50 <= {summary['target_ms']:g} ms "
          f"and sublinear: {'met' if summary['target_met'] else 'NOT met'}")
    for row in summary["rows"]:
        if "profile" in row:
            print(f"\nprofile of the builds at {row['size']:,} memories:\n{row['profile']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="comma-separated store sizes (default 1000,10000,100000)")
    parser.add_argument("--tasks", type=int, default=40, help="tasks per size")
    parser.add_argument("--baseline-tasks", type=int, default=3, help="tasks for the naive baseline per size")
    parser.add_argument("--smoke", action="store_true", help="tiny stores and few tasks")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest size's builds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the stores are cached")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([300, 1000] if args.smoke else [1000, 10000, 100000])
    n_tasks = 6 if args.smoke else args.tasks
    rows = []
    for size in sizes:
        # The naive baseline reads every memory per task: one task is plenty at 100,000.
        n_baseline = min(args.baseline_tasks, 1 if size >= 100_000 else args.baseline_tasks)
        rows.append(run_size(size, n_tasks, n_baseline, args.profile and size == sizes[-1], args.cache))
    summary = summarise(rows)
    if args.json:
        for row in summary["rows"]:
            row.pop("profile", None)
        print(json.dumps(summary))
    else:
        print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
