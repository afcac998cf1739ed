#!/bin/sh
# Patroni runs this once, on the member that initialises the cluster (by initdb, or by a
# restore from the archive, where the roles exist already: every statement is idempotent),
# with a superuser connection string as its only argument. It creates the roles the stack
# logs in as; their passwords come from the credentials Secret through the environment,
# never from a file.
set -eu
psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -d "$1" \
  -v app_password="$APP_PASSWORD" \
  -v monitor_password="$MONITOR_PASSWORD" \
  -v backup_password="$BACKUP_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE app LOGIN PASSWORD %L', :'app_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') \gexec
SELECT format('CREATE ROLE monitor LOGIN PASSWORD %L IN ROLE pg_monitor', :'monitor_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'monitor') \gexec
SELECT format('CREATE ROLE backup LOGIN PASSWORD %L IN ROLE pg_checkpoint', :'backup_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'backup') \gexec
GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean), pg_backup_stop(boolean) TO backup;
-- pg_rewind's user; Patroni sets its password and grants the file functions after this
-- script. Patroni checkpoints the new primary as this user before a rewind (pg_checkpoint).
SELECT 'CREATE ROLE rewinder LOGIN IN ROLE pg_checkpoint'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rewinder') \gexec
SELECT 'CREATE DATABASE app OWNER app'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'app') \gexec
SQL
