"""A shared Hive metastore and the Spark Thrift server over Delta tables (tests/servers/hive.py).

One Spark process (spark-submit) writes a Delta table and registers it in the standalone metastore;
the metastore lists it to a plain Thrift client; a second Spark process, the Thrift server, finds it
there by name, and analysts' SQL reaches it through the HiveServer2 protocol with Hive's own client,
beeline. Data is a handful of rows.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.servers.hive import beeline, get_all_databases, get_all_tables, run_metastore_job
from tests.servers.process import non_loopback

if TYPE_CHECKING:
    from tests.servers.hive import HiveMetastore, ThriftServer

pytestmark = pytest.mark.slow

TABLE = "analytics.profile_user"
ROWS = [["u1", "2026-11-24", 3], ["u2", "2026-11-24", 0], ["u3", "2026-11-23", 7]]


@pytest.fixture(scope="module")
def registered(hive_metastore: HiveMetastore) -> str:
    """TABLE written as Delta and registered in the metastore by its own spark-submit process."""
    run_metastore_job(hive_metastore, "write", TABLE, json.dumps(ROWS))
    return TABLE


def test_metastore_listens_on_loopback_only(hive_metastore: HiveMetastore) -> None:
    assert non_loopback(hive_metastore.process.pid) == []
    assert "default" in get_all_databases(hive_metastore.port)


def test_table_written_by_spark_is_registered_in_metastore(
    hive_metastore: HiveMetastore, registered: str
) -> None:
    database, table = registered.split(".")
    assert database in get_all_databases(hive_metastore.port)
    assert get_all_tables(hive_metastore.port, database) == [table]


def test_beeline_queries_delta_table_through_thrift_server(
    hive_thrift_server: ThriftServer, registered: str
) -> None:
    """The Thrift server is a second Spark process: it knows the table only from the metastore."""
    assert non_loopback(hive_thrift_server.process.pid) == []
    rows = beeline(  # one client start for both statements
        hive_thrift_server.jdbc_url,
        f"SELECT user_id, dt, orders_30d FROM {registered} WHERE orders_30d > 0 ORDER BY user_id;"
        f" SELECT count(*) FROM {registered} VERSION AS OF 0",
    )
    # the second answer proves a Delta read: time travel exists only with the Delta jars and catalog
    assert rows == [["u1", "2026-11-24", "3"], ["u3", "2026-11-23", "7"], ["3"]]
