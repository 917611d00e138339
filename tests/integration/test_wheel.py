"""A wheel built from the tree, installed into a fresh virtualenv outside the checkout, runs
every command that reads package data, from a folder that is not the checkout.

This is what a site install does (and what pipelines/systemd/ assumes); an editable install
would hide a file that the wheel forgot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from esbridge import __version__
from tests.helpers.paths import EXAMPLE_CONFIG, KIBANA_OBJECTS, LOGSTASH_DIR, REPO
from tests.helpers.sites import Site

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `esbridge` script of a fresh virtualenv that has only the wheel and its deps."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)],
        check=True,
        cwd=root,
    )
    (wheel,) = dist.glob("esbridge-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(wheel)], check=True, cwd=root, env=_outside_env())
    yield env_dir / "bin" / "esbridge"
    shutil.rmtree(root, ignore_errors=True)


def _outside_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would point Python at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def run(script: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args],
        cwd=cwd,
        env=_outside_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_wheel_imports_esbridge_from_its_own_site_packages(
    installed: Path, tmp_path: Path
) -> None:
    python = installed.parent / "python"
    found = subprocess.run(
        [str(python), "-c", "import esbridge; print(esbridge.__file__)"],
        cwd=tmp_path,
        env=_outside_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert Path(found).is_relative_to(installed.parent.parent)
    assert not Path(found).is_relative_to(REPO)


def test_help_and_version(installed: Path, tmp_path: Path) -> None:
    helped = run(installed, "--help", cwd=tmp_path)
    version = run(installed, "--version", cwd=tmp_path)

    assert helped.returncode == 0, helped.stderr
    for command in ("setup", "ingest", "watch", "issues", "kibana", "logstash", "stack"):
        assert f"  {command} " in helped.stdout
    assert version.returncode == 0
    assert version.stdout.strip() == f"esbridge, version {__version__}"


def test_setup_dry_run_against_the_real_elasticsearch(
    installed: Path, tmp_path: Path, es_url: str, kafka_bootstrap: str
) -> None:
    config = tmp_path / "dcache.yml"
    example = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    config.write_text(example.replace("  rules_dir: rules\n", "  rule_packs: [dcache]\n"), "utf-8")

    done = run(
        installed,
        "setup",
        "-c",
        str(config),
        "--dry-run",
        cwd=tmp_path,
        ESBRIDGE_ES_URL=es_url,
        ESBRIDGE_KAFKA_BOOTSTRAP=kafka_bootstrap,
    )

    assert done.returncode == 0, done.stderr
    assert "component_template esbridge-envelope" in done.stdout
    assert "index_template     esbridge-issues" in done.stdout
    assert "would change" in done.stdout


def test_kibana_render_writes_the_committed_objects(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "objects.ndjson"

    done = run(installed, "kibana", "render", "-o", str(out), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == KIBANA_OBJECTS.read_bytes()


def test_logstash_render_writes_the_committed_pipelines(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "logstash"

    done = run(installed, "logstash", "render", "-o", str(out), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    for name in ("kafka-to-es.conf", "access-to-kafka.conf"):
        assert (out / name).read_bytes() == (LOGSTASH_DIR / name).read_bytes()


def test_the_daemons_and_issues_run_from_the_wheel(
    installed: Path, tmp_path: Path, watched: Site
) -> None:
    """setup, simulate, ingest, watch --once and issues list, each as its own process."""
    config = str(watched.config_path)
    steps = [
        ("setup", "-c", config),
        ("simulate", "-c", config, "--rate", "0", "--count", "500", "--incidents"),
        ("ingest", "-c", config, "--idle-exit", "3"),
        ("watch", "-c", config, "--once"),
        ("issues", "list", "-c", config, "--json"),
    ]
    done = {step[0]: run(installed, *step, cwd=tmp_path) for step in steps}

    for name, result in done.items():
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
    assert watched.count(watched.index("billing")) > 0
    assert isinstance(json.loads(done["issues"].stdout), list)


def test_analyze_without_the_spark_extra_says_how_to_install_it(
    installed: Path, tmp_path: Path
) -> None:
    done = run(
        installed,
        "analyze",
        "pool-history",
        "--archive",
        str(tmp_path),
        "--pool",
        "p",
        cwd=tmp_path,
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: esbridge analyze needs Apache Spark: pip install 'esbridge[spark]'"
    ]
