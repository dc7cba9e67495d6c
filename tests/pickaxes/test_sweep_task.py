"""The stale-run sweep as a background task: a scheduler enqueues it, a worker runs it."""

from datetime import timedelta
from io import StringIO

import time_machine
from django.core.management import call_command
from django.utils import timezone

from pickaxes.models import Run
from tests.pickaxes.factories import open_run
from tests.tasks import queued_tasks


def test_close_stale_runs_enqueue_queues_the_sweep_and_a_worker_closes_the_lapsed_run(
    pickaxe, user, settings, run_tasks
):
    settings.RUN_LEASE_SECONDS = 30
    run = open_run(pickaxe, user, "k" * 20)
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        out = StringIO()
        call_command("close_stale_runs", "--enqueue", stdout=out)
        assert "Queued the stale-run sweep and the runs count." in out.getvalue()
        run.refresh_from_db()
        assert run.status == Run.Status.RUNNING  # nothing closed until a worker runs it
        assert queued_tasks("pickaxes.tasks.close_stale_runs").count() == 1
        assert queued_tasks("pickaxes.tasks.count_runs").count() == 1
        assert run_tasks() == 2
    run.refresh_from_db()
    pickaxe.refresh_from_db()
    assert run.status == Run.Status.FAILED and run.refunded
    assert pickaxe.runs_count == 1
