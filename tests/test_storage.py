"""Object storage through fsspec: listing, reading, errors without credentials.

Against a real S3 endpoint on loopback (moto's server, the ``s3_endpoint``
fixture), a local directory through ``file://``, and a small fsspec filesystem
defined here whose errors repeat the credentials it was given (as a careless
backend might): our messages must not.
"""

from __future__ import annotations

import json

import pytest

from gctrace_nb import _storage as storage
from gctrace_nb.errors import StorageError

SUFFIXES = (".json", ".ndjson", ".jsonl")


def test_is_url_tells_urls_from_paths():
    for url in ("s3://b/k", "gs://b/k", "az://c/k", "abfs://c@a.dfs.core.windows.net/k", "https://h/a.json",
                "file:///tmp/x", "memory://x"):
        assert storage.is_url(url), url
    for path in ("traces/a.json", "/tmp/a.json", "C:\\traces\\a.json", "c:/x", "a.json", "", "s3:/b"):
        assert not storage.is_url(path), path


def test_prefix_glob_and_single_object_listing(s3_endpoint, s3_bucket):
    bucket, fs = s3_bucket
    for key in ("pre/b.json", "pre/a.json", "pre/sub/c.ndjson", "pre/notes.txt", "pre/D.JSON", "other/x.json"):
        fs.pipe(f"{bucket}/{key}", b"[]")
    listed = storage.expand_url(f"s3://{bucket}/pre/", SUFFIXES, s3_endpoint)
    assert [u for u, _ in listed] == [f"s3://{bucket}/pre/{k}" for k in ("D.JSON", "a.json", "b.json", "sub/c.ndjson")]
    assert all(size == 2 for _, size in listed)
    # without the trailing slash the prefix is still a "directory"
    assert storage.expand_url(f"s3://{bucket}/pre", SUFFIXES, s3_endpoint) == listed
    globbed = storage.expand_url(f"s3://{bucket}/pre/*.json", SUFFIXES, s3_endpoint)
    assert [u for u, _ in globbed] == [f"s3://{bucket}/pre/a.json", f"s3://{bucket}/pre/b.json"]
    # one object (existing or not) is kept as given: reading it says what is wrong
    assert storage.expand_url(f"s3://{bucket}/pre/zz.json", SUFFIXES, s3_endpoint) == [
        (f"s3://{bucket}/pre/zz.json", None)]


def test_read_many_returns_data_and_errors_in_order(s3_endpoint, s3_bucket):
    bucket, fs = s3_bucket
    for i in range(5):
        fs.pipe(f"{bucket}/t{i}.json", json.dumps([{"nodeId": f"n{i}"}]).encode())
    urls = [(f"s3://{bucket}/t{i}.json", None) for i in (3, 0, 9, 4)] + [("s3://no-such-bucket-here/x.json", None)]
    got = list(storage.read_many(urls, s3_endpoint))
    assert [u for u, _ in got] == [u for u, _ in urls]
    assert json.loads(got[0][1]) == [{"nodeId": "n3"}] and json.loads(got[1][1]) == [{"nodeId": "n0"}]
    missing, no_bucket = got[2][1], got[4][1]
    assert isinstance(missing, StorageError) and str(missing) == f"s3://{bucket}/t9.json: no such object"
    assert isinstance(no_bucket, StorageError) and "bucket does not exist" in str(no_bucket)


def test_read_many_in_small_batches(s3_endpoint, s3_bucket, monkeypatch):
    bucket, fs = s3_bucket
    for i in range(7):
        fs.pipe(f"{bucket}/t{i}.json", b"[%d]" % i)
    monkeypatch.setattr(storage, "_BATCH_FILES", 3)
    got = list(storage.read_many([(f"s3://{bucket}/t{i}.json", None) for i in range(7)], s3_endpoint))
    assert [json.loads(d) for _, d in got] == [[i] for i in range(7)]


def test_listing_a_missing_bucket_names_the_url_not_the_secret(s3_endpoint):
    with pytest.raises(StorageError) as info:
        storage.expand_url("s3://no-such-bucket-at-all/traces/", SUFFIXES, s3_endpoint)
    text = str(info.value)
    assert text.startswith("s3://no-such-bucket-at-all/traces/: ") and "bucket does not exist" in text
    assert s3_endpoint["secret"] not in text and s3_endpoint["key"] not in text
    assert isinstance(info.value, OSError)


