"""The fixtures work end to end: init, unseal, an authenticated call, bao status."""


def test_fixture_server_is_unsealed_and_root_works(server):
    status, body, headers = server.root("GET", "/v1/sys/mounts")
    assert status == 200 and "sys/" in body["data"]
    assert headers["Cache-Control"] == "no-store"


def test_bao_status_against_it(server):
    out = server.bao("status", "-format=json")
    assert out.returncode == 0, out.stderr
    assert '"sealed": false' in out.stdout
