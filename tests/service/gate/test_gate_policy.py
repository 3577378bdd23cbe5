"""Gate policies: valid files load, and every kind of mistake names its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.gate.policy import Flagged, GatePolicy, GatePolicyError, load_policy

EXAMPLE_TOML = """\
flagged = "review"            # or "remove": which decisions count as flagged
max_rejected_share = 0.01

[overall]
max_flagged_share = 0.05

[kinds.benchmark]
max_flagged_share = 0.0
max_risk = 0.8

[kinds.copyright]
max_flagged_share = 0.001
flagged = "remove"

[corpora."gsm8k-test"]
zero_tolerance = true
"""

EXAMPLE_YAML = """\
flagged: review
max_rejected_share: 0.01
overall:
  max_flagged_share: 0.05
kinds:
  benchmark:
    max_flagged_share: 0.0
    max_risk: 0.8
  copyright:
    max_flagged_share: 0.001
    flagged: remove
corpora:
  gsm8k-test:
    zero_tolerance: true
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text"), [("gate.toml", EXAMPLE_TOML), ("gate.yaml", EXAMPLE_YAML)]
)
def test_example_policy_loads_the_same_from_toml_and_yaml(tmp_path, name, text):
    policy = load_policy(write(tmp_path, name, text))

    assert policy.flagged is Flagged.REVIEW
    assert policy.max_rejected_share == 0.01
    assert policy.kinds.benchmark.max_risk == 0.8
    assert policy.flagged_for(policy.kinds.copyright) is Flagged.REMOVE
    assert policy.flagged_for(policy.kinds.benchmark) is Flagged.REVIEW
    assert policy.corpora["gsm8k-test"].zero_tolerance is True
    assert [name for name, _ in policy.scopes()] == [
        "overall",
        "kinds.benchmark",
        "kinds.copyright",
        "corpora.gsm8k-test",
    ]


def test_defaults_count_review_as_flagged_and_tolerate_no_rejects():
    policy = GatePolicy.from_dict({})
    assert policy.flagged is Flagged.REVIEW
    assert policy.max_rejected_share == 0.0
    assert Flagged.REVIEW.includes("review") and Flagged.REVIEW.includes("remove")
    assert not Flagged.REMOVE.includes("review") and Flagged.REMOVE.includes("remove")
    assert not Flagged.REVIEW.includes("keep") and not Flagged.REVIEW.includes(None)


def error_for(tmp_path: Path, name: str, text: str) -> GatePolicyError:
    with pytest.raises(GatePolicyError) as caught:
        load_policy(write(tmp_path, name, text))
    return caught.value


def test_toml_syntax_error_names_the_line(tmp_path):
    text = EXAMPLE_TOML.replace("max_risk = 0.8", "max_risk = = 0.8")
    error = error_for(tmp_path, "gate.toml", text)
    assert error.line == 9
    assert "TOML syntax error" in error.message
    assert str(error).startswith(f"{tmp_path / 'gate.toml'}:9: ")


def test_yaml_syntax_error_names_the_line(tmp_path):
    text = EXAMPLE_YAML.replace("    max_risk: 0.8", "    max_risk: [0.8")
    error = error_for(tmp_path, "gate.yaml", text)
    assert error.line is not None and error.line >= 8
    assert "YAML syntax error" in error.message


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        # unknown keys, at every level
        (
            "gate.toml",
            EXAMPLE_TOML.replace("max_risk = 0.8", "max_rsik = 0.8"),
            9,
            ["unknown key 'kinds.benchmark.max_rsik'", "max_risk"],
        ),
        (
            "gate.toml",
            EXAMPLE_TOML.replace("[kinds.copyright]", "[kinds.copyrights]"),
            11,
            ["unknown key 'kinds.copyrights'", "benchmark and copyright"],
        ),
        (
            "gate.toml",
            EXAMPLE_TOML.replace('flagged = "review"', 'flaged = "review"'),
            1,
            ["unknown key 'flaged'"],
        ),
        (
            "gate.yaml",
            EXAMPLE_YAML.replace("    max_risk: 0.8", "    max_rsik: 0.8"),
            8,
            ["unknown key 'kinds.benchmark.max_rsik'"],
        ),
        # wrong types: no silent coercion of strings or integers-as-booleans
        (
            "gate.toml",
            EXAMPLE_TOML.replace("max_risk = 0.8", 'max_risk = "0.8"'),
            9,
            ["kinds.benchmark.max_risk", "valid number", "'0.8'"],
        ),
        (
            "gate.toml",
            EXAMPLE_TOML.replace("zero_tolerance = true", "zero_tolerance = 1"),
            16,
            ["corpora.gsm8k-test.zero_tolerance", "valid boolean"],
        ),
        (
            "gate.yaml",
            EXAMPLE_YAML.replace("zero_tolerance: true", "zero_tolerance: yes please"),
            14,
            ["corpora.gsm8k-test.zero_tolerance", "valid boolean"],
        ),
        (
            "gate.toml",
            EXAMPLE_TOML.replace('flagged = "remove"', 'flagged = "keep"'),
            13,
            ["kinds.copyright.flagged", "'review' or 'remove'", "'keep'"],
        ),
        # out of range
        (
            "gate.toml",
            EXAMPLE_TOML.replace("max_risk = 0.8", "max_risk = 1.5"),
            9,
            ["kinds.benchmark.max_risk", "less than or equal to 1", "1.5"],
        ),
        (
            "gate.yaml",
            EXAMPLE_YAML.replace("max_rejected_share: 0.01", "max_rejected_share: -0.1"),
            2,
            ["max_rejected_share", "greater than or equal to 0"],
        ),
        # a table that sets nothing is a mistake, not a rule
        (
            "gate.toml",
            '[corpora."mmlu-test"]\nflagged = "remove"\n',
            1,
            ["corpora.mmlu-test", "sets no rule"],
        ),
        (
            "gate.toml",
            '[corpora."mmlu-test"]\nmax_risk = 0.5\nzero_tolerance_min_risk = 0.3\n',
            1,
            ["corpora.mmlu-test", "only applies with zero_tolerance = true"],
        ),
    ],
)
def test_semantic_errors_name_the_key_and_its_line(tmp_path, name, text, line, words):
    error = error_for(tmp_path, name, text)
    assert error.line == line, error
    for word in words:
        assert word in error.message, error


def test_policy_that_is_not_a_table_is_refused(tmp_path):
    error = error_for(tmp_path, "gate.yaml", "- max_risk: 0.5\n")
    assert "table of settings" in error.message


def test_unknown_extension_and_missing_file_are_policy_errors(tmp_path):
    assert "must be a .toml, .yaml or .yml" in error_for(tmp_path, "gate.json", "{}").message
    with pytest.raises(GatePolicyError, match="cannot read the policy"):
        load_policy(tmp_path / "absent.toml")


def test_corpus_not_in_the_index_is_refused_with_its_line(tmp_path):
    policy = load_policy(
        write(tmp_path, "gate.toml", EXAMPLE_TOML.replace("gsm8k-test", "gsm8k-tset"))
    )
    policy.check_corpora(["gsm8k-tset", "mmlu-test"])  # present: fine
    with pytest.raises(GatePolicyError) as caught:
        policy.check_corpora(["gsm8k-test", "mmlu-test"])
    assert caught.value.line == 15
    assert "no corpus 'gsm8k-tset'" in caught.value.message
    assert "gsm8k-test, mmlu-test" in caught.value.message
