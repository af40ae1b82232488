"""Importing the configuration loads no heavy library: ``topictensor.config`` imports
``topictensor.search.params``, and the ``topictensor.search`` package re-exports its names lazily,
so reading a config (every Airflow task's first step, the DAG file's parse) pulls in neither
pyarrow, numpy, pandas nor the ANN library; the query-side names still import from the package."""

import subprocess
import sys
import textwrap

HEAVY = ("pyarrow", "numpy", "pandas", "scipy", "nmslib", "topictensor.search.model", "topictensor.search.bloggers")


def _loaded_after(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        print(",".join(m for m in {HEAVY!r} if m in sys.modules))
    """)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [m for m in done.stdout.strip().split(",") if m]


def test_importing_the_config_loads_no_pyarrow_numpy_or_index_library():
    assert _loaded_after("import topictensor.config; topictensor.config.PipelineConfig()") == []


def test_the_search_sections_config_is_light_too():
    assert _loaded_after("from topictensor.search import SearchConfig; SearchConfig()") == []


def test_the_query_side_names_still_import_from_the_package():
    loaded = _loaded_after("""
        from topictensor.search import SearchModel, Filters, QueryError
        from topictensor.search.model import SearchModel as defined
        assert SearchModel is defined and Filters.__module__ == "topictensor.search.bloggers"
    """)
    assert "pyarrow" in loaded and "topictensor.search.model" in loaded  # loaded on first use
