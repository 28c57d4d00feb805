"""Claims checked as users write them: family names resolved by the row's figures, numbers in
any notation, every mistake in the file named by line and column, one sign convention."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.spec import SpecError
from zoo.verify import check_claims, check_reported, read_claims

LECTURE = Path(__file__).parent / "data" / "lecture.csv"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_lecture_table_has_exactly_one_wrong_claim():
    """'GPT-2, 48 layers, d_model 1600, d_ff 1600, 1.5B' is the largest GPT-2 with a wrong d_ff;
    read as the hub's 124M `gpt2` it would look like four wrong claims."""
    report = check_claims(LECTURE)
    models = {row.row.name: row.model for row in report.rows}
    assert models == {"GPT": "openai-gpt", "GPT-2": "gpt2-xl", "GPT-3": "gpt3-175b",
                      "BLOOM": "bloom-176b"}
    [wrong] = report.wrong
    assert (wrong.claim.field, wrong.claim.value, wrong.zoo, wrong.difference) == \
        ("d_ff", 1600, 6400, -4800)
    assert wrong.claim.line == 3 and wrong.claim.column == 6
    gpt2 = next(row for row in report.rows if row.row.name == "GPT-2").resolution
    assert gpt2.family == "gpt2" and gpt2.considered == ("gpt2", "gpt2-medium", "gpt2-large",
                                                         "gpt2-xl")
    assert "3 of 4 claims" in gpt2.why


