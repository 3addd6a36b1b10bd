"""The proxy log lines a drill attaches when it lost requests (`hakit.lab.drills.logged_errors`)."""

from __future__ import annotations

from hakit.lab.drills import logged_errors


def _line(status: int, termination: str, retries: str = "0", server: str = "app1") -> str:
    return (
        '{"time":"08/Dec/2026:02:28:45.636","client":"10.0.0.9:40000","frontend":"www","backend":"app",'
        f'"server":"{server}","upstream":"10.0.1.1:8080","method":"GET","uri":"/","status":{status},'
        '"bytes":0,"connect_ms":0,"response_ms":-1,"queue_ms":0,"total_ms":3,'
        f'"retries":"{retries}","termination":"{termination}"}}'
    )


def test_only_5xx_lines_of_the_structured_log_are_kept() -> None:
    log = "\n".join(
        [
            "[NOTICE]   (1) : haproxy version is 2.6",  # daemon messages share the log
            _line(200, "----"),
            _line(502, "SH--", "+3"),
            '{"status": "502"}',  # not a number: not HAProxy's line
            "{not json",
            _line(404, "----"),
            _line(503, "SC--", server="<NOSRV>"),
        ]
    )
    assert logged_errors("lb1", log) == [
        "lb1:502/SH--/retries +3/app1@08/Dec/2026:02:28:45.636",
        "lb1:503/SC--/retries 0/<NOSRV>@08/Dec/2026:02:28:45.636",
    ]


def test_a_log_without_errors_gives_nothing() -> None:
    assert logged_errors("lb2", _line(200, "----") + "\n\n[]\n") == []
