"""Services for the team-deployment tests: PostgreSQL, Redis, an S3-compatible server (moto).

PostgreSQL and Redis are the machine's (127.0.0.1:5432 trust auth, 127.0.0.1:6379); each test
session creates its own throwaway databases and drops them afterwards, and Celery queues carry a
unique name. The S3 server is moto's, started here on 127.0.0.1 and stopped at the end. A test is
skipped (one line saying why) only when a service is truly not there.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator

import pytest


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    """A superuser URL on the machine's PostgreSQL (user postgres or root, trust auth)."""
    if not _listening(5432):
        pytest.skip("PostgreSQL is not listening on 127.0.0.1:5432")
    import psycopg2

    for user in ("postgres", "root"):
        try:
            psycopg2.connect(host="127.0.0.1", port=5432, user=user, dbname="postgres", connect_timeout=5).close()
            yield f"postgresql://{user}@127.0.0.1:5432"
            return
        except psycopg2.OperationalError:
            continue
    pytest.skip("PostgreSQL on 127.0.0.1:5432 accepts neither user postgres nor root without a password")


@pytest.fixture(scope="session")
def pg_database(pg_admin: str) -> Iterator[Callable[[], str]]:
    """Factory: a fresh database (URL) for this session; every one is dropped at the end."""
    import psycopg2

    made: list[str] = []
    user = pg_admin.split("//")[1].split("@")[0]

    def admin(sql: str) -> None:
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user=user, dbname="postgres")
        conn.autocommit = True
        try:
            conn.cursor().execute(sql)
        finally:
            conn.close()

    def make() -> str:
        name = f"xb_test_{uuid.uuid4().hex[:12]}"
        admin(f"CREATE DATABASE {name}")
        made.append(name)
        return f"{pg_admin}/{name}"

    try:
        yield make
    finally:
        for name in made:
            admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    """A call-store URL on each backend: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'calls.sqlite'}"
    return request.getfixturevalue("pg_database")()


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _listening(6379):
        pytest.skip("Redis is not listening on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[dict[str, str]]:
    """moto's S3-compatible server on 127.0.0.1 (a free port); the environment boto/s3fs need to use it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the moto server, with this process's environment pointed at it."""
    import boto3
    import fsspec

    for k, v in s3_server.items():
        monkeypatch.setenv(k, v)
    name = f"xb-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server["AWS_ENDPOINT_URL"]).create_bucket(Bucket=name)
    fsspec.filesystem("s3").invalidate_cache()  # s3fs caches listings across tests
    return name