def test_lecture_table_on_the_command_line(capsys):
    assert main(["verify", "--claims", str(LECTURE)]) == 1
    out = capsys.readouterr().out
    assert "18 of 19 claims hold; 1 wrong" in out
    assert "GPT-2 (line 3) -> gpt2-xl" in out and "considered gpt2, gpt2-medium" in out
    assert main(["verify", "--claims", str(LECTURE), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    d_ff = next(c for c in data["claims"] if c["name"] == "GPT-2" and c["field"] == "d_ff")
    assert d_ff == {"name": "GPT-2", "model": "gpt2-xl", "field": "d_ff", "heading": "d_ff",
                    "written": "1600", "claimed": 1600, "zoo": 6400, "difference": -4800,
                    "relative_difference": -0.75, "verdict": "WRONG", "line": 3, "column": 6}
    params = next(c for c in data["claims"] if c["name"] == "GPT-3" and c["field"] == "params")
    assert params["zoo"] == 174_604_259_328 and params["difference"] == 395_740_672
    assert data["wrong"] == 1 and data["hold"] == 18 and data["unresolved_rows"] == 0


def test_family_names_that_fit_no_member_or_several_say_what_was_considered(tmp_path):
    path = write(tmp_path, "c.yaml", "- {name: OPT, layers: 7}\n"
                                     "- {name: LLaMA, layers: 32, d_model: 4096}\n"
                                     "- {name: Llama-2-70B, layers: 80}\n")
    report = check_claims(path)
    none, several, direct = (row.resolution for row in report.rows)
    assert none.spec is None and "no member of family opt agrees" in none.why
    assert none.considered[:2] == ("opt-125m", "opt-350m") and len(none.considered) == 9
    assert several.spec is None and "each agree with 2 of 2 claims" in several.why
    assert {"llama-7b", "llama-2-7b"} == set(several.why.split(" each")[0].split(" and "))
    assert "llama-2-70b" in several.considered
    assert direct.spec.name == "llama-2-70b" and direct.family is None  # a model's own name
    assert [c.verdict for c in report.checks] == ["unresolved", "unresolved", "unresolved", "ok"]
    assert report.failed


def test_a_family_name_that_is_also_a_model_name_falls_back_to_that_model(tmp_path):
    """'gpt2' is the family and the hub's 124M model: the row's figures choose when they can;
    when they fit no member (or the named one among several), the name means that model."""
    path = write(tmp_path, "c.yaml", "- {name: gpt2, params: 117M}\n"
                                     "- {name: GPT-3, vocab: 50257}\n"
                                     "- {name: gpt2, layers: 36}\n")
    first, second, third = check_claims(path).rows
    assert first.model == "gpt2" and "no member of family gpt2" in first.resolution.why
    assert [c.verdict for c in first.checks] == ["WRONG"]  # 117M is 6% below 124.4M
    assert second.model == "gpt3-175b" and "registry's name for gpt3-175b" in \
        second.resolution.why and len(second.resolution.considered) == 8
    assert third.model == "gpt2-large"


def test_unknown_model_is_unresolved_with_suggestions(tmp_path):
    report = check_claims(write(tmp_path, "c.yaml", "- {name: gpt2-xxl, layers: 48}\n"))
    [row] = report.rows
    assert row.model is None and "did you mean" in row.resolution.why


@pytest.mark.parametrize("written", ["1.5B", "1,542M", "1.17e8", "1542000000", "1.5 billion"])
def test_numbers_in_any_usual_notation(tmp_path, written):
    path = write(tmp_path, "c.csv", f'name,params\ngpt2-xl,"{written}"\n')
    [check] = check_claims(path, tolerance=1.0).checks
    assert check.claim.written == written and check.claim.value > 10**8


@pytest.mark.parametrize(("text", "where", "what"), [
    ('name,layers,d_ff\ngpt2,12,-12\n', "c.csv:2", "column 3: claimed d_ff '-12': a count "
                                                    "cannot be negative"),
    ('name,layers\ngpt2,twelve\n', "c.csv:2", "column 2: claimed layers 'twelve'"),
    ('name,layers\ngpt2,12,3072\n', "c.csv:2", "3 cells, but the header names 2 columns"),
    ('name,layerz\ngpt2,12\n', "c.csv:2", "column 2: unknown claim column 'layerz' (did you "
                                         "mean 'layers'?)"),
    ('name,layers,n_layer\ngpt2,12,12\n', "c.csv:2", "claims n_layer a second time"),
    ("name,layers\ngpt2," + "9" * 200_000 + "\n", "c.csv:2", "not a CSV file: field larger"),
])
def test_csv_mistakes_name_file_line_and_column(tmp_path, text, where, what):
    path = write(tmp_path, "c.csv", text)
    with pytest.raises(SpecError) as info:
        read_claims(path)
    assert str(info.value).startswith(str(tmp_path / where)) and what in str(info.value)


def test_yaml_mistakes_name_line_and_column(tmp_path):
    path = write(tmp_path, "c.yaml", "- {name: gpt2, layers: 12}\n- {name: gpt2, d_ff: -3072}\n")
    with pytest.raises(SpecError, match=r"c\.yaml:2: column 22: claimed d_ff -3072: a count "
                                        r"cannot be negative"):
        read_claims(path)
    path = write(tmp_path, "d.yaml", "gpt2-xl:\n  layers: 48\n  params: 1.5Q\n")
    with pytest.raises(SpecError, match=r"d\.yaml:3: column 11: claimed params '1.5Q'"):
        read_claims(path)


def test_mapping_form(tmp_path):
    report = check_claims(write(tmp_path, "c.yaml", "gpt2-xl: 1.5B\ngpt2: {heads: 12}\n"))
    assert [(row.model, [c.verdict for c in row.checks]) for row in report.rows] == \
        [("gpt2-xl", ["ok"]), ("gpt2", ["ok"])]


@pytest.mark.parametrize("name", ["missing.csv", "missing.yaml"])
def test_missing_claims_file_is_called_a_claims_file(tmp_path, name):
    with pytest.raises(SpecError, match="cannot read claims file"):
        read_claims(tmp_path / name)


def test_one_sign_convention_for_reported_figures_and_claims(tmp_path, capsys):
    """Both say stated minus exact: GPT-2's 117M is below its 124,439,808 parameters."""
    reported = check_reported(__import__("zoo").get_spec("gpt2"))
    [claim] = check_claims(write(tmp_path, "c.yaml", "- {name: gpt2, params: 117M}\n")).checks
    assert reported.difference == claim.difference == 117_000_000 - 124_439_808
    assert reported.relative_difference == claim.relative_difference < 0
    assert main(["verify", "gpt2", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["difference"] == -7_439_808 and row["resolved"]["name"] == "gpt2"
