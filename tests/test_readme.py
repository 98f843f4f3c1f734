from pathlib import Path

from directory.capabilities import MATRIX_COLUMNS, permission_matrix

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_the_readme_permission_matrix_is_the_one_the_code_enforces():
    header = "| Who | " + " | ".join(column.label for column in MATRIX_COLUMNS) + " |"
    assert header in README
    for label, cells in permission_matrix():
        row = f"| {label} | " + " | ".join("yes" if cell else "-" for cell in cells) + " |"
        assert row in README, f"README matrix row differs for {label}"


def test_the_readme_lists_every_environment_variable_the_settings_read():
    settings_source = (
        Path(__file__).resolve().parents[1] / "accessreviews/settings.py"
    ).read_text()
    import re

    variables = set(re.findall(r'env_\w+\("([A-Z_]+)"', settings_source))
    assert variables, "the settings read no variables?"
    missing = [name for name in sorted(variables) if f"`{name}`" not in README]
    assert missing == []
