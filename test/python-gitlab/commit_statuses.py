"""Commit statuses through python-gitlab: create on a commit, list, and the state machine.

Fixtures: ``project`` (id), ``sha`` (a pushed commit), ``ref`` (its branch).
"""

import gitlab

from steps import arguments, check, client, expect_error, step

url, token, fx = arguments()
gl = client(url, token)
project = gl.projects.get(fx["project"])


def commit():
    found = project.commits.get(fx["sha"])
    check(found.id == fx["sha"], f"id {found.id!r}")
    check(found.short_id == fx["sha"][:8], f"short_id {found.short_id!r}")
    by_branch = project.commits.get(fx["ref"])
    check(by_branch.id == fx["sha"], "a branch name resolves to its head")
    missing = expect_error(
        gitlab.exceptions.GitlabGetError, 404, lambda: project.commits.get("0" * 40)
    )
    return {"commit": found.attributes, "missing": missing}


step("get the commit", commit)


def create():
    commit = project.commits.get(fx["sha"])
    pending = commit.statuses.create(
        {"state": "pending", "name": "slipway", "target_url": "http://example.test/1"}
    )
    check(pending.status == "pending", f"status {pending.status!r}")
    check(pending.ref == fx["ref"], f"ref {pending.ref!r}")
    running = commit.statuses.create({"state": "running", "name": "slipway"})
    check(running.id == pending.id, "the same status moves on")
    done = commit.statuses.create(
        {"state": "success", "name": "slipway", "description": "Deployed"}
    )
    check(done.status == "success", f"status {done.status!r}")
    # A lazy commit makes no request; its statuses are still reachable.
    lazy = project.commits.get(fx["sha"], lazy=True)
    other = lazy.statuses.create({"state": "failed", "name": "lint"})
    check(other.status == "failed", f"status {other.status!r}")
    return [pending.attributes, done.attributes, other.attributes]


step("create", create)


def list_statuses():
    commit = project.commits.get(fx["sha"])
    statuses = commit.statuses.list(get_all=True)
    latest = {s.name: s.status for s in statuses}
    check(latest == {"slipway": "success", "lint": "failed"}, f"statuses {latest}")
    only = [s.name for s in commit.statuses.list(name="lint", get_all=True)]
    check(only == ["lint"], f"filtered {only}")
    return [s.attributes for s in statuses]


step("list", list_statuses)


def refuse_bad_state():
    commit = project.commits.get(fx["sha"], lazy=True)
    return expect_error(
        gitlab.exceptions.GitlabCreateError,
        400,
        lambda: commit.statuses.create({"state": "exploded", "name": "slipway"}),
    )


step("an unknown state is refused", refuse_bad_state)
