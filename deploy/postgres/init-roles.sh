#!/bin/sh
# Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d):
# the roles and databases of README.md "Database roles", and Rasa's own.
#
#   gangway_owner  owns gangway's database and runs the migrations (the migrate job)
#   gangway        the service's role: what `gangway db upgrade` grants it, no more
#   rasa           Rasa's tracker store, in a database of its own; never gangway's records
#
# The passwords come from the container's environment. Later changes (a new password)
# are made with ALTER ROLE: this script never runs again on a data directory in use.
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$GANGWAY_DB_OWNER_PASSWORD" \
    -v service_password="$GANGWAY_DB_PASSWORD" \
    -v rasa_password="$GANGWAY_RASA_DB_PASSWORD" <<'SQL'
CREATE ROLE gangway_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE gangway LOGIN PASSWORD :'service_password';
CREATE ROLE rasa LOGIN PASSWORD :'rasa_password';
CREATE DATABASE gangway OWNER gangway_owner;
CREATE DATABASE gangway_rasa OWNER rasa;
-- Each role connects to its own database only.
REVOKE ALL ON DATABASE gangway FROM PUBLIC;
GRANT CONNECT ON DATABASE gangway TO gangway;
REVOKE ALL ON DATABASE gangway_rasa FROM PUBLIC;
SQL
