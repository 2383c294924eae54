import datetime as dt
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pytest

from ticklake_dagster.core.errors import InvalidInput, LakeError
from ticklake_dagster.defs.resources import LakeResource
from ticklake_dagster.lake.config import LakeConfig
from ticklake_dagster_tests import servers


def test_put_get_list_delete(lake_resource):
    lake = lake_resource.get_lake()
    lake.put("ticks/EURUSD/2025/11/13/part-2-b.parquet", b"two")
    lake.put("ticks/EURUSD/2025/11/13/part-1-a.parquet", b"one")
    lake.put("ticks/GBPUSD/2025/11/13/part-1-a.parquet", b"x")
    lake.put("ticks/EURUSD/2025/11/13/part-1-a.parquet", b"one!")  # overwrite is atomic and whole
    assert lake.get("ticks/EURUSD/2025/11/13/part-1-a.parquet") == b"one!"
    listed = list(lake.list("ticks/EURUSD/"))
    assert [o.key for o in listed] == [
        "ticks/EURUSD/2025/11/13/part-1-a.parquet",
        "ticks/EURUSD/2025/11/13/part-2-b.parquet",
    ]
    assert [o.size for o in listed] == [4, 3] and all(o.last_modified > 0 for o in listed)
    assert [o.key for o in lake.list("ticks/EURUSD/", start_after=listed[0].key)] == [listed[1].key]
    assert [o.key for o in lake.list("ticks/EUR")] == [o.key for o in listed]  # a prefix may end mid-name
    assert lake.list_dirs("ticks/") == ["ticks/EURUSD/", "ticks/GBPUSD/"]
    assert lake.exists(listed[1].key) and not lake.exists("ticks/none")
    lake.delete(listed[1].key)
    lake.delete(listed[1].key)  # deleting twice is fine
    assert not lake.exists(listed[1].key)
    assert list(lake.list("nothing/")) == [] and lake.list_dirs("nothing/") == []
    with pytest.raises(LakeError, match="does not exist"):
        lake.get("ticks/none")


def test_get_many_equals_get_key_by_key(lake_resource):
    lake = lake_resource.get_lake()
    keys = [f"ticks/EURUSD/2025/11/{d}/part-{i}-a.parquet" for d in (13, 14) for i in range(5)] + ["top"]
    for i, k in enumerate(keys):
        lake.put(k, f"{i}".encode() * i)
    order = keys[5:] + keys[:5] + keys[:2]  # folders revisited, a key twice
    assert lake.get_many(order) == [lake.get(k) for k in order]
    assert lake.get_many([]) == []
    with pytest.raises(LakeError, match="does not exist"):
        lake.get_many([keys[0], "ticks/EURUSD/2025/11/13/part-9-none.parquet"])
    with pytest.raises(LakeError, match="Refusing lake key"):
        lake.get_many([keys[0], "ticks/../../outside"])


def lake_with_links(file_lake_resource, tmp_path):
    """A day folder holding a part, a link to it, a link to a file outside the lake; a month linked outside."""
    import os

    lake = file_lake_resource.get_lake()
    lake.put("ticks/EURUSD/2025/11/13/part-1-a.parquet", b"inside")
    folder = lake.root / "ticks/EURUSD/2025/11/13"
    os.symlink(folder / "part-1-a.parquet", folder / "part-2-link.parquet")
    (tmp_path / "secret").write_bytes(b"outside")
    os.symlink(tmp_path / "secret", folder / "part-3-out.parquet")
    os.symlink(tmp_path, lake.root / "ticks/EURUSD/2025/12")
    return lake


def test_get_many_follows_links_only_inside_the_lake(file_lake_resource, tmp_path):
    """Parts are opened relative to their folder without following links; a link is checked like `get` does."""
    lake = lake_with_links(file_lake_resource, tmp_path)
    assert lake.get_many(["ticks/EURUSD/2025/11/13/part-2-link.parquet"]) == [b"inside"]
    for key in ("ticks/EURUSD/2025/11/13/part-3-out.parquet", "ticks/EURUSD/2025/12/secret"):
        with pytest.raises(LakeError, match="resolves outside the lake"):
            lake.get_many(["ticks/EURUSD/2025/11/13/part-1-a.parquet", key])


