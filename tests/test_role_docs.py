"""Every role documents every variable: defaults/main.yml, meta/argument_specs.yml
and the README's variable table agree on names and defaults.

Generic over roles/*: a new role is covered as soon as it exists.
"""

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[1] / "roles").iterdir() if p.is_dir())


def load_yaml(path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


def split_row(line):
    """Cells of a markdown table row; a | inside `code` is not a separator."""
    cells, cell, in_code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    cells.append(cell.strip())
    return cells


def readme_table(readme):
    """{name: default} from the README table whose header starts with Variable."""
    rows, in_table = {}, False
    for line in readme.read_text().splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = split_row(line)
        if cells[0] == "Variable":
            in_table = True
            continue
        if not in_table or set(cells[0]) <= set("-: "):
            continue
        assert len(cells) == 3, f"{readme}: a row needs name | default | description: {line}"
        name, default = cells[0].strip("`"), cells[1]
        rows[name] = parse_default(default)
    return rows


REQUIRED = object()


def parse_default(cell):
    """A default cell is `value` in YAML; text that YAML reads differently
    (templates like `{{ role_path }}/x`) is compared as written. A required
    option without a default says "required"."""
    text = cell.strip()
    if text == "required":
        return REQUIRED
    assert text.startswith("`") and text.endswith("`"), f"default not in backticks: {cell}"
    # GitHub's tables need a | escaped even inside code.
    text = text[1:-1].replace("\\|", "|")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if isinstance(value, dict) and "{{" in text else value


def spec_options(role, entry_points=None):
    """Options of the role's entry points (all of them unless named)."""
    specs = (load_yaml(role / "meta" / "argument_specs.yml") or {}).get("argument_specs") or {}
    options = {}
    for name, entry_point in specs.items():
        if entry_points is None or name in entry_points:
            options.update((entry_point or {}).get("options") or {})
    return options


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_default_has_an_argument_spec(role):
    defaults = load_yaml(role / "defaults" / "main.yml") or {}
    options = spec_options(role, ["main"])
    missing = sorted(set(defaults) - set(options))
    assert not missing, f"{role.name}: defaults/main.yml variables without an argument spec: {missing}"
    for name, value in defaults.items():
        assert options[name].get("default") == value, (
            f"{role.name}: {name} defaults to {value!r} in defaults/main.yml "
            f"but to {options[name].get('default')!r} in meta/argument_specs.yml")


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_every_argument_spec_has_type_and_description(role):
    for name, option in spec_options(role).items():
        assert option.get("type"), f"{role.name}: {name} has no type"
        description = option.get("description")
        if isinstance(description, list):
            description = " ".join(description)
        assert description and description.strip(), f"{role.name}: {name} has no description"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_readme_table_matches_argument_specs(role):
    readme = role / "README.md"
    assert readme.exists(), f"{role.name} has no README.md"
    table = readme_table(readme)
    options = spec_options(role)
    assert table, f"{readme}: no variable table (header: | Variable | Default | Description |)"
    assert sorted(table) == sorted(options), (
        f"{role.name}: README table and argument_specs name different variables: "
        f"only in README {sorted(set(table) - set(options))}, "
        f"only in argument_specs {sorted(set(options) - set(table))}")
    for name, option in options.items():
        expected = REQUIRED if option.get("required") and "default" not in option else option.get("default")
        assert table[name] == expected, (
            f"{role.name}: README says {name} defaults to {table[name]!r}, "
            f"argument_specs says {option.get('default')!r}")
