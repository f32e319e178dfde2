"""The app the exec tests and benchmark run: an iii worker serving ``GET /exec-app/answer``.

Run as ``python -B worker.py ws://host:port``; the answer comes from ``answer.py`` next to it,
the watched file.
The worker also starts a ``sleep`` child so that tests can check the whole process group dies.
"""

import os
import subprocess
import sys
import threading
from typing import Any

from answer import ANSWER
from iii import InitOptions, ReconnectionConfig, register_worker

FUNCTION_ID = "exec-app::answer"
API_PATH = "exec-app/answer"


def main() -> None:
    helper = subprocess.Popen(["sleep", "300"])
    options = InitOptions(
        worker_name="exec-app",
        enable_metrics_reporting=False,
        otel={"enabled": False},
        reconnection_config=ReconnectionConfig(initial_delay_ms=100, max_delay_ms=500),
    )
    worker = register_worker(sys.argv[1], options)

    def answer(_request: Any) -> dict[str, Any]:
        body = {"answer": ANSWER, "pid": os.getpid(), "pgid": os.getpgid(0), "helper_pid": helper.pid}
        return {"status_code": 200, "body": body}

    worker.register_function({"id": FUNCTION_ID}, answer)
    worker.register_trigger(
        {"type": "http", "function_id": FUNCTION_ID, "config": {"api_path": API_PATH, "http_method": "GET"}}
    )
    print(f"serving {ANSWER}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
