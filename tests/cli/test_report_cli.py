from tests.report.conftest import report_results  # noqa: F401  (the fixture, shared with the report tests)


def test_report_command_writes_html_md_csv(cli, report_results, tmp_path):
    done = cli("report", report_results, "--html", tmp_path / "r.html", "--md", tmp_path / "r.md", "--csv", tmp_path / "r.csv")
    assert done.returncode == 0, done.stderr
    assert "report: " in done.stdout and (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "r.md").exists() and (tmp_path / "r.csv").exists()


def test_report_of_a_missing_file_exits_2(cli, tmp_path):
    done = cli("report", tmp_path / "nope.json", "--html", tmp_path / "r.html")
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_sweep_bad_grid_exits_2(cli, tmp_path):
    (tmp_path / "g.toml").write_text('formats = ["onx"]\ntargets = ["host-cpu"]\n[model]\nbuiltin = "digits"\n[[recipe]]\nname = "a"\n')
    done = cli("sweep", tmp_path / "g.toml")
    assert done.returncode == 2 and "did you mean 'onnx'" in done.stderr
