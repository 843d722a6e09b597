"""The README stays true: its configuration reference is the generated one; its commands exist."""

from pathlib import Path

from krakenbot.config.reference import BEGIN, END, reference_markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_config_reference_matches_models():
    start, stop = README.index(BEGIN), README.index(END) + len(END)
    assert README[start:stop] == reference_markdown(), (
        "README's configuration reference is stale: paste the output of `python run.py config reference`")


def test_readme_test_command_is_what_ci_runs():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "```bash\npython -m pytest\n```" in README
    assert "\npython -m pytest\n" in ci
    assert 'pip install --quiet -c constraints.txt -e ".[dev]"' in ci
    assert 'pip install -c constraints.txt -e ".[dev]"' in README
