"""Merge requests through python-gitlab: create, get, list, edit with save(), close, reopen.

Fixtures: ``project`` (id), ``source`` and ``target`` (pushed branches), ``source_sha`` (the
source branch's head).
"""

import gitlab

from steps import arguments, check, client, expect_error, step

url, token, fx = arguments()
gl = client(url, token)
project = gl.projects.get(fx["project"])


def create():
    mr = project.mergerequests.create(
        {
            "source_branch": fx["source"],
            "target_branch": fx["target"],
            "title": "Preview me",
            "description": "A page",
        }
    )
    check(mr.iid == 1, f"iid {mr.iid}")
    check(mr.state == "opened", f"state {mr.state!r}")
    check(mr.sha == fx["source_sha"], f"sha {mr.sha!r}")
    return mr.attributes


iid = step("create", create)["iid"]


def get_and_list():
    mr = project.mergerequests.get(iid)
    check(mr.title == "Preview me", f"title {mr.title!r}")
    check(mr.diff_refs["head_sha"] == fx["source_sha"], f"diff_refs {mr.diff_refs!r}")
    opened = [m.iid for m in project.mergerequests.list(state="opened", get_all=True)]
    check(opened == [iid], f"opened {opened}")
    missing = expect_error(
        gitlab.exceptions.GitlabGetError, 404, lambda: project.mergerequests.get(999)
    )
    return {"mr": mr.attributes, "missing": missing}


step("get and list", get_and_list)


def edit():
    mr = project.mergerequests.get(iid)
    mr.title = "Preview it"
    mr.description = "Two pages"
    mr.save()
    check(mr.title == "Preview it", f"title {mr.title!r}")
    stored = project.mergerequests.get(iid)
    check(stored.description == "Two pages", f"description {stored.description!r}")
    return stored.attributes


step("edit with save()", edit)


def close_and_reopen():
    mr = project.mergerequests.get(iid)
    mr.state_event = "close"
    mr.save()
    check(mr.state == "closed", f"state {mr.state!r}")
    check(project.mergerequests.list(state="opened", get_all=True) == [], "none opened")
    mr.state_event = "reopen"
    mr.save()
    check(mr.state == "opened", f"state {mr.state!r}")
    return {"state": mr.state}


step("close and reopen", close_and_reopen)
