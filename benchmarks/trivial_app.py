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


def main() -> None:
    from gunicorn.app.base import BaseApplication

    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()

    class App(BaseApplication):
        def load_config(self) -> None:  # the settings of survey.cli.server._serve
            from survey.cli.server import gunicorn_settings

            settings = {
                **gunicorn_settings(a.host, a.port, a.workers),
                "proc_name": "trustmeter-bench-trivial",
            }
            for key, value in settings.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self):
            return create_app()

    App().run()


if __name__ == "__main__":
    main()
