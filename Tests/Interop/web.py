"""The web listener in tests: an importd with --web-listen, Connect calls with
urllib, and a headless chromium driven by Selenium (Debian's chromium and
chromium-driver)."""
import json
import os
import shutil
import struct
import urllib.error
import urllib.request

SERVICE = "/softrip.marketing.imports.v1.ImportService/"


def web_url(server):
    """The web console's base URL, from the line importd prints after "listening on"."""
    proc = server.server
    for line in proc.lines:
        if line.startswith("web console on "):
            return line.split("web console on ", 1)[1].strip().rstrip("/")
    line = proc.proc.stdout.readline()
    proc.lines.append(line)
    assert line.startswith("web console on "), line
    return line.split("web console on ", 1)[1].strip().rstrip("/")


def request(url, body=b"", headers=None, method="POST", timeout=15):
    """(status, headers, body bytes) of one HTTP request; errors are answers too."""
    req = urllib.request.Request(url, data=body if method not in ("GET", "HEAD") else None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def connect_unary(base, method, message, token=None, timeout=15):
    headers = {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}
    if token:
        headers["Authorization"] = "Bearer " + token
    status, response_headers, body = request(base + SERVICE + method, json.dumps(message).encode(), headers, timeout=timeout)
    return status, response_headers, json.loads(body) if body else {}


def envelope(flags, payload):
    return struct.pack(">BI", flags, len(payload)) + payload


def envelopes(data):
    """[(flags, payload)] of a Connect streaming body."""
    out = []
    while data:
        flags, length = struct.unpack(">BI", data[:5])
        out.append((flags, data[5:5 + length]))
        data = data[5 + length:]
    return out


def chrome():
    """A headless chromium, or None where chromium or its driver is missing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    if not binary or not driver:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
