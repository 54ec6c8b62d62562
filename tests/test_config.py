"""Settings: regions, URL rules, the environment, and a secret that never shows."""

from __future__ import annotations

import copy
import pickle

import pytest

from gctrace_nb.api.config import REGIONS, Secret, Settings, region_hosts
from gctrace_nb.errors import ConfigError

SECRET = "hunter2-very-secret"

EXPECTED_API_HOSTS = {
    "us_east_1": "api.mypurecloud.com", "eu_west_1": "api.mypurecloud.ie",
    "ap_southeast_2": "api.mypurecloud.com.au", "ap_northeast_1": "api.mypurecloud.jp",
    "eu_central_1": "api.mypurecloud.de", "us_west_2": "api.usw2.pure.cloud",
    "ca_central_1": "api.cac1.pure.cloud", "ap_northeast_2": "api.apne2.pure.cloud",
    "eu_west_2": "api.euw2.pure.cloud", "ap_south_1": "api.aps1.pure.cloud",
    "us_east_2": "api.use2.us-gov-pure.cloud", "sa_east_1": "api.sae1.pure.cloud",
    "me_central_1": "api.mec1.pure.cloud", "ap_northeast_3": "api.apne3.pure.cloud",
    "eu_central_2": "api.euc2.pure.cloud", "mx_central_1": "api.mxc1.pure.cloud",
    "ap_southeast_1": "api.apse1.pure.cloud", "eusc_de_east_1": "api.edee1.eusc-pure.cloud",
}


def test_all_eighteen_regions_map_to_api_and_login_hosts():
    assert dict(REGIONS) == EXPECTED_API_HOSTS
    for region, api in EXPECTED_API_HOSTS.items():
        s = Settings(client_id="id", client_secret=SECRET, region=region)
        assert s.api_url == f"https://{api}"
        assert s.login_url == "https://login." + api[len("api."):]
        assert s.token_url == s.login_url + "/oauth/token"


def test_region_spelling_variants_and_unknown_region():
    assert region_hosts("EU-WEST-1") == ("api.mypurecloud.ie", "login.mypurecloud.ie")
    with pytest.raises(ConfigError, match="unknown region 'mars_1'"):
        Settings(client_id="id", client_secret=SECRET, region="mars_1")


def test_default_region_is_us_east_1():
    assert Settings(client_id="id", client_secret=SECRET).api_url == "https://api.mypurecloud.com"


def test_explicit_urls_override_region_and_login_is_derived_from_api_host():
    s = Settings(client_id="id", client_secret=SECRET, api_url="https://api.example.org/")
    assert (s.api_url, s.login_url) == ("https://api.example.org", "https://login.example.org")
    with pytest.raises(ConfigError, match="give login_url"):
        Settings(client_id="id", client_secret=SECRET, api_url="https://gateway.example.org")
    with pytest.raises(ConfigError, match="login_url was given without api_url"):
        Settings(client_id="id", client_secret=SECRET, login_url="https://login.example.org")


@pytest.mark.parametrize("url", ["http://api.example.org", "http://10.0.0.1:8080", "ftp://api.example.org",
                                 "https://user:pw@api.example.org", "not a url"])
def test_only_https_or_loopback_http(url):
    with pytest.raises(ConfigError):
        Settings(client_id="id", client_secret=SECRET, api_url=url, login_url="https://login.example.org")


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:9", "[::1]:5000"])
def test_plain_http_is_allowed_for_the_local_simulator(host):
    s = Settings(client_id="id", client_secret=SECRET, api_url=f"http://{host}", login_url=f"http://{host}")
    assert s.api_url == f"http://{host}"


def test_missing_credentials_are_config_errors():
    with pytest.raises(ConfigError, match="client_id"):
        Settings(client_id="", client_secret=SECRET)
    with pytest.raises(ConfigError, match="client_secret"):
        Settings(client_id="id", client_secret="")


def test_from_env_reads_genesys_variables_and_arguments_win():
    env = {"GENESYS_CLIENT_ID": "env-id", "GENESYS_CLIENT_SECRET": SECRET, "GENESYS_REGION": "eu_central_1"}
    s = Settings.from_env(env)
    assert (s.client_id, s.client_secret.reveal(), s.api_url) == ("env-id", SECRET, "https://api.mypurecloud.de")
    s = Settings.from_env(env, client_id="arg-id", region="ap_south_1")
    assert (s.client_id, s.api_url) == ("arg-id", "https://api.aps1.pure.cloud")
    env_urls = dict(env, GENESYS_API_URL="http://127.0.0.1:1", GENESYS_LOGIN_URL="http://127.0.0.1:2")
    s = Settings.from_env(env_urls)
    assert (s.api_url, s.login_url) == ("http://127.0.0.1:1", "http://127.0.0.1:2")
    # a region argument beats URLs lying around in the environment
    assert Settings.from_env(env_urls, region="eu_west_2").api_url == "https://api.euw2.pure.cloud"
    # URL arguments beat a region in the environment
    s = Settings.from_env(env, api_url="http://localhost:3", login_url="http://localhost:4")
    assert s.api_url == "http://localhost:3"
    with pytest.raises(ConfigError, match="GENESYS_CLIENT_SECRET"):
        Settings.from_env({"GENESYS_CLIENT_ID": "x"})


def test_from_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("GENESYS_CLIENT_ID", "os-id")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", SECRET)
    monkeypatch.delenv("GENESYS_REGION", raising=False)
    monkeypatch.delenv("GENESYS_API_URL", raising=False)
    monkeypatch.delenv("GENESYS_LOGIN_URL", raising=False)
    assert Settings.from_env().client_id == "os-id"


def test_secret_never_shows_in_repr_str_format_or_errors():
    s = Settings(client_id="id", client_secret=SECRET, region="eu_west_1")
    for text in (repr(s), str(s), f"{s}", f"{s.client_secret}", str(s.client_secret), repr(s.client_secret)):
        assert SECRET not in text
    assert repr(s.client_secret) == "Secret('***')"
    assert "client_secret=Secret('***')" in repr(s)
    assert copy.deepcopy(s) == s and copy.deepcopy(s).client_secret.reveal() == SECRET
    with pytest.raises(TypeError):
        pickle.dumps(s)
    try:
        Settings(client_id="id", client_secret=SECRET, region="nowhere")
    except ConfigError as exc:
        assert SECRET not in str(exc)


@pytest.mark.parametrize("suffix", ["/?api_key=" + SECRET, "/#token=" + SECRET])
def test_a_rejected_url_query_or_fragment_is_not_echoed(suffix):
    with pytest.raises(ConfigError, match="must not have a query or fragment") as info:
        Settings(client_id="id", client_secret="x", api_url="https://api.example.org" + suffix,
                 login_url="https://login.example.org")
    assert SECRET not in str(info.value) and "https://api.example.org" in str(info.value)


def test_settings_are_frozen():
    s = Settings(client_id="id", client_secret=SECRET)
    with pytest.raises(AttributeError):
        s.api_url = "https://evil.example"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        s.client_secret._value = "x"  # type: ignore[attr-defined]
    assert Secret(Secret("a")) == Secret("a")
