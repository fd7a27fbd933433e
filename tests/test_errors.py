from edgepress.errors import BadInputError, DataError, EdgepressError, RuntimeFailure, unknown_name


def test_bad_input_exits_2_and_job_failures_exit_1():
    assert BadInputError.exit_code == 2 and DataError.exit_code == 2
    assert EdgepressError.exit_code == 1 and RuntimeFailure.exit_code == 1


def test_unknown_name_lists_known_and_suggests():
    message = str(unknown_name("target", "host-cpy", ["host-cpu", "gpu"]))
    assert "did you mean 'host-cpu'" in message and "known: gpu, host-cpu" in message


def test_unknown_name_without_close_match_has_no_suggestion():
    assert "did you mean" not in str(unknown_name("format", "zzzz", ["onnx"]))
