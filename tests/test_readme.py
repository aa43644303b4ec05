"""The README's two commands stay true: CI runs the test command verbatim, and the usage
example runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def commands() -> list[str]:
    return re.findall(r"```\n(python3 -m venv .*?)\n```", README)


def test_readme_has_exactly_two_setup_commands() -> None:
    main_job, tests = commands()
    assert "aha conform" in main_job and "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    assert commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_usage_example_runs() -> None:
    example = re.search(r"```python\n(.*?)```", README, re.S)
    assert example is not None
    exec(compile(example.group(1), "README.md", "exec"), {})
