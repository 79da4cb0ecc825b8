"""The signed-in user's SSH keys through python-gitlab (`gl.user.keys`).

Fixtures: ``key`` (a new public key line), ``taken`` (a key line some deploy key already uses).
"""

import gitlab

from steps import arguments, check, client, expect_error, step

url, token, fx = arguments()
gl = client(url, token)


def create():
    key = gl.user.keys.create({"title": "laptop", "key": fx["key"]})
    check(key.title == "laptop", f"title {key.title!r}")
    check(key.key.split()[:2] == fx["key"].split()[:2], f"key {key.key!r}")
    return key.attributes


key_id = step("create", create)["id"]


def get_and_list():
    key = gl.user.keys.get(key_id)
    check(key.id == key_id, f"id {key.id}")
    ids = [k.id for k in gl.user.keys.list(get_all=True)]
    check(ids == [key_id], f"ids {ids}")
    return key.attributes


step("get and list", get_and_list)


def refuse_taken():
    return expect_error(
        gitlab.exceptions.GitlabCreateError,
        400,
        lambda: gl.user.keys.create({"title": "dup", "key": fx["taken"]}),
    )


step("a key already in use is refused", refuse_taken)


def delete():
    gl.user.keys.get(key_id).delete()
    check(gl.user.keys.list(get_all=True) == [], "no key left")
    gone = expect_error(
        gitlab.exceptions.GitlabDeleteError, 404, lambda: gl.user.keys.delete(key_id)
    )
    return {"deleted": key_id, "again": gone}


step("delete", delete)
