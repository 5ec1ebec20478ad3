"""
Starts the Django OAuth Toolkit fixture: migrates a fresh SQLite database, creates the public
client (and, when asked, the sign-in client) and the user, and serves on 127.0.0.1 with a port the OS picks.

Run with Debian's /usr/bin/python3 (which sees python3-django-oauth-toolkit), from
test/servers/django-oauth-toolkit.ts. Configuration comes from the environment:
  DOT_FIXTURE_DB                    SQLite file to create (in a temp dir the caller removes)
  DOT_FIXTURE_ACCESS_TOKEN_SECONDS  DOT's ACCESS_TOKEN_EXPIRE_SECONDS
  DOT_FIXTURE_ALLOWED_ORIGINS       space-separated page origins allowed by CORS
  DOT_FIXTURE_STATIC_DIR            optional directory of a test page served at "/"
  DOT_FIXTURE_CLIENT_ID, DOT_FIXTURE_USERNAME, DOT_FIXTURE_PASSWORD
  DOT_FIXTURE_REDIRECT_URIS         optional, space-separated: registers the sign-in client (and
                                    turns on OpenID Connect, see fixture/settings.py)
  DOT_FIXTURE_SIGN_IN_CLIENT_ID     the sign-in client's id
Once it accepts connections it prints one JSON line, {"port": N, "sub": "<the user's id>"}, on
stdout. It exits when its stdin closes, so it never outlives the test process that started it,
even one that was killed.
Whichever way it stops (stdin closed, SIGTERM, SIGINT), it removes the database's directory.
"""

import json
import os
import shutil
import signal
import sys
import threading


def exit_now(*_):
    # The database's temp dir is this process's alone. The parent removes it too after a normal
    # stop, but a parent that was killed (or a Ctrl-C to the whole process group) cannot.
    shutil.rmtree(os.path.dirname(os.environ["DOT_FIXTURE_DB"]), ignore_errors=True)
    os._exit(0)


def exit_when_parent_goes():
    sys.stdin.read()
    exit_now()


# First of all, so that a parent that dies during the slow start (imports, migrations) is noticed.
threading.Thread(target=exit_when_parent_goes, daemon=True).start()
signal.signal(signal.SIGTERM, exit_now)
signal.signal(signal.SIGINT, exit_now)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fixture.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402
from oauth2_provider.models import get_application_model  # noqa: E402

from fixture.counters import counters  # noqa: E402


class SerialServer(WSGIServer):
    """
    Django's development server (what `runserver --nothreading` runs): one request at a time, in
    the order the connections were accepted, each answered with `Connection: close`, so the
    outcome of a request never depends on thread scheduling. The larger backlog keeps a burst of
    connections from being dropped (and retried a second later by the client's TCP stack).
    """

    request_queue_size = 128


class SerialRequestHandler(WSGIRequestHandler):
    """
    Django's request handler, with a deadline for the request to arrive. A browser may open a
    connection before it has a request for it (a speculative preconnect) and keep it idle for
    seconds; with one thread, every request behind it would wait as long. Such a connection is
    closed after `timeout` seconds (the browser opens a new one when it has a request) and counted.
    """

    timeout = 2

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except TimeoutError:
            counters["idleConnectionsClosed"] += 1
            self.close_connection = True


def skip_durability(sender, connection, **kwargs):
    # The database is thrown away with the process: no fsync per commit, which halves the time
    # of the migrations and of every token request.
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute("PRAGMA journal_mode = MEMORY")


def prepare_database():
    """Creates the tables, the user and the clients; returns the user's OpenID `sub`."""
    connection_created.connect(skip_durability)
    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user(
        username=os.environ.get("DOT_FIXTURE_USERNAME", "alice"),
        password=os.environ["DOT_FIXTURE_PASSWORD"],
    )
    Application = get_application_model()
    Application.objects.create(
        name="freshtoken interop",
        client_id=os.environ.get("DOT_FIXTURE_CLIENT_ID", "spa"),
        # A browser app has no secret: DOT then authenticates it by client_id alone.
        client_type=Application.CLIENT_PUBLIC,
        # The password grant stands in for a login; DOT allows refresh grants to such clients.
        authorization_grant_type=Application.GRANT_PASSWORD,
        redirect_uris="",
    )
    if settings.SIGN_IN_REDIRECT_URIS:
        Application.objects.create(
            name="freshtoken sign-in",
            client_id=os.environ.get("DOT_FIXTURE_SIGN_IN_CLIENT_ID", "spa-signin"),
            # A single-page app: no secret, so PKCE (required by the settings) binds the code.
            client_type=Application.CLIENT_PUBLIC,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=" ".join(settings.SIGN_IN_REDIRECT_URIS),
            # The consent page is shown on every authorization request.
            skip_authorization=False,
            # ID tokens signed with the fixture's RSA key (HS256 is refused for public clients).
            algorithm=Application.RS256_ALGORITHM,
        )
    # DOT's default `sub` claim (OAuth2Validator.get_claim_dict).
    return str(user.id)


def main():
    sub = prepare_database()
    server = SerialServer(("127.0.0.1", 0), SerialRequestHandler)
    server.set_app(get_wsgi_application())
    print(json.dumps({"port": server.server_address[1], "sub": sub}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
