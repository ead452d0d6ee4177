"""Headless Chromium driven over the DevTools protocol: open a page, run JavaScript in it, wait, take a picture.

Every browser test of the suite shares one Chromium (conftest.py's ``browser`` fixture): the book's pages, the
class report, JupyterLab and formgrader, where a test must *click* (the score and comment fields, saved by
formgrader's own JavaScript). This is the smallest driver that does it, with what the pins already hold
(``websocket-client``, a dependency of jupyter_server): no Selenium, no Playwright, no driver binary.
"""
import base64
import itertools
import json
import re
import subprocess
import time
import urllib.request

import websocket

from needs import chromium_path


FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]


class BrowserError(AssertionError):
    """The page did not do what the test waited for; the message says what and where."""


class Browser:
    """One headless Chromium with one page, its cache off (a test sees every request a page makes).

    Args:
        profile: an empty folder for Chromium's profile.
        width, height: the window, in CSS pixels (screenshots are this wide); :meth:`reset` returns to it.
    """

    def __init__(self, profile, width=1280, height=1600):
        self.width, self.height = width, height
        self.proc = subprocess.Popen(
            [chromium_path(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port, deadline, seen = None, time.time() + 60, []
        while port is None:  # Chromium prints its DevTools address on stderr once it listens
            line = self.proc.stderr.readline()
            seen.append(line)
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
            elif not line or time.time() > deadline:
                self.proc.kill()
                raise BrowserError("chromium did not start its DevTools server: " + "".join(seen)[-1000:])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60,
                                              http_proxy_host=None, suppress_origin=True)
        self.ids = itertools.count(1)
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")
        self.send("Network.setCacheDisabled", cacheDisabled=True)

    def reset(self):
        """A blank page, no cookies, the starting window size: what one test leaves, the next does not see."""
        self.open("about:blank")
        self.send("Network.clearBrowserCookies")
        self.resize(self.width, self.height)

    def resize(self, width, height):
        """The viewport, in CSS pixels (a tall one loads every lazy image of a long page)."""
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def send(self, method, **params):
        """One protocol command; its result (events that arrive meanwhile are dropped)."""
        n = next(self.ids)
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == n:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def open(self, url, ready="document.readyState === 'complete'", timeout=60):
        """Load ``url`` and wait until the JavaScript expression ``ready`` is true in the new document (the old one
        is marked first, so a ``ready`` that was already true there does not count)."""
        self.eval("window.__left_by_the_driver = true")
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")
        self.wait(f"window.__left_by_the_driver === undefined && ({ready})", timeout, what=f"{url} to load")

    def dom(self):
        """The document as it is now, serialised (what ``chromium --dump-dom`` prints)."""
        return self.eval("document.documentElement.outerHTML")

    def eval(self, expression):
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}: {result['exceptionDetails'].get('exception', {})}")
        return result["result"].get("value")

    def wait(self, expression, timeout=60, what=None):
        """Poll until ``expression`` is truthy; its value."""
        deadline = time.time() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.time() > deadline:
                raise BrowserError(f"waited {timeout} s for {what or expression}; the page says: "
                                   f"{(self.eval('document.body && document.body.innerText') or '')[:500]!r}")
            time.sleep(0.25)

    def screenshot(self, path):
        """A PNG of the whole page at ``path``."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.kill()
            self.proc.wait(timeout=30)
