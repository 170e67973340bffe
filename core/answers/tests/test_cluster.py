"""The answer store on a Cassandra cluster (`CASSANDRA_NODES=3`: three nodes on 127.0.0.1-3, data centre dc1).
These run only against a cluster, e.g. `CASSANDRA_NODES=3 make test` (docs/scaling.md); on one node they skip."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import skipUnless

from cassandra import ConsistencyLevel
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import SimpleStatement
from django.conf import settings
from django.test import SimpleTestCase

from core.answers.cassandra import CassandraAnswerStore, schema_options

ON_A_CLUSTER = settings.CASSANDRA_NODES > 1


@skipUnless(ON_A_CLUSTER, "needs CASSANDRA_NODES > 1 (a local cluster from scripts/services.sh)")
class AnswerStoreOnAClusterTests(SimpleTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.store = CassandraAnswerStore.from_settings()
        cls.store.sync_schema(**schema_options())

    @classmethod
    def tearDownClass(cls) -> None:
        cls.store.close()
        super().tearDownClass()

    def test_the_keyspace_replicates_to_every_node_of_the_data_centre(self) -> None:
        session = self.store.connection.session()
        row = session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (self.store.connection.keyspace,),
        ).one()
        replication = row["replication"]
        self.assertEqual(replication["class"], "org.apache.cassandra.locator.NetworkTopologyStrategy")
        self.assertEqual(replication["dc1"], str(min(settings.CASSANDRA_NODES, 3)))

    def test_every_node_is_a_contact_point_and_the_driver_routes_by_token_within_the_local_dc(self) -> None:
        session = self.store.connection.session()
        cluster = session.cluster
        self.assertEqual(
            sorted(str(h) for h in cluster.contact_points),
            [f"127.0.0.{i}" for i in range(1, settings.CASSANDRA_NODES + 1)],
        )
        hosts = cluster.metadata.all_hosts()
        self.assertEqual(len(hosts), settings.CASSANDRA_NODES)
        self.assertEqual({h.datacenter for h in hosts}, {"dc1"})
        policy = cluster.profile_manager.default.load_balancing_policy
        self.assertIsInstance(policy, TokenAwarePolicy)
        self.assertIsInstance(policy._child_policy, DCAwareRoundRobinPolicy)
        self.assertEqual(policy._child_policy.local_dc, "dc1")
        self.assertEqual(self.store.connection.consistency, ConsistencyLevel.LOCAL_QUORUM)

    def test_an_acknowledged_save_is_read_back_from_every_replica(self) -> None:
        saved_at = datetime.now(UTC).replace(microsecond=0)
        self.store.save(exam_id=990_001, student_id=42, answers=[(1, [11, 12]), (2, [21])], saved_at=saved_at)
        session = self.store.connection.session()
        statement = SimpleStatement(
            f"SELECT question_id, choice_ids FROM {self.store.connection.keyspace}.answers "
            "WHERE exam_id = %s AND student_id = %s",
            consistency_level=ConsistencyLevel.ALL,
        )
        rows = {r["question_id"]: set(r["choice_ids"]) for r in session.execute(statement, (990_001, 42), timeout=10)}
        self.assertEqual(rows, {1: {11, 12}, 2: {21}})


class ComposeClusterTopologyTests(SimpleTestCase):
    """docker-compose.yml describes the same cluster as `CASSANDRA_NODES=3 make up` (read, since Docker cannot
    run here)."""

    @classmethod
    def setUpClass(cls) -> None:
        import yaml

        super().setUpClass()
        cls.services = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())["services"]

    def test_it_runs_three_cassandra_nodes_of_one_data_centre_each_with_its_own_volume(self) -> None:
        nodes = {name: s for name, s in self.services.items() if s.get("image", "").startswith("cassandra:")}
        self.assertEqual(sorted(nodes), ["cassandra", "cassandra-2", "cassandra-3"])
        volumes = {n["volumes"][0].split(":")[0] for n in nodes.values()}
        self.assertEqual(len(volumes), 3)
        for node in nodes.values():
            env = node["environment"]
            self.assertEqual(env["CASSANDRA_ENDPOINT_SNITCH"], "GossipingPropertyFileSnitch")
            self.assertEqual(env["CASSANDRA_DC"], "dc1")
            self.assertEqual(env["CASSANDRA_SEEDS"].split(","), sorted(nodes))
            self.assertIn("healthcheck", node)

    def test_the_app_knows_every_node_and_writes_at_local_quorum_with_three_replicas(self) -> None:
        env = self.services["web"]["environment"]
        self.assertEqual(env["CASSANDRA_HOSTS"].split(","), ["cassandra", "cassandra-2", "cassandra-3"])
        self.assertEqual(env["CASSANDRA_LOCAL_DC"], "dc1")
        self.assertEqual(env["CASSANDRA_REPLICATION_FACTOR"], "3")
        self.assertEqual(env["CASSANDRA_CONSISTENCY"], "LOCAL_QUORUM")
        for service in ("web", "worker", "migrate"):
            waits_for = set(self.services[service]["depends_on"])
            self.assertLessEqual({"cassandra", "cassandra-2", "cassandra-3"}, waits_for, service)
