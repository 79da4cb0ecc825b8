"""Deploy keys through python-gitlab, as its documentation shows them (seed 2's operations).

Fixtures: ``project`` and ``project2`` (ids of two projects the token's user maintains),
``key`` (a new public key line), ``admin_token`` (an administrator's token).
"""

import gitlab

from steps import arguments, check, client, expect_error, step

url, token, fx = arguments()
gl = client(url, token)
project = gl.projects.get(fx["project"])
project2 = gl.projects.get(fx["project2"])


def create():
    key = project.keys.create({"title": "CI", "key": fx["key"], "can_push": True})
    check(key.title == "CI", f"title {key.title!r}")
    check(key.key == fx["key"], f"key {key.key!r}")
    check(key.can_push is True, f"can_push {key.can_push!r}")
    check(key.fingerprint_sha256.startswith("SHA256:"), key.fingerprint_sha256)
    return key.attributes


created = step("create", create)
key_id = created["id"]


def get():
    key = project.keys.get(key_id)
    check(key.id == key_id, f"id {key.id}")
    check(key.can_push is True, f"can_push {key.can_push!r}")
    return key.attributes


step("get", get)


def list_keys():
    keys = project.keys.list(get_all=True)
    check([k.id for k in keys] == [key_id], f"ids {[k.id for k in keys]}")
    return [k.attributes for k in keys]


step("list", list_keys)


def update():
    key = project.keys.get(key_id)
    key.title = "CI (read-only)"
    key.can_push = False
    key.save()
    check(key.title == "CI (read-only)", f"after save: title {key.title!r}")
    check(key.can_push is False, f"after save: can_push {key.can_push!r}")
    again = project.keys.get(key_id)
    check(again.title == "CI (read-only)", f"stored title {again.title!r}")
    check(again.can_push is False, f"stored can_push {again.can_push!r}")
    return again.attributes


step("update with save()", update)


def enable():
    enabled = project2.keys.enable(key_id)
    check(enabled["id"] == key_id, f"id {enabled['id']}")
    check("can_push" not in enabled, "enable answers a DeployKey, without can_push")
    twice = project2.keys.enable(key_id)
    check(twice["id"] == key_id, "enabling again answers the same key")
    ids = [k.id for k in project2.keys.list(get_all=True)]
    check(ids == [key_id], f"project2 ids {ids}")
    return enabled


step("enable on a second project", enable)


def instance_list():
    admin = client(url, fx["admin_token"])
    keys = admin.deploykeys.list(get_all=True)
    mine = [k for k in keys if k.id == key_id]
    check(len(mine) == 1, f"ids {[k.id for k in keys]}")
    readonly = sorted(p["id"] for p in mine[0].projects_with_readonly_access)
    check(readonly == sorted([fx["project"], fx["project2"]]), f"readonly {readonly}")
    check(mine[0].projects_with_write_access == [], "no project with write access")
    refused = expect_error(gitlab.exceptions.GitlabListError, 403, gl.deploykeys.list)
    return {"key": mine[0].attributes, "as_maintainer": refused}


step("instance-wide list as admin", instance_list)


def add_again():
    again = project.keys.create({"title": "another title", "key": fx["key"], "can_push": True})
    check(again.id == key_id, f"id {again.id}")
    check(again.title == "CI (read-only)", f"the existing record, unchanged: {again.title!r}")
    check(again.can_push is False, "the existing record's can_push")
    ids = [k.id for k in project.keys.list(get_all=True)]
    check(ids == [key_id], f"still one key: {ids}")
    return again.attributes


step("add an existing key again", add_again)


def delete():
    project.keys.delete(key_id)
    check(project.keys.list(get_all=True) == [], "project has no deploy key")
    expect_error(gitlab.exceptions.GitlabGetError, 404, lambda: project.keys.get(key_id))
    # The object form of delete, on the project that still uses the key.
    project2.keys.get(key_id).delete()
    check(project2.keys.list(get_all=True) == [], "project2 has no deploy key")
    gone = expect_error(
        gitlab.exceptions.GitlabDeleteError, 404, lambda: project2.keys.delete(key_id)
    )
    return {"deleted": key_id, "again": gone}


step("delete", delete)
