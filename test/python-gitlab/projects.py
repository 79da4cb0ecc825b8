"""Projects through python-gitlab: create, get by id and by path, list, paginate, delete.

Fixtures: ``username`` (the token's user), ``public_project`` (the id of another user's public
project: visible, but neither owned nor a membership).
"""

import gitlab

from steps import arguments, check, client, expect_error, step

url, token, fx = arguments()
gl = client(url, token)


def auth():
    check(gl.user.username == fx["username"], f"username {gl.user.username!r}")
    return {"id": gl.user.id, "username": gl.user.username}


step("auth", auth)


def create():
    made = [gl.projects.create({"name": f"py-{n}"}) for n in ("one", "two", "three")]
    for project in made:
        check(project.visibility == "private", f"visibility {project.visibility!r}")
        check(project.namespace["path"] == fx["username"], f"namespace {project.namespace!r}")
    return [p.attributes for p in made]


created = step("create", create)
ids = [p["id"] for p in created]


def get():
    by_id = gl.projects.get(ids[0])
    by_path = gl.projects.get(f"{fx['username']}/py-one")  # sent as username%2Fpy-one
    check(by_id.id == by_path.id == ids[0], f"ids {by_id.id} {by_path.id}")
    missing = expect_error(
        gitlab.exceptions.GitlabGetError, 404, lambda: gl.projects.get("nobody/nothing")
    )
    return {"path_with_namespace": by_path.path_with_namespace, "missing": missing}


step("get by id and by path", get)


def list_projects():
    visible = [p.id for p in gl.projects.list(get_all=True)]
    check(sorted(visible) == sorted(ids + [fx["public_project"]]), f"visible {visible}")
    owned = [p.id for p in gl.projects.list(owned=True, get_all=True)]
    check(sorted(owned) == sorted(ids), f"owned {owned}")
    member = [p.id for p in gl.projects.list(membership=True, get_all=True)]
    check(sorted(member) == sorted(ids), f"membership {member}")
    found = [p.name for p in gl.projects.list(search="py-tw", get_all=True)]
    check(found == ["py-two"], f"search {found}")
    # One per page: python-gitlab follows the Link header from page to page.
    paged = gl.projects.list(owned=True, per_page=1, iterator=True)
    walked = [p.id for p in paged]
    check(sorted(walked) == sorted(ids), f"walked {walked}")
    check(paged.total == 3 and paged.total_pages == 3, f"total {paged.total}")
    return {"visible": visible, "owned": owned, "walked": walked}


step("list, search and paginate", list_projects)


def delete():
    for project_id in ids:
        gl.projects.delete(project_id)
    left = [p.id for p in gl.projects.list(owned=True, get_all=True)]
    check(left == [], f"left {left}")
    return {"deleted": ids}


step("delete", delete)
