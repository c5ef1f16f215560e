"""The NGINX loader: server documents with inherited directives and lines, includes, and bad input."""

from __future__ import annotations

from pathlib import Path

from leitplanke.core.documents import Document
from leitplanke.core.problems import Problem
from leitplanke.sources import files
from leitplanke.sources.configs import nginx


def _load(path: Path) -> list[object]:
    return list(files.load_path(str(path)))


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_server_sees_the_http_directives_it_does_not_override_and_points_at_their_lines(
    tmp_path: Path,
) -> None:
    conf = _write(
        tmp_path,
        "nginx.conf",
        "events {}\nhttp {\n  server_tokens off;\n  add_header X-A 1;\n"
        "  server {\n    listen 443 ssl;\n    server_name a.example.com;\n    add_header X-B 2;\n  }\n}\n",
    )
    config, server = _load(conf)
    assert isinstance(config, Document) and isinstance(server, Document)
    assert (config.kind, config.name, config.domain) == ("NginxConfig", "nginx.conf", "nginx")
    assert (server.kind, server.name) == ("NginxServer", "a.example.com:443")
    directives = server.body["spec"]["directives"]
    assert directives["server_tokens"] == [["off"]]
    assert directives["add_header"] == [["X-B", "2"]]  # a level with add_header of its own inherits none
    assert server.body["spec"]["listen"][0] | {} == {
        "address": "443", "host": "*", "port": "443", "ssl": True, "http2": False,
        "loopback": False, "defaultServer": False,
    }  # fmt: skip
    assert server.origin.line == 5
    assert server.origin.line_of("spec.directives.server_tokens") == 3
    assert server.origin.line_of("spec.directives.add_header[0]") == 8
    assert server.origin.line_of("spec.listen[0]") == 6


def test_servers_from_included_files_point_into_those_files(tmp_path: Path) -> None:
    conf = _write(tmp_path, "nginx.conf", "events {}\nhttp {\n  include sites/*.conf;\n}\n")
    site = _write(
        tmp_path, "sites/shop.conf", "# shop\nserver {\n  listen 80;\n  return 301 https://$host;\n}\n"
    )
    outputs = _load(conf)
    server = outputs[1]
    assert isinstance(server, Document)
    assert (server.origin.file, server.origin.line) == (str(site), 2)
    assert server.body["spec"]["httpsRedirect"] is True


def test_missing_includes_and_include_loops_are_problems_with_file_and_line_and_the_scan_goes_on(
    tmp_path: Path,
) -> None:
    conf = _write(
        tmp_path,
        "nginx.conf",
        "events {}\nhttp {\n  include loop.conf;\n  include gone.conf;\n  server { listen 80; }\n}\n",
    )
    loop = _write(tmp_path, "loop.conf", "include nginx.conf;\n")
    outputs = _load(conf)
    problems = [(p.file, p.line, p.code) for p in outputs if isinstance(p, Problem)]
    assert problems == [
        (str(loop), 1, "nginx-include-loop"),
        (str(conf), 4, "nginx-include-unreadable"),
    ]
    assert [d.kind for d in outputs if isinstance(d, Document)] == ["NginxConfig", "NginxServer"]


def test_an_unparsable_file_is_a_problem_at_its_line(tmp_path: Path) -> None:
    conf = _write(tmp_path, "site.conf", "server {\n  listen 80;\n  location / {\n")
    outputs = _load(conf)
    assert [(p.line, p.code) for p in outputs if isinstance(p, Problem)] == [(3, "nginx-syntax")]


def test_a_server_without_listen_listens_on_port_80_and_unix_sockets_are_local() -> None:
    assert nginx.parse_listen(["unix:/run/app.sock"])["loopback"] is True
    assert nginx.parse_listen(["[::1]:8080"]) | {} == {
        "address": "[::1]:8080", "host": "::1", "port": "8080", "ssl": False, "http2": False,
        "loopback": True, "defaultServer": False,
    }  # fmt: skip
    assert nginx.parse_listen(["example.com", "quic"])["ssl"] is True


def test_conf_files_are_recognised_by_name_and_content_in_a_directory_walk(tmp_path: Path) -> None:
    _write(tmp_path, "nginx.conf", "events {}\n")
    _write(tmp_path, "conf.d/site.conf", "server { listen 80; }\n")
    _write(tmp_path, "other.conf", "key = value\n")
    found = [source.path for source in files.iter_sources([str(tmp_path)])]
    assert found == [str(tmp_path / "conf.d/site.conf"), str(tmp_path / "nginx.conf")]


def test_type_names_the_loader_whatever_the_file_is_called(tmp_path: Path) -> None:
    conf = _write(tmp_path, "proxy.txt", "server { listen 8080; }\n")
    kinds = [d.kind for d in files.load_path(str(conf), config_type="nginx") if isinstance(d, Document)]
    assert kinds == ["NginxConfig", "NginxServer"]
    unknown = list(files.load_path(str(conf), config_type="apache"))
    assert [(p.code) for p in unknown if isinstance(p, Problem)] == ["unknown-type"]


def test_a_fragment_nginx_conf_includes_is_loaded_once_in_a_walk_and_alone_when_named(tmp_path: Path) -> None:
    main = _write(tmp_path, "nginx.conf", "events {}\nhttp {\n    include conf.d/*.conf;\n}\n")
    site = _write(tmp_path, "conf.d/site.conf", "server {\n    listen 8080;\n}\n")
    assert nginx.recognises(str(site), site.read_bytes())  # a walk would find it on its own

    assert list(files.iter_sources([str(tmp_path)])) == [files.Source("file", str(main))]
    walked = [(d.display, d.origin.file, d.origin.line) for d in _load(tmp_path) if isinstance(d, Document)]
    assert walked == [("NginxConfig/nginx.conf", str(main), 1), ("NginxServer/_:8080", str(site), 1)]
    # named explicitly, the fragment is read on its own, beside the walk or alone
    assert list(files.iter_sources([str(tmp_path), str(site)])) == [
        files.Source("file", str(main)),
        files.Source("file", str(site)),
    ]
    assert [d.display for d in _load(site) if isinstance(d, Document)] == [
        "NginxConfig/site.conf",
        "NginxServer/_:8080",
    ]


def test_two_files_that_include_each_other_are_both_loaded_and_both_report_the_loop(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.conf", "include b.conf;\nserver { listen 81; }\n")
    second = _write(tmp_path, "b.conf", "include a.conf;\nserver { listen 82; }\n")
    assert list(files.iter_sources([str(tmp_path)])) == [
        files.Source("file", str(first)),
        files.Source("file", str(second)),
    ]
    loops = [(p.file, p.line) for p in _load(tmp_path) if isinstance(p, Problem)]
    assert loops == [(str(second), 1), (str(first), 1)]