def test_put_many_and_delete_many_equal_put_and_delete_key_by_key(lake_resource):
    lake = lake_resource.get_lake()
    items = [(f"ticks/EURUSD/2025/11/{d}/part-{i}-a.parquet", f"{d}/{i}".encode()) for d in (13, 14) for i in range(20)]
    items.append(("top", b"top"))  # more than the S3 lake keeps in flight, in two folders and the root
    lake.put(items[0][0], b"old")
    lake.put_many(item for item in items)  # a generator, consumed as the writes go; overwrites like put
    assert lake.get_many([k for k, _ in items]) == [data for _, data in items]
    lake.delete_many(k for k, _ in items[::2])
    lake.delete_many([items[0][0], "ticks/none"])  # deleting twice or nothing is fine
    assert [o.key for o in lake.list("")] == sorted(k for k, _ in items[1::2])
    with pytest.raises(LakeError, match="Refusing lake key"):
        lake.put_many([("ticks/fine", b"x"), ("ticks/../../outside", b"x")])


def test_put_many_follows_links_only_inside_the_lake(file_lake_resource, tmp_path):
    """put_many resolves a folder once, and leaves a key whose file is a link to `put`, which checks it."""
    lake = lake_with_links(file_lake_resource, tmp_path)
    lake.put_many([("ticks/EURUSD/2025/11/13/part-2-link.parquet", b"through the link")])
    assert lake.get("ticks/EURUSD/2025/11/13/part-1-a.parquet") == b"through the link"  # as put writes it
    for key in ("ticks/EURUSD/2025/11/13/part-3-out.parquet", "ticks/EURUSD/2025/12/part-1-a.parquet"):
        with pytest.raises(LakeError, match="resolves outside the lake"):
            lake.put_many([("ticks/EURUSD/2025/11/13/part-4-b.parquet", b"x"), (key, b"x")])
    assert (tmp_path / "secret").read_bytes() == b"outside" and not (tmp_path / "part-1-a.parquet").exists()


def test_listing_paginates_past_1000_keys(lake_resource):
    lake = lake_resource.get_lake()
    keys = [f"ticks/EURUSD/2025/11/13/part-{i:013d}-a.parquet" for i in range(1010)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: lake.put(k, b""), keys))
    assert [o.key for o in lake.list("ticks/EURUSD/")] == keys
    assert [o.key for o in lake.list("ticks/", start_after=keys[1000])] == keys[1001:]


@pytest.mark.parametrize("key", ["../outside", "ticks/../../outside", "/abs", "a\\b", "ticks//x", "ticks/./x"])
def test_no_key_escapes_the_lake(lake_resource, key, tmp_path):
    """Refused with the real reason on both backends (S3 once wrapped it as a generic 'LakeError')."""
    lake = lake_resource.get_lake()
    for attempt in (
        lambda: lake.put(key, b"x"),
        lambda: lake.get(key),
        lambda: list(lake.list(key)),
        lambda: lake.exists(key),
        lambda: lake.delete(key),
    ):
        with pytest.raises(LakeError, match="Refusing lake key"):
            attempt()
    assert not (tmp_path / "outside").exists()


def test_s3_lake_stays_inside_its_prefix(s3_lake_resource, s3_endpoint, s3_bucket):
    s3_lake_resource.get_lake().put("ticks/a", b"1")
    other = LakeResource(
        url=f"s3://{s3_bucket}",
        endpoint_url=s3_endpoint,
        access_key_id="k",
        secret_access_key="s",
        region_name="us-east-1",
    ).get_lake()
    assert [o.key for o in other.list("")] == ["lake/ticks/a"]


def test_unreachable_lake_is_one_line(s3_bucket):
    port = servers.free_port()  # nothing listens here
    lake = LakeResource(
        url=f"s3://{s3_bucket}",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="k",
        secret_access_key="s3cr3t-value",
        max_attempts=1,
        connect_timeout=1,
    ).get_lake()
    with pytest.raises(LakeError) as e:
        list(lake.list("ticks/"))
    assert "unreachable" in str(e.value) and "\n" not in str(e.value) and "s3cr3t" not in str(e.value)


def test_missing_bucket_is_one_line(s3_endpoint):
    lake = LakeResource(
        url="s3://no-such-bucket",
        endpoint_url=s3_endpoint,
        access_key_id="k",
        secret_access_key="s",
        region_name="us-east-1",
    ).get_lake()
    with pytest.raises(LakeError, match="bucket does not exist"):
        lake.put("ticks/a", b"x")


