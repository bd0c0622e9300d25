"""Profile maintenance automation (seed 000): one run per profile, outcome Success, Failure
or Warning, the edited fields kept as the run's result.

    INGESTD_URL=http://127.0.0.1:8080 INGESTD_TOKEN=... python examples/profile_maintenance.py

Afterwards: GET /v1/runs?job=profile-maintenance, GET /v1/stats/by?attr=profile_id.

PASSWORD_FIXED=1 gives profile 2 its right password, so its update succeeds: run once with it,
then once without, and GET /v1/runs/{id}/compare answers why it failed when it worked before
(docs/recipes.md).
"""

from __future__ import annotations

import logging
import os
import time

from ingestd_client import IngestClient

log = logging.getLogger("profile_maintenance")

PROFILES = [
    {"profile_id": 1, "username": "john_therapist", "password": "ok"},
    {"profile_id": 2, "username": "jane_counselor", "password": "wrong"},
    {"profile_id": 3, "username": "sam_coach", "password": "ok"},
]


class LoginFailed(Exception):
    pass


def generate_content(profile: dict) -> dict[str, str]:
    name = profile["username"]
    return {
        "headline": f"Compassionate Therapist - {name}",
        "specialties": "Anxiety, Depression, Trauma",
        "summary": "Experienced therapist providing compassionate care "
        * (3 if profile["profile_id"] == 3 else 1),
    }


def maintain(profile: dict, content: dict[str, str]) -> dict[str, str]:
    """Pretend to log in and edit the profile; returns the fields actually saved."""
    time.sleep(0.05)
    if profile["password"] != "ok":
        raise LoginFailed(f"login failed for {profile['username']}: invalid credentials")
    return dict(content)


def main() -> None:
    if os.environ.get("PASSWORD_FIXED") == "1":
        PROFILES[1]["password"] = "ok"
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    with IngestClient() as client:
        logging.getLogger().addHandler(client.handler())
        for profile in PROFILES:
            attrs = {"profile_id": profile["profile_id"], "username": profile["username"]}
            try:
                with client.run("profile-maintenance", trigger="cron", attrs=attrs) as run:
                    run.step("GENERATE")
                    content = generate_content(profile)
                    run.step("EDIT")
                    saved = maintain(profile, content)
                    for field, value in saved.items():
                        if len(value) > 120:
                            saved[field] = value[:120]
                            run.warning(
                                f"{field} too long, truncated to 120 characters", field=field
                            )
                    run.count(fields_edited=len(saved))
                    run.result(fields_edited=saved)
                    log.info("Profile %s maintenance completed", profile["username"])
            except LoginFailed:
                log.info("profile %s skipped; the run is marked failed", profile["username"])


if __name__ == "__main__":
    main()
