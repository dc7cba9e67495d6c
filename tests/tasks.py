"""Running the background tasks' queue inside a test, deterministically.

The tests use the production backend (django-tasks-db: the queue is a table). A task only
runs when a test calls `run_due_tasks()`, which runs each due task through the package's own
Worker.run_task, in the test's transaction. `manage.py db_worker --batch` does the same in a
loop but checks its connection between tasks, which would end a test's transaction; the
test that runs the real command is a transactional one (tests/test_tasks_worker.py).
"""

from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult


def run_due_tasks(limit=100):
    """Run every task due now (run_after passed), including tasks those enqueue; return
    how many ran. Tasks deferred to later stay queued: move the clock to run them."""
    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test",
        excluded_queue_names=[],
    )
    ran = 0
    while ran < limit and (due := DBTaskResult.objects.ready().get_locked()) is not None:
        due.claim(worker.worker_id)
        worker.run_task(due)
        ran += 1
    return ran


def queued_tasks(name=None):
    """Tasks waiting to run (also those deferred to later), optionally of one task path."""
    waiting = DBTaskResult.objects.filter(status="READY")
    return waiting.filter(task_path=name) if name else waiting
