"""File import with a status table (seed 004): the file name, type and size as attributes
and counters; records processed, games and results created; a bad record logged with its
error.

    INGESTD_URL=... INGESTD_TOKEN=... python examples/file_import.py

Afterwards: GET /v1/runs?job=import&attr.import_type=backup.

IMPORT_DAY=2025-06-28 imports that day's backup file instead, and BAD_GAMES=g17,g23,g31 names
the bad records in it (default g17): two named imports to compare with
GET /v1/runs/{id}/compare?with=<run_id> (docs/recipes.md).
"""

from __future__ import annotations

import json
import os
import tempfile

from ingestd_client import IngestClient


def write_sample(path: str, bad: set[str]) -> None:
    games = [{"game": f"g{n}", "results": [n, n + 1, n + 2]} for n in range(40)]
    for game in games:
        if game["game"] in bad:
            game["results"] = "not-a-list"
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"_metadata": {"filename": os.path.basename(path)}, "games": games}, fh)


def main() -> None:
    folder = tempfile.mkdtemp(prefix="ingestd-example-")
    day = os.environ.get("IMPORT_DAY", "2025-06-27")
    path = os.path.join(folder, f"numwatch-backup-{day}.json")
    write_sample(path, set(os.environ.get("BAD_GAMES", "g17").split(",")))
    size = os.path.getsize(path)
    with IngestClient() as client:
        attrs = {"filename": os.path.basename(path), "import_type": "backup"}
        with client.run("import", trigger="manual", attrs=attrs) as run:
            run.set_counters(file_size=size)
            run.step("PARSE")
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            run.step("IMPORT")
            for game in data["games"]:
                run.count(records_processed=1)
                try:
                    results = list(game["results"]) if isinstance(game["results"], list) else None
                    if results is None:
                        raise ValueError(f"results of {game['game']} is not a list")
                except ValueError:
                    run.log.exception("skipped a bad record", extra={"game": game["game"]})
                    run.count(records_failed=1)
                    continue
                run.count(games_created=1, results_created=len(results))
            failed = run.counters.get("records_failed", 0)
            if failed:
                run.warning(f"{failed:g} record(s) skipped")
            run.result(games_created=run.counters["games_created"])
    os.remove(path)
    os.rmdir(folder)


if __name__ == "__main__":
    main()
