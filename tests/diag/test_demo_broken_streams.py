"""The demo data set seeded by the main command holds three realistic broken streams."""

from __future__ import annotations

import pytest

from actorpg_lab import ActorSystem, RecoveryFailedError, lab
from actorpg_lab.lab.__main__ import main
from actorpg_lab.lab.demo import Account, FixedAccount, GetBalance


def test_ensure_demo_breaks_three_accounts_each_way(wb: lab.Workbench) -> None:
    result = lab.demo.ensure_demo(wb)
    broken = result["broken"]
    assert set(broken) == {"gap", "snapshot_ahead", "on_event_failed"}
    checked = wb.check_streams(Account)
    assert len(checked) == 13  # 12 accounts and the raced stream race-1
    problems = checked[~checked["ok"]].set_index("persistence_id")
    assert len(problems) == 3
    for kind, (pid, seq) in broken.items():
        assert problems.loc[pid, "problem"] == kind
        assert problems.loc[pid, "sequence_nr"] == seq
    # the first accounts (used in examples) stay healthy
    assert checked.set_index("persistence_id").loc["account-01", "ok"]
    # without a behaviour only the structure problems show
    structural = wb.check_streams(only_problems=True)
    assert sorted(structural["problem"]) == ["gap", "snapshot_ahead"]
    # the fix handles the frozen account; the data problems remain
    fixed = wb.check_streams(FixedAccount, only_problems=True)
    assert sorted(fixed["problem"]) == ["gap", "snapshot_ahead"]
    assert lab.demo.ensure_demo(wb) == {"seeded": False}


def test_each_broken_demo_account_fails_recovery(wb: lab.Workbench) -> None:
    broken = lab.demo.ensure_demo(wb)["broken"]

    async def recover(pid: str, actor_class: type[Account] = Account) -> object:
        system = ActorSystem("diag-demo")
        actor = actor_class(pid)
        actor.journal, actor.snapshot_store = wb.journal, wb.snapshot_store
        try:
            return await system.spawn(actor).ask(GetBalance())
        except RecoveryFailedError as exc:
            return exc
        finally:
            await system.terminate()

    for pid, _seq in broken.values():
        assert isinstance(wb.run(recover(pid)), RecoveryFailedError), pid
    frozen_pid = broken["on_event_failed"][0]
    assert isinstance(wb.run(recover(frozen_pid, FixedAccount)), int)
    assert isinstance(wb.run(recover("account-01")), int)


def test_break_demo_streams_needs_three_accounts(wb: lab.Workbench) -> None:
    with pytest.raises(ValueError, match="at least 3"):
        lab.demo.break_demo_streams(wb, ["account-01"])


def test_healthy_demo_on_request(wb: lab.Workbench) -> None:
    result = lab.demo.ensure_demo(wb, broken=False, accounts=4, operations=40)
    assert "broken" not in result
    assert wb.check_streams(Account)["ok"].all()


def test_main_command_seeds_the_broken_streams_and_lists_them(
        pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", pg_url, "--no-browser", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "streams that fail recovery" in out
    for kind in ("gap @", "snapshot_ahead @", "on_event_failed @"):
        assert kind in out, out
