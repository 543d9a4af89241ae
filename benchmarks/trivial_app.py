"""The framework ceiling: a trivial Flask endpoint served by gunicorn exactly as
``trustmeter serve`` serves the survey (same workers, bind, access log to stdout).

``python -m benchmarks.trivial_app --port 5081 --workers 2``
"""

from __future__ import annotations

import argparse

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/ping")
    def ping():
        return "ok"

    return app


def serve(load, host: str, port: int, workers: int, proc_name: str) -> None:
    """Serve the WSGI app that ``load()`` returns with gunicorn, with the settings of
    ``trustmeter serve`` (``survey.cli.server.gunicorn_settings``)."""
    from gunicorn.app.base import BaseApplication

    from survey.cli.server import gunicorn_settings

    class App(BaseApplication):
        def load_config(self) -> None:
            settings = {**gunicorn_settings(host, port, workers), "proc_name": proc_name}
            for key, value in settings.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            return load()

    App().run()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    serve(create_app, a.host, a.port, a.workers, "trustmeter-bench-trivial")


if __name__ == "__main__":
    main()
