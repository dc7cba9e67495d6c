"""Background tasks (django.tasks) of pickaxes: the stale-run sweep and the runs count."""

from django.tasks import task

from pickaxes import services


@task
def close_stale_runs():
    """Close runs whose lease lapsed (pickaxes.services.close_stale_runs). Enqueued every
    minute by `manage.py close_stale_runs --enqueue` from a scheduler (README, "Background
    tasks"); a sweep that fails is simply done by the next one, so it does not retry."""
    return services.close_stale_runs()


@task
def count_runs():
    """Bring the pickaxes' counts of runs up to date (pickaxes.services.count_runs), on the
    sweep's schedule; a count that fails is done by the next one."""
    return services.count_runs()
