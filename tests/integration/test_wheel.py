"""The release artefacts, built once by scripts/build-wheels.sh (the sdist, and from it the
manylinux_2_17 wheels for x86_64 and aarch64): the x86_64 wheel, installed into a fresh
virtualenv outside the checkout, runs every command that reads package data, from a folder that
is not the checkout, on the native engine; the aarch64 one, which cannot run here, is checked
from its bytes (tests/helpers/wheels.py). A build without cargo gives the pure-Python esbridge.

This is what a site install does (and what pipelines/systemd/ assumes); an editable install
would hide a file that the wheel forgot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from esbridge import __version__
from tests.helpers.paths import EXAMPLE_CONFIG, KIBANA_OBJECTS, LOGSTASH_DIR, REPO
from tests.helpers.sites import Site
from tests.helpers.wheels import extension, wheel_tags

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder scripts/build-wheels.sh filled: the sdist and both manylinux wheels."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        ["bash", str(REPO / "scripts" / "build-wheels.sh")],
        check=True,
        cwd=REPO,
        env={**os.environ, "ESBRIDGE_DIST": str(out), "ESBRIDGE_WHEEL_ARCHES": "x86_64 aarch64"},
        stdout=subprocess.DEVNULL,
    )
    yield out
    shutil.rmtree(out, ignore_errors=True)


def wheel_for(dist: Path, arch: str) -> Path:
    (wheel,) = dist.glob(f"esbridge-{__version__}-cp311-abi3-*manylinux_2_17_{arch}*.whl")
    return wheel


def install(wheel: Path, root: Path) -> Path:
    """A fresh virtualenv under root with only the wheel and its deps; its `esbridge` script."""
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, str(wheel)], check=True, cwd=root, env=_outside_env())
    return env_dir / "bin" / "esbridge"


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `esbridge` script of a fresh virtualenv that has only the x86_64 wheel and its deps."""
    root = tmp_path_factory.mktemp("wheel")
    yield install(wheel_for(dist, "x86_64"), root)
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
    # No ingest.engine in the config: the wheel's extension makes native the default.
    assert "ingest engine: native for billing" in done["ingest"].stderr
    assert "runtime: gc thresholds 100000/50/1000" in done["ingest"].stderr
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


def test_the_sdist_carries_the_rust_source_of_the_extension(dist: Path) -> None:
    with tarfile.open(dist / f"esbridge-{__version__}.tar.gz") as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}

    expected = {"native/Cargo.toml", "native/Cargo.lock"} | {
        f"native/src/{path.name}" for path in (REPO / "native" / "src").glob("*.rs")
    }
    assert expected <= names
    assert not any(name.startswith("native/target") for name in names)


@pytest.mark.parametrize(("arch", "machine"), [("x86_64", "EM_X86_64"), ("aarch64", "EM_AARCH64")])
def test_each_wheel_is_manylinux2014_abi3_with_the_extension_for_its_machine(
    dist: Path, arch: str, machine: str
) -> None:
    wheel = wheel_for(dist, arch)

    found = extension(wheel)

    assert found.machine == machine
    assert found.glibc <= (2, 17)
    assert set(found.needed) <= {
        "libc.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "libm.so.6",
        "ld-linux-x86-64.so.2",
    }
    assert f"cp311-abi3-manylinux_2_17_{arch}" in wheel_tags(wheel)
    assert f"cp311-abi3-manylinux2014_{arch}" in wheel_tags(wheel)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_auditwheel_reads_each_wheel_as_manylinux_2_17(dist: Path, arch: str) -> None:
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "auditwheel"), "show", str(wheel_for(dist, arch))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert f'consistent with the following platform tag:\n"manylinux_2_17_{arch}"' in shown


def test_the_installed_wheel_imports_its_native_extension_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    python = installed.parent / "python"
    found = subprocess.run(
        [str(python), "-c", "import esbridge._native as n; print(n.__file__)"],
        cwd=tmp_path,
        env=_outside_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert Path(found).name == "_native.abi3.so"
    assert Path(found).is_relative_to(installed.parent.parent)


def test_the_sdist_without_cargo_installs_the_pure_python_esbridge(
    dist: Path, tmp_path: Path
) -> None:
    """`pip install esbridge` from source where no Rust toolchain is on PATH: setuptools-rust
    skips the optional extension and esbridge still installs and runs. (The sdist, not the
    checkout: a checkout's build/ may hold an extension an earlier build left there.)"""
    no_rust = os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "cargo").exists()
    )
    env = {k: v for k, v in _outside_env(PATH=no_rust).items() if k not in ("CARGO", "RUSTC")}
    assert shutil.which("cargo", path=no_rust) is None
    sdist = dist / f"esbridge-{__version__}.tar.gz"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", "dist", str(sdist)],
        check=True,
        cwd=tmp_path,
        env=env,
    )
    (wheel,) = (tmp_path / "dist").glob("esbridge-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert not any("_native" in name and name.endswith(".so") for name in archive.namelist())
    script = install(wheel, tmp_path)

    helped = run(script, "--help", cwd=tmp_path)
    engine = subprocess.run(
        [
            str(script.parent / "python"),
            "-c",
            "from esbridge.ingest.engine import native_module; print(native_module())",
        ],
        cwd=tmp_path,
        env=_outside_env(),
        capture_output=True,
        text=True,
        check=True,
    )

    assert helped.returncode == 0, helped.stderr
    assert "  ingest " in helped.stdout
    assert engine.stdout.strip() == "None"
