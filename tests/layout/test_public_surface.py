"""The public surface cannot grow (or shrink) by accident: each public package's
``__all__`` is exactly the list below, and every name in it exists.

Adding a public name is a decision: add it here in the same commit (and to
``../shared/API.md`` when it is part of the contract).
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC: dict[str, set[str]] = {
    'actorpg_lab': {
        'Actor', 'ActorRef', 'ActorStoppedError', 'ActorSystem', 'Config', 'DecodeError',
        'DurableStateActor', 'DurableStateConcurrencyError', 'DurableStateRecord',
        'DurableStateStore', 'EmbeddedPostgres', 'EveryNEvents', 'Extension',
        'InMemoryDurableStateStore', 'InMemoryJournal', 'InMemorySnapshotStore', 'Journal',
        'JournalConcurrencyError', 'JournalEntry', 'JournalError', 'JournalIntegrityError',
        'JsonCodec', 'Limits', 'PersistenceError', 'PersistenceExtension', 'PersistentActor',
        'PersistentEvent', 'PluginNotFoundError', 'RecoveryFailedError', 'ReplayResult',
        'ReplayStep', 'Snapshot', 'SnapshotActivity', 'SnapshotIntegrityError', 'SnapshotPolicy',
        'SnapshotStore', 'TagFilter', 'UnregisteredTypeWarning', 'UnsafePathError', 'WriteAttempt',
        '__version__', 'add_snapshot_listener', 'add_write_listener', 'default_codec', 'event_type',
        'every_n_events', 'replay_state', 'upcaster',
        # conditional appends (DCB), idempotent appends, metadata
        'AppendCondition', 'AppendConditionError', 'ConditionalJournal', 'ConsistencyToken',
        'EventMetadata', 'IdempotencyConflictError', 'MatchingRead', 'Query', 'QueryItem',
        'current_metadata', 'metadata',
        # projections' errors
        'ProjectionConfigError', 'ProjectionError', 'ProjectionFenced', 'ProjectionLagTimeout',
    },
    'actorpg_lab.lab': {
        'ABSENT', 'Change', 'ConflictRecorder', 'DEFAULT_DATA_DIR', 'PruningRecorder',
        'ReplayProblem', 'Replayer', 'StateDiff', 'Table', 'Workbench', 'causation_tree', 'connect',
        'demo', 'diff_states', 'expand_payloads', 'find_data_dir', 'pid_bucket', 'plot_conflict_timeline',
        'plot_pruning_history', 'plot_recovery_cost', 'plot_what_if', 'recovery_cost', 'show',
        'simulate_policies',
    },
    'actorpg_lab.lab.demo': {
        'Account', 'AccountFrozen', 'AccountOpened', 'AccountState', 'BrokenStreams',
        'BuggyAccount', 'Deposit', 'Deposited', 'FixedAccount', 'GetBalance', 'Open',
        'ReceiveTransfer', 'SendTransfer', 'TransferReceived', 'TransferSent', 'Withdraw',
        'Withdrawn', 'account_ids', 'break_demo_streams', 'break_stream', 'ensure_demo',
        'race_appends', 'run_demo_app', 'save_snapshot_ahead', 'seed_bank', 'seed_counters',
    },
    'actorpg_lab.query': {
        'ConsumerLag', 'DEFAULT_WINDOW_MS', 'LegacySkip', 'PersistenceQuery', 'TagFilter',
        'TagOffset', 'TaggedEvent',
    },
    'actorpg_lab.postgres': {
        'Database', 'PostgresDurableStateStore', 'PostgresJournal', 'PostgresSnapshotStore',
        'register_postgres_plugins',
    },
    'actorpg_lab.memory': {
        'InMemoryDurableStateStore', 'InMemoryJournal', 'InMemorySnapshotStore',
    },
    'actorpg_lab.actors': {
        'Actor', 'ActorRef', 'ActorSystem', 'Config', 'DurableStateActor', 'EveryNEvents',
        'Extension', 'PersistenceExtension', 'PersistentActor', 'SnapshotPolicy', 'every_n_events',
    },
    'actorpg_lab.projections': {
        'STATES', 'Blocker', 'Checkpoint', 'DeadLetter', 'Projection', 'ProjectionConfigError',
        'ProjectionContext', 'ProjectionError', 'ProjectionFenced', 'ProjectionLagTimeout',
        'ProjectionRunner', 'ProjectionStatus',
    },
    'actorpg_lab.testing': {
        'DurableStateContract', 'JournalContract', 'SnapshotStoreContract',
    },
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_all_is_exactly_the_public_surface(package: str) -> None:
    module = importlib.import_module(package)
    declared = list(module.__all__)
    assert len(declared) == len(set(declared)), f"{package}.__all__ lists a name twice"
    assert set(declared) == PUBLIC[package], (
        f"{package}.__all__ changed: added {sorted(set(declared) - PUBLIC[package])}, "
        f"removed {sorted(PUBLIC[package] - set(declared))}")
    missing = [name for name in declared if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


def test_every_public_package_is_listed() -> None:
    """A new public (non-underscore) package of actorpg_lab gets an entry above."""
    import pkgutil

    import actorpg_lab

    packages = {f"actorpg_lab.{info.name}" for info in pkgutil.iter_modules(actorpg_lab.__path__)
                if info.ispkg and not info.name.startswith("_")}
    packages |= {"actorpg_lab", "actorpg_lab.lab.demo"}
    assert packages <= set(PUBLIC), sorted(packages - set(PUBLIC))
