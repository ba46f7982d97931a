"""The main job on the embedded defaults (what `make demo` runs), fully offline.

    python examples/quickstart.py [STORE_DIR]

1. creates a store (SQLite catalog, embedded Chroma, the bundled MiniLM embedder and tiktoken files);
2. writes memories with front matter, grants an agent read access to part of them;
3. indexes them and searches by meaning as that agent (what it may not read never shows up);
4. builds a context under an exact token budget and shows why each item is in it;
5. runs the memory agent with its scripted offline model across two sessions.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import agentfs
import agentfs.context as context

MEMORIES = {
    "/memory/semantic/coffee.md": ("Ana drinks oat-milk flat whites, never before 8am.", ["prefs", "coffee"], 0.8),
    "/memory/semantic/diet.md": ("Ana is vegetarian and avoids mushrooms.", ["prefs", "food"], 0.9),
    "/memory/episodic/2026-11-17-standup.md": ("Monday standup: Ana moved the design review to Tuesday 10am.",
                                                ["work"], 0.6),
    "/memory/procedural/booking.md": ("To book a room, check the calendar first, then email facilities.",
                                      ["howto"], 0.4),
    "/memory/profile/salary.md": ("Ana's salary band is confidential.", ["hr"], 1.0),
}


def main(root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    fs = agentfs.init(root)
    print(f"store: {fs.root} (admin {fs.principal})")
    fs.write_many([(path, text + "\n", {"tags": tags, "importance": importance})
                   for path, (text, tags, importance) in MEMORIES.items()])
    fs.grant("agent:planner", "read,list", "/memory/semantic")
    fs.grant("agent:planner", "read,list", "/memory/episodic")
    fs.grant("agent:planner", "read,list,append", "/history")

    index = fs.service("search")
    if index is not None:
        report = index.sync(fs)
        print(f"indexed: {report}")

    planner = fs.as_principal("agent:planner")
    for query in ("how does Ana take her coffee", "what does Ana earn"):
        hits = planner.search(query, k=3)
        print(f"\nsearch as agent:planner: {query!r}")
        for hit in hits:
            print(f"  {hit.score:.3f}  {hit.path} (v{hit.version})")
        assert all(not h.path.startswith("/memory/profile") for h in hits), "ACL leak"

    built = context.build(fs, "plan Ana's Tuesday", principal="agent:planner", budget=400, session="demo")
    print(f"\ncontext {built.id}: {built.tokens} of 400 tokens")
    for item in built.manifest.items:
        print(f"  {item.tokens:>4} tok  {item.score:.2f}  {item.path}  ({item.reason})")
    assert built.tokens <= 400
    print(f"preflight: {'ok' if context.check(fs, built).ok else 'problems'}")
    fs.close()

    print("\nmemory agent (scripted offline model):")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import memory_agent

    memory_agent.main(root.parent / (root.name + "-agent"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "ctx")