def test_unreachable_endpoint_with_user_info_is_redacted():
    options = {"endpoint_url": "http://admin:hunter2-pass@127.0.0.1:9", "key": "k-id-123", "secret": "s-val-456",
               "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}
    with pytest.raises(StorageError) as info:
        storage.read_bytes("s3://bucket/a.json", options)
    text = str(info.value)
    assert text.startswith("s3://bucket/a.json: ")
    for secret in ("hunter2-pass", "admin:", "k-id-123", "s-val-456"):
        assert secret not in text, text


def test_environment_credentials_are_used_and_scrubbed(s3_endpoint, s3_bucket, monkeypatch):
    """s3fs (botocore) reads AWS_* variables: no storage_options at all."""
    bucket, fs = s3_bucket
    fs.pipe(f"{bucket}/a.json", b"[1]")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint["endpoint_url"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key-id-789")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-012")
    assert storage.read_bytes(f"s3://{bucket}/a.json") == b"[1]"
    assert storage.scrub("failed with env-secret-012 and env-key-id-789") == "failed with [REDACTED] and [REDACTED]"


@pytest.fixture
def leaky_protocol():
    """An fsspec filesystem whose errors repeat its token, and a URL with a SAS-style query."""
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    class Leaky(MemoryFileSystem):
        protocol = "leaky"
        cachable = False

        def __init__(self, token=None, **kwargs):
            super().__init__(**kwargs)
            self.token = token

        def cat_file(self, path, start=None, end=None, **kwargs):
            raise PermissionError(f"token {self.token} may not read {path}")

        def find(self, path, **kwargs):
            raise RuntimeError(f"listing refused for token={self.token}")

    fsspec.register_implementation("leaky", Leaky, clobber=True)
    yield "leaky"


def test_backend_errors_lose_the_credentials(leaky_protocol):
    options = {"token": "tok-SECRET-42", "client_kwargs": {"session_token": "nested-SECRET-7"}}
    with pytest.raises(StorageError) as info:
        storage.read_bytes("leaky://box/a.json", options)
    text = str(info.value)
    assert text.startswith("leaky://box/a.json: access denied (token [REDACTED] may not read ") and "SECRET" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__  # the backend's text is not chained
    [(url, err)] = list(storage.read_many([("leaky://box/b.json", None)], options))
    assert isinstance(err, StorageError) and "tok-SECRET-42" not in str(err)
    with pytest.raises(StorageError) as listing:
        storage.expand_url("leaky://box/", SUFFIXES, options)
    assert "tok-SECRET-42" not in str(listing.value) and "[REDACTED]" in str(listing.value)


def test_signed_urls_are_redacted():
    url = "https://acct.blob.core.windows.net/c/a.json?sv=2024&sig=SECRETSIG&se=2030&sp=r"
    assert "SECRETSIG" not in storage.redact_url(url)
    assert storage.redact_url("https://u:p@h/x.json?X-Amz-Signature=abc&part=1") == (
        "https://h/x.json?X-Amz-Signature=[REDACTED]&part=1")
    assert "SECRETSIG" not in storage.scrub(f"could not GET {url}: 403")


def test_missing_filesystem_package_names_what_to_install():
    with pytest.raises(StorageError) as info:
        storage.read_bytes("gs://bucket/a.json")
    assert "gcsfs" in str(info.value) and str(info.value).startswith("gs://bucket/a.json: ")
    with pytest.raises(StorageError, match="unknown protocol 'nosuchproto'"):
        storage.read_bytes("nosuchproto://x/a.json")


def test_file_urls_list_and_read_local_directories(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.json", "a.jsonl", "sub/c.json", "x.txt"):
        (tmp_path / name).write_text("[]", encoding="utf-8")
    listed = storage.expand_url(tmp_path.as_uri() + "/", SUFFIXES)
    assert [u for u, _ in listed] == [f"file://{tmp_path}/{n}" for n in ("a.jsonl", "b.json", "sub/c.json")]
    assert storage.read_bytes(listed[1][0]) == b"[]"


def test_storage_options_parsing_never_echoes_the_text(tmp_path):
    assert storage.parse_storage_options('{"key": "k", "anon": false}') == {"key": "k", "anon": False}
    assert storage.parse_storage_options(None) == {}
    with pytest.raises(ValueError) as info:
        storage.parse_storage_options('{"secret": "s3cr3t-value",}')
    assert "s3cr3t-value" not in str(info.value) and "not JSON" in str(info.value)
    with pytest.raises(ValueError, match="must be a JSON object"):
        storage.parse_storage_options('["s3cr3t"]')
    f = tmp_path / "opts.json"
    f.write_text('{"secret": "from-a-file"}', encoding="utf-8")
    assert storage.parse_storage_options(f"@{f}") == {"secret": "from-a-file"}
    with pytest.raises(ValueError, match="cannot read"):
        storage.parse_storage_options(f"@{tmp_path / 'missing.json'}")
