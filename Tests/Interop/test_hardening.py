"""Careless and hostile clients against a real importd: every refusal reaches the
client as a status it can read, in bounded size."""
import grpc
import pytest

from importd_client import bad_request_violations


def test_a_header_with_hundreds_of_unknown_columns_gets_a_bounded_status(importd):
    client = importd.client()
    header = "first_name,last_name,email," + ",".join("Unknown Column %d" % i for i in range(900))
    with pytest.raises(grpc.RpcError) as raised:
        client.upload((header + "\nA,B,a@example.org\n").encode(), timeout=20)
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.details().encode()) <= 1024
    assert error.details().startswith("the header row was refused: column \"Unknown Column 0\" maps to no contact field")
    violations = bad_request_violations(error)
    assert len(violations) == 20 and violations[0][0] == "Unknown Column 0"


def test_too_many_columns_and_a_giant_header_cell_are_refused(importd):
    client = importd.client()
    wide = "first_name,last_name,email," + ",".join("c%d" % i for i in range(3000))
    with pytest.raises(grpc.RpcError) as raised:
        client.upload((wide + "\nA,B,a@example.org\n").encode(), timeout=20)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "the header row has 3003 columns, more than the limit of 1000"
    giant = "first_name,last_name,email,%s\nA,B,a@example.org,1\n" % ("x" * 200_000)
    with pytest.raises(grpc.RpcError) as raised:
        client.upload(giant.encode(), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than the limit of 65536" in raised.value.details()


def test_error_exports_neutralize_formulas(importd):
    client = importd.client()
    job = client.upload(b'first_name,last_name,email\n"=HYPERLINK(""http://x"",""y"")",A,bad\n@SUM(1),B,bad2\n')
    done = client.wait(job.id)
    assert done.failed == 2
    text = client.errors_csv(job.id).decode()
    assert "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"" in text and "'@SUM(1)" in text
    assert "\n=" not in text and ",=" not in text and "\n@" not in text
