"""SSH keys through python-gitlab: the signed-in user's (`gl.user.keys`), and another user's as
an administrator manages them (`gl.users.get(id).keys`).

Fixtures: ``key`` and ``admin_key`` (new public key lines), ``taken`` (a key line some deploy
key already uses), ``admin_token`` (an administrator's token), ``user_id`` (the token's user).
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


def as_admin():
    admin = client(url, fx["admin_token"])
    user = admin.users.get(fx["user_id"])
    given = user.keys.create({"title": "given by the admin", "key": fx["admin_key"]})
    check(given.title == "given by the admin", f"title {given.title!r}")
    listed = [k.id for k in user.keys.list(get_all=True)]
    check(listed == [given.id], f"listed {listed}")
    shown = user.keys.get(given.id)
    check(shown.key == given.key, f"key {shown.key!r}")
    own = [k.id for k in gl.user.keys.list(get_all=True)]
    check(own == [given.id], f"the user sees it as their own: {own}")
    refused = expect_error(
        gitlab.exceptions.GitlabCreateError,
        403,
        lambda: gl.users.get(fx["user_id"], lazy=True).keys.create(
            {"title": "self-service", "key": fx["key"]}
        ),
    )
    user.keys.delete(given.id)
    check(user.keys.list(get_all=True) == [], "no key left")
    return {"given": given.attributes, "as_user": refused}


step("another user's keys, as an administrator", as_admin)
