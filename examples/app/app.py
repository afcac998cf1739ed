"""The reference app: the source system's workload, reading its database connection
exactly as the compiled Deployment provides it (docs/database.md).

libpq reads the connection from the environment: PGHOST (Pgpool's Service), PGPORT,
PGDATABASE, PGUSER, PGPASSWORD (from the credentials Secret, by reference), PGSSLMODE
(verify-full) and PGSSLROOTCERT (the database CA). The app passes nothing of its own, so
what the compiler writes is what connects.

Every request opens its own connection through Pgpool, which pools the backend
connections; a request that fails during a failover answers 503 and writes nothing it
did not acknowledge.
"""

import logging
import os
import signal

import psycopg2
from flask import Flask, jsonify, request

CONNECT_TIMEOUT_SECONDS = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "3"))

app = Flask(__name__)
log = logging.getLogger("app")


def connect():
    """A connection from the libpq environment; nothing here overrides it."""
    return psycopg2.connect(connect_timeout=CONNECT_TIMEOUT_SECONDS)


def unavailable(error):
    log.warning("database unavailable: %s", str(error).strip().splitlines()[0:1])
    return jsonify(error="database unavailable"), 503


@app.get("/healthz")
def healthz():
    """Alive: the process answers. Never depends on the database, so a database outage
    does not restart every app pod."""
    return jsonify(status="ok")


@app.get("/readyz")
def readyz():
    """Ready: Pgpool answers and reaches a primary (a write-capable session)."""
    try:
        with connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT NOT pg_is_in_recovery()")
            (primary,) = cur.fetchone()
        conn.close()
    except psycopg2.Error as error:
        return unavailable(error)
    if not primary:
        return jsonify(error="no primary"), 503
    return jsonify(status="ready")


@app.post("/items")
def create_item():
    """A write. 201 means committed: the id is acknowledged only after COMMIT returns."""
    value = (request.get_json(silent=True) or {}).get("value", "")
    try:
        conn = connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS items "
                    "(id bigserial PRIMARY KEY, value text NOT NULL)"
                )
                cur.execute("INSERT INTO items (value) VALUES (%s) RETURNING id", (value,))
                (item_id,) = cur.fetchone()
        finally:
            conn.close()
    except psycopg2.Error as error:
        return unavailable(error)
    return jsonify(id=item_id), 201


@app.get("/items/<int:item_id>")
def read_item(item_id):
    """A read, which Pgpool may send to a standby."""
    try:
        conn = connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT value FROM items WHERE id = %s", (item_id,))
                row = cur.fetchone()
        finally:
            conn.close()
    except psycopg2.Error as error:
        return unavailable(error)
    if row is None:
        return jsonify(error="not found"), 404
    return jsonify(id=item_id, value=row[0])


@app.get("/connection")
def connection():
    """What the session looks like from the server: user, database, TLS (pg_stat_ssl)."""
    try:
        conn = connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT current_user, current_database(), s.ssl, s.version "
                    "FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()"
                )
                user, database, ssl, version = cur.fetchone()
        finally:
            conn.close()
    except psycopg2.Error as error:
        return unavailable(error)
    return jsonify(
        user=user,
        database=database,
        ssl=ssl,
        ssl_version=version,
        client_sslmode=os.environ.get("PGSSLMODE", ""),
    )


def _stop_on_sigterm():
    # Under gunicorn the arbiter owns SIGTERM (graceful: finish requests, then exit);
    # run directly, exit cleanly on it too.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper())
    _stop_on_sigterm()
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "8080")))
