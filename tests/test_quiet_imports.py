"""nmslib's import-time banner (its wheel is built without SIMD) never reaches stderr, whoever
imports it through topictensor (queries, `serve`, the DAG's index task); anything else written
there during the import still does, and nmslib's Python logger is at WARNING."""

import os
import subprocess
import sys
import textwrap

BANNER = "Your CPU supports instructions that this binary was not compiled to use"


def _python(code, env=None, **kw):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, **kw)


def test_building_an_index_as_the_index_task_does_prints_no_banner():
    done = _python("""
        import logging
        import numpy as np
        from topictensor.search.index import HnswIndex
        index = HnswIndex.build(np.random.default_rng(0).standard_normal((200, 8)).astype("float32"), threads=1)
        rows, _ = index.search(np.ones(8, dtype="float32"), 5)
        assert len(rows) == 5
        print(logging.getLogger("nmslib").level == logging.WARNING)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert BANNER not in done.stderr and "NMSLIB" not in done.stderr


def test_the_filter_drops_only_the_banner(tmp_path):
    """A stand-in nmslib that writes the banner and another line to file descriptor 2 on import."""
    (tmp_path / "nmslib.py").write_text(textwrap.dedent(f"""
        import os
        os.write(2, b"{BANNER}: SSE3 AVX\\nFor maximum performance, you can install NMSLIB from sources \\n"
                    b"pip install --no-binary :all: nmslib\\nsomething the operator must see\\n")
    """))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = _python("""
        from topictensor.search.index import import_nmslib
        import sys
        module = import_nmslib()
        assert import_nmslib() is module
        print("after", file=sys.stderr)
    """, env=env)
    assert done.returncode == 0, done.stderr
    assert BANNER not in done.stderr and "no-binary" not in done.stderr
    assert done.stderr.splitlines()[-2:] == ["something the operator must see", "after"]
