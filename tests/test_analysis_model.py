"""analysis.json's typed model (harness.model.analysis): strict, and a faithful round trip."""

import json
from pathlib import Path

import pytest
from data.results_factory import write_results

from harness.analysis.analyze import analyze
from harness.errors import HarnessError
from harness.model.analysis import Analysis, read_analysis


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = write_results(tmp_path_factory.mktemp("model") / "run")
    analyze(folder)
    data = json.loads((folder / "analysis.json").read_text(encoding="utf-8"))
    data.pop("schema_version")
    return data


def test_a_written_analysis_json_round_trips_to_the_same_json(written):
    again = Analysis.from_dict(written).to_dict()
    assert again == written
    assert json.dumps(again, indent=2) == json.dumps(written, indent=2)  # key order too


def test_the_good_run_round_trips_and_reads_as_objects(good_run: Path):
    analysis = read_analysis(good_run)
    data = json.loads((good_run / "analysis.json").read_text(encoding="utf-8"))
    data.pop("schema_version")
    assert analysis.to_dict() == data
    assert analysis.contenders[0].wall.n >= 1


def test_an_extra_top_level_field_fails_with_one_line_naming_it(written):
    with pytest.raises(HarnessError) as err:
        Analysis.from_dict({**written, "x": 1})
    assert str(err.value) == (
        "analysis.json: unknown field 'x'; this harness's model (harness/model/analysis.py) "
        "lacks it"
    )


def test_an_extra_field_inside_a_contender_fails_naming_the_contender(written):
    contenders = [dict(c) for c in written["contenders"]]
    contenders[-1]["x"] = 1
    last = len(contenders) - 1
    with pytest.raises(HarnessError) as err:
        Analysis.from_dict({**written, "contenders": contenders})
    assert str(err.value) == (
        f"analysis.json: contenders[{last}]: unknown field 'x'; this harness's model "
        "(harness/model/analysis.py) lacks it"
    )
    assert "\n" not in str(err.value)


def test_a_missing_optional_field_loads_with_its_default(written):
    comparisons = [dict(c) for c in written["comparisons"]]
    del comparisons[0]["statistical_verdict"]
    del comparisons[0]["reference_health"]
    analysis = Analysis.from_dict({**written, "comparisons": comparisons})
    assert analysis.comparisons[0].statistical_verdict is None
    assert analysis.comparisons[0].reference_health == []


def test_a_missing_required_field_or_a_wrong_kind_is_named(written):
    without = {k: v for k, v in written.items() if k != "noise"}
    with pytest.raises(HarnessError, match=r"analysis\.json: noise: missing"):
        Analysis.from_dict(without)
    with pytest.raises(HarnessError, match=r"analysis\.json: has_metrics: expected bool"):
        Analysis.from_dict({**written, "has_metrics": "yes"})
