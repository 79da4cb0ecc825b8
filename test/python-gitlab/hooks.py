"""Project hooks through python-gitlab: create, get, list, update with save(), test, delete.

Fixtures: ``project`` (id of a project with a pushed commit, maintained by the token's user),
``receiver`` (URL of a webhook receiver), ``secret`` (the hook's token).
"""

import gitlab

from steps import arguments, check, client, expect_error, step

url, token, fx = arguments()
gl = client(url, token)
project = gl.projects.get(fx["project"])


def create():
    hook = project.hooks.create({"url": fx["receiver"], "push_events": 1, "token": fx["secret"]})
    check(hook.url == fx["receiver"], f"url {hook.url!r}")
    check(hook.push_events is True, f"push_events {hook.push_events!r}")
    check(hook.tag_push_events is False, f"tag_push_events {hook.tag_push_events!r}")
    check(hook.enable_ssl_verification is True, "enable_ssl_verification defaults to true")
    check("token" not in hook.attributes, "the token is never returned")
    return hook.attributes


hook_id = step("create", create)["id"]


def get_and_list():
    hook = project.hooks.get(hook_id)
    check(hook.id == hook_id, f"id {hook.id}")
    ids = [h.id for h in project.hooks.list(get_all=True)]
    check(ids == [hook_id], f"ids {ids}")
    return hook.attributes


step("get and list", get_and_list)


def update():
    hook = project.hooks.get(hook_id)
    hook.push_events = 0
    hook.tag_push_events = True
    hook.merge_requests_events = True
    hook.save()  # python-gitlab sends the (unchanged) url with the changed flags
    check(hook.push_events is False, f"push_events {hook.push_events!r}")
    check(hook.tag_push_events is True, f"tag_push_events {hook.tag_push_events!r}")
    stored = project.hooks.get(hook_id)
    check(stored.push_events is False, "stored push_events")
    check(stored.merge_requests_events is True, "stored merge_requests_events")
    return stored.attributes


step("update with save()", update)


def test_hook():
    # python-gitlab 3.12 has no ProjectHook.test(); its documented way to call any endpoint
    # is the client's http_* methods.
    answer = gl.http_post(f"/projects/{project.id}/hooks/{hook_id}/test/push_events")
    check(answer == {"message": "201 Created"}, f"answer {answer!r}")
    refused = expect_error(
        gitlab.exceptions.GitlabHttpError,
        400,
        lambda: gl.http_post(f"/projects/{project.id}/hooks/{hook_id}/test/xyz"),
    )
    return {"answer": answer, "unknown_trigger": refused}


step("test", test_hook)


def delete():
    project.hooks.get(hook_id).delete()
    check(project.hooks.list(get_all=True) == [], "no hook left")
    gone = expect_error(
        gitlab.exceptions.GitlabDeleteError, 404, lambda: project.hooks.delete(hook_id)
    )
    return {"deleted": hook_id, "again": gone}


step("delete", delete)
