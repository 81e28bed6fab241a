#!/bin/bash
# One role and one database per service, and one for Keycloak: a service can neither read nor
# change another's tables. Run by the postgres image on the first start of an empty data volume
# (docker-entrypoint-initdb.d); passwords come from the container's environment.
set -euo pipefail

create() {
    local name="$1" password="$2"
    # psql variables (:'pw') quote the password, so any character in it is safe.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        -v name="$name" -v pw="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
SQL
}

create permits "$PERMITS_DB_PASSWORD"
create credit "$CREDIT_DB_PASSWORD"
create inspection "$INSPECTION_DB_PASSWORD"
create insurance "$INSURANCE_DB_PASSWORD"
create gateway "$GATEWAY_DB_PASSWORD"
create keycloak "$KEYCLOAK_DB_PASSWORD"
