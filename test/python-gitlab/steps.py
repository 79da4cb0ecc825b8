"""Shared by the python-gitlab compatibility scripts: named steps, each printing one JSON line.

Every script is run as ``python3 <script> <forge url> <token> <fixtures JSON>`` by
``test/e2e/python-gitlab.test.ts``. A step prints ``{"step": name, "result": ...}`` when its
assertions hold; the first failure prints ``{"step": name, "error": ...}`` and exits with 1,
so the test names the step that broke.
"""

import json
import sys
import traceback

import gitlab


def arguments():
    """The forge's URL, the token to act with, and the fixtures the test prepared."""
    if len(sys.argv) != 4:
        sys.exit(f"usage: {sys.argv[0]} <url> <token> <fixtures JSON>")
    return sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


def client(url, token):
    """A client as python-gitlab's documentation makes one, signed in with `auth()`."""
    # A request the forge never answers fails the step instead of hanging the test.
    gl = gitlab.Gitlab(url, private_token=token, timeout=30, retry_transient_errors=False)
    gl.auth()
    return gl


def step(name, action):
    """Runs `action()`; prints its result (JSON) under `name`, or the error and exits."""
    try:
        result = action()
    except Exception as error:  # noqa: BLE001 - every failure is reported under its step
        print(
            json.dumps(
                {
                    "step": name,
                    "error": f"{type(error).__name__}: {error}",
                    "response": describe_response(error),
                    "trace": traceback.format_exc(limit=4),
                }
            ),
            flush=True,
        )
        sys.exit(1)
    print(json.dumps({"step": name, "result": result}), flush=True)
    return result


def describe_response(error):
    """Status and body of a GitlabError, to say what the forge answered."""
    if isinstance(error, gitlab.exceptions.GitlabError):
        body = error.response_body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        return {"status": error.response_code, "body": body}
    return None


def check(condition, message):
    """An assertion that survives `python -O` and says what was expected."""
    if not condition:
        raise AssertionError(message)


def expect_error(kind, status, action):
    """Runs `action()`, which must raise python-gitlab's `kind` with HTTP `status`."""
    try:
        action()
    except kind as error:
        check(
            error.response_code == status,
            f"expected HTTP {status}, got {error.response_code}: {error.error_message}",
        )
        return {"status": error.response_code, "message": error.error_message}
    raise AssertionError(f"expected {kind.__name__} ({status}), but the call succeeded")
