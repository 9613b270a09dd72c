#!/bin/sh
# The Rasa image's two servers (deploy/Dockerfile.rasa).
#
#   rasa     the Rasa server: REST channel and HTTP API on :5005, the HTTP API requiring
#            RASA_TOKEN (Rasa takes it only on its command line), trackers and locks in
#            the shared stores (endpoints.yml: GANGWAY_RASA_TRACKER_*, GANGWAY_RASA_LOCK_*)
#   actions  the action server on :5055, answering only callers with
#            GANGWAY_ACTION_SECRET (actions/server.py)
# Anything else runs as given (e.g. `rasa shell`, `bash`).
set -eu

case "${1:-rasa}" in
rasa)
    : "${RASA_TOKEN:?is not set: the Rasa HTTP API never runs without a token}"
    exec rasa run --enable-api --auth-token "$RASA_TOKEN" \
        --model models/gangway.tar.gz --endpoints endpoints.yml \
        --credentials bot/rasa/credentials.yml --interface 0.0.0.0 --port 5005
    ;;
actions)
    exec python -m actions.server --host 0.0.0.0 --port 5055
    ;;
*)
    exec "$@"
    ;;
esac
