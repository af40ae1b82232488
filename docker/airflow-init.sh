#!/usr/bin/env bash
# One-shot setup of the Airflow cluster, run by compose's `airflow-init` service before any other
# Airflow component starts. Every step is idempotent, so `docker compose up` can run it each time:
#   1. migrate the metadata database (Postgres) to this Airflow version's schema;
#   2. create or resize the `train` pool that the DAG's train task runs in;
#   3. create the admin user of the web UI (FAB auth manager) unless it exists.
set -euo pipefail

: "${AIRFLOW_ADMIN_USERNAME:?is not set: put it in docker/.env (see docker/.env.example)}"
: "${AIRFLOW_ADMIN_PASSWORD:?is not set: put it in docker/.env (see docker/.env.example)}"
admin_email="${AIRFLOW_ADMIN_EMAIL:-admin@example.org}"

# Values copied unchanged from .env.example are public: refuse them.
for name in AIRFLOW_ADMIN_PASSWORD AIRFLOW__CORE__FERNET_KEY AIRFLOW__API__SECRET_KEY AIRFLOW__API_AUTH__JWT_SECRET \
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW__CELERY__BROKER_URL AWS_SECRET_ACCESS_KEY; do
    if [[ "${!name:-}" == *CHANGE_ME* ]]; then
        echo "airflow-init: ${name} still holds a CHANGE_ME placeholder from .env.example;" \
             "run 'python3 make_env.py' in docker/ or set real secrets in docker/.env" >&2
        exit 2
    fi
done
train_slots="${TRAIN_POOL_SLOTS:-1}"

if ! [[ "${train_slots}" =~ ^[1-9][0-9]*$ ]]; then
    echo "airflow-init: TRAIN_POOL_SLOTS must be a positive integer, got '${train_slots}'" >&2
    exit 2
fi

echo "airflow-init: migrating the metadata database"
airflow db migrate

echo "airflow-init: pool 'train' with ${train_slots} slot(s)"
airflow pools set train "${train_slots}" "TopicTensor training: one slot per training run the train workers can hold"

# FAB's `users create` leaves an existing user untouched (it prints "... already exists" and exits 0),
# so a changed AIRFLOW_ADMIN_PASSWORD does not reset it: use `airflow users reset-password` for that.
echo "airflow-init: admin user '${AIRFLOW_ADMIN_USERNAME}'"
airflow users create \
    --username "${AIRFLOW_ADMIN_USERNAME}" \
    --password "${AIRFLOW_ADMIN_PASSWORD}" \
    --role Admin \
    --firstname Admin \
    --lastname TopicTensor \
    --email "${admin_email}"

echo "airflow-init: done"
