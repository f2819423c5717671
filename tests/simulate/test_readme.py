"""The README's "Your own model" and "Python API" sections work as written: every code block runs, in order, in a
folder holding the files they name (my_net.py, my_net.pth, my_images/); and `cosim.simulate`'s docstring example
runs as a doctest."""

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.simulate.user_files import write_user_files

README = Path(__file__).resolve().parents[2] / "README.md"


def section_blocks(title: str) -> list[tuple[str, str]]:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    body = text[start:end if end > 0 else None]
    return re.findall(r"```(\w+)\n(.*?)```", body, flags=re.S)


def run_blocks(blocks, cwd: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(cwd))
    for lang, code in blocks:
        if lang == "python":
            cmd = [sys.executable, "-c", code]
        else:
            assert lang == "sh", lang
            cmd = ["bash", "-euo", "pipefail", "-c", code]
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{lang} block failed:\n{code}\n{r.stdout}\n{r.stderr}"


def test_readme_own_model_section_runs_as_written(tmp_path):
    write_user_files(tmp_path)
    blocks = section_blocks("Your own model")
    assert [lang for lang, _ in blocks] == ["sh", "python", "sh"]
    assert all(5 <= len(code.strip().splitlines()) <= 10 for code in (blocks[0][1] + blocks[1][1],
                                                                        blocks[1][1] + blocks[2][1]))
    run_blocks(blocks, tmp_path)
    assert (tmp_path / "out/my_net/report.json").is_file() and (tmp_path / "out/my_net_pt2/report.json").is_file()


def test_readme_python_api_section_runs_as_written(tmp_path):
    write_user_files(tmp_path)
    blocks = section_blocks("Python API")
    assert blocks and all(lang == "python" for lang, _ in blocks)
    run_blocks(blocks, tmp_path)
    assert (tmp_path / "out/my_net_api/report.json").is_file()


def test_simulate_docstring_example():
    import cosim.simulate

    finder = doctest.DocTestFinder()
    tests = [t for t in finder.find(cosim.simulate.simulate, "simulate", globs={}) if t.examples]
    assert tests
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for t in tests:
        runner.run(t)
    assert runner.summarize(verbose=False).failed == 0
