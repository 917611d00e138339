"""Whether `esbridge setup` has run for a config: what ingest checks before it reads a message.

Without the write aliases, a bulk request with `require_alias` is refused and ingest would wait
forever; without `require_alias`, Elasticsearch would auto-create a plain index with dynamic
mappings in the alias's place, which setup then cannot turn into an alias. So ingest refuses to
start and names what is missing instead.
"""

from __future__ import annotations

from esbridge.cluster.search import SearchCluster
from esbridge.config import Config
from esbridge.setup.maintain import series_of, template_problem


def setup_problems(cluster: SearchCluster, config: Config) -> list[str]:
    """One line per write alias or index template of `config` that setup has not put in place."""
    problems: list[str] = []
    for series in series_of(config):
        problem = template_problem(cluster.get_index_template(series.template), series)
        if problem is not None:
            problems.append(problem)
        if cluster.get_alias(series.alias):
            continue
        if cluster.index_exists(series.alias):
            problems.append(
                f"{series.alias} is a plain index, not esbridge's write alias (auto-created by "
                "a write before setup?): move or delete it, then run esbridge setup"
            )
        else:
            problems.append(f"no write alias {series.alias}: run esbridge setup")
    return problems
