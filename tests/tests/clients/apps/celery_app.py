"""The celery app of `celery_tasks.py`: the Redis broker and the Redis result
backend at `$PETREL_CELERY_URL`, every other setting celery's default, and
one task. A module of its own so the worker process can import it
(`celery -A celery_app worker`)."""

import os

from celery import Celery

import petrel_apps

URL = os.environ["PETREL_CELERY_URL"]
app = Celery("petrel_celery", broker=URL, backend=URL)


@app.task
def add(a, b):
    return petrel_apps.add(a, b)