def test_bad_credentials_are_one_line_and_never_show_the_secret(tmp_path):
    # A second moto server with authentication switched on refuses unknown keys like R2 does.
    port = servers.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "0", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        servers.wait_for_port(port, proc)
        lake = LakeResource(
            url="s3://bucket",
            endpoint_url=f"http://127.0.0.1:{port}",
            access_key_id="AKIDWRONG",
            secret_access_key="very-secret-value",
            region_name="us-east-1",
            max_attempts=1,
        ).get_lake()
        with pytest.raises(LakeError) as e:
            lake.put("ticks/a", b"x")
    finally:
        proc.terminate()
        proc.wait(10)
    message = str(e.value)
    assert "refused the credentials" in message and "very-secret-value" not in message and "\n" not in message


def test_missing_credentials_for_s3_is_a_clear_error():
    with pytest.raises(LakeError, match="credentials missing"):
        LakeResource(url="s3://bucket").get_lake()


@pytest.mark.parametrize("url", ["ftp://x", "file://relative/path", "s3://", "lake"])
def test_bad_lake_urls(url):
    with pytest.raises(InvalidInput, match="TICKLAKE_LAKE_URL"):
        LakeResource(url=url).get_lake()


def test_from_env_defaults_and_r2_endpoint(tmp_path, monkeypatch):
    for name in (
        "TICKLAKE_LAKE_URL",
        "R2_BUCKET_NAME",
        "R2_ACCOUNT_ID",
        "R2_ENDPOINT",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TICKLAKE_HOME", str(tmp_path))
    assert LakeResource.from_env().url == f"file://{tmp_path}/lake"
    for name, value in {
        "R2_BUCKET_NAME": "ticks",
        "R2_ACCOUNT_ID": "abc123",
        "R2_ACCESS_KEY_ID": "id",
        "R2_SECRET_ACCESS_KEY": "secret",
    }.items():
        monkeypatch.setenv(name, value)
    r2 = LakeResource.from_env()
    assert r2.url == "s3://ticks"
    assert r2.resolved_endpoint() == "https://abc123.r2.cloudflarestorage.com"
    # Secrets are referenced by variable name, so Dagster's UI never displays them.
    assert isinstance(r2.secret_access_key, dg.EnvVar) and r2.secret_access_key == "R2_SECRET_ACCESS_KEY"
    assert r2.has_credentials()
    # The plain configuration the CLI uses is the same one, with the secrets' values and out of its repr.
    plain = LakeConfig.from_env()
    assert r2.config() == plain and plain.secret_access_key == "secret"
    assert "secret" not in repr(plain) and "'id'" not in repr(plain)


def test_a_fifo_in_a_day_folder_is_never_listed_or_read(file_lake_resource):
    """A named pipe called part-*.json once hung materialize: only regular files are objects."""
    import os
    import threading

    from ticklake_dagster.ticks.compaction import compact_day
    from ticklake_dagster_tests.factories import DAY

    lake = file_lake_resource.get_lake()
    folder = lake.root / f"ticks/EURUSD/{DAY:%Y/%m/%d}"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "part-1-fifo.json")
    assert list(lake.list("ticks/")) == []
    for read in (lake.get, lambda key: lake.get_many([key])):
        with pytest.raises(LakeError, match="not a regular file"):
            read(f"ticks/EURUSD/{DAY:%Y/%m/%d}/part-1-fifo.json")
    done = threading.Event()
    threading.Thread(target=lambda: (compact_day(lake, "EURUSD", DAY, write=False), done.set()), daemon=True).start()
    assert done.wait(30), "compact_day hung on a FIFO"


def test_only_part_files_directly_in_the_day_folder_are_read(lake_resource):
    from ticklake_dagster.lake.parts import ticks_to_parquet
    from ticklake_dagster.ticks.compaction import compact_day, list_parts
    from ticklake_dagster_tests.factories import DAY

    lake = lake_resource.get_lake()
    day = f"ticks/EURUSD/{DAY:%Y/%m/%d}"
    start = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
    part = ticks_to_parquet([start + 1], [1.0], [1.1])
    lake.put(f"{day}/part-1-a.parquet", part)
    for stray in ("notapart.json", "notapart.parquet", "sub/part-2-b.parquet", "sub/deeper/part-3-c.parquet"):
        lake.put(f"{day}/{stray}", part)
    assert [k for k, _ in list_parts(lake, "EURUSD", DAY)] == [f"{day}/part-1-a.parquet"]
    assert compact_day(lake, "EURUSD", DAY, write=False).clean.rows_read == 1
