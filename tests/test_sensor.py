"""The inbox sensor: new client folders become partitions, new files trigger a run."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from pipelines.defs.resources import CapWorkspace
from pipelines.defs.sensors import client_inbox_sensor
from pipelines.demo import write_demo


def tick(instance: dg.DagsterInstance, home: Path, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"cap": CapWorkspace(home=str(home))}
    )
    return client_inbox_sensor(context)


def test_new_clients_and_new_files_are_picked_up_once(tmp_path: Path) -> None:
    write_demo(tmp_path, dt.date(2026, 11, 26))
    with dg.instance_for_test() as instance:
        first = tick(instance, tmp_path, None)
        added = first.dynamic_partitions_requests[0]
        assert sorted(added.partition_keys) == [
            "helios-services",
            "logistique-durand",
            "menuiseries-rhone",
        ]
        assert sorted(r.partition_key for r in first.run_requests) == sorted(added.partition_keys)
        instance.add_dynamic_partitions("clients", list(added.partition_keys))

        # Same inbox listings: nothing to do.
        quiet = tick(instance, tmp_path, first.cursor)
        assert (quiet.run_requests, quiet.dynamic_partitions_requests) == ([], [])

        # A new file for one client: one run, for that client only.
        inbox = tmp_path / "clients" / "helios-services" / "inbox"
        (inbox / "Finance pack FY2027.xlsx").write_bytes(b"new bytes")
        after = tick(instance, tmp_path, quiet.cursor)
        assert [r.partition_key for r in after.run_requests] == ["helios-services"]
        assert set(json.loads(after.cursor)) == set(added.partition_keys)
