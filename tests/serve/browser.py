#!/usr/bin/env python3
"""`p2pdist serve`'s page in a real browser (headless Chromium through Selenium).

Loads the page, checks that the table and the plot show what `p2pdist bound --json -` and
`p2pdist sweep --json -` say for the page's inputs (the textbook's example, then N = 100
and u = 700 kbps typed in), that a bad rate shows the CLI's message next to its field, and
that the P22 button fills the textbook problem's table (values by hand), and that a short
live swarm shows every leecher at 100 % and its measured / bound; writes a screenshot of
each state to --out.

  tests/serve/browser.py --p2pdist build/p2pdist --out build/serve-browser

Exit 77 (skipped) when chromium, chromedriver or python3-selenium is missing.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_common  # noqa: E402

check = serve_common.check
cli = serve_common.cli


def close(a, b):
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--p2pdist", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        webdriver = None
    if not (chromium and driver and webdriver):
        print("SKIP: needs chromium, chromium-driver and python3-selenium (Debian packages)")
        return 77
    os.makedirs(args.out, exist_ok=True)

    with serve_common.Server(args.p2pdist) as server, tempfile.TemporaryDirectory(prefix="p2pdist-chromium-") as prof:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        # Own addresses only: every host name but 127.0.0.1 fails to resolve, and the
        # browser's own background services (updates, sync, metrics, safe browsing) are off.
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--user-data-dir={prof}", "--window-size=1200,1400", "--no-first-run",
                     "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
                     "--disable-client-side-phishing-detection", "--metrics-recording-only",
                     "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication"):
            options.add_argument(flag)
        from selenium.webdriver.chrome.service import Service
        browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        try:
            browser.set_page_load_timeout(30)
            wait = WebDriverWait(browser, 30)

            def settled(state="ready"):
                wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state") == state)

            def field(name):
                return browser.find_element(By.NAME, name)

            def shown(n, up):
                """The table's and the plot's numbers against the CLI's for these inputs."""
                want = cli(args.p2pdist, "bound", "-N", n, "--file-size", "15Gbit", "--server-up", "30Mbps",
                           "--peer-up", up, "--peer-down", "2Mbps", "--piece-size", "256KiB")
                for row, part in (("row-cs", "client_server"), ("row-p2p", "p2p")):
                    got = float(browser.find_element(By.ID, row).get_attribute("data-seconds"))
                    check(close(got, want[part]["seconds"]), f"N = {n}, u = {up}: {part} {got} s as the CLI says")
                binding = browser.find_element(By.CSS_SELECTOR, "#row-p2p .binding").text
                check(binding == want["p2p"]["binding"].replace("_", " "), f"P2P binding term shown: {binding}")
                sweep = cli(args.p2pdist, "sweep", "--x", "N", "--from", "1", "--to", str(max(1000, 10 * int(n))),
                            "--points", "80", "--log", "--file-size", "15Gbit", "--server-up", "30Mbps",
                            "--peer-up", up, "--peer-down", "2Mbps")
                plotted = json.loads(browser.find_element(By.ID, "plot").get_attribute("data-points"))
                check(plotted["n"] == sweep["x"]["values"] and
                      plotted["p2p"] == sweep["series"][0]["p2p_seconds"] and
                      plotted["cs"] == sweep["series"][0]["client_server_seconds"],
                      f"N = {n}, u = {up}: the plot's {len(plotted['n'])} points are the CLI's sweep")

            browser.get(server.url)
            settled()
            check("How long" in browser.title or "p2pdist" in browser.title, f"the page loads ({browser.title})")
            browser.save_screenshot(os.path.join(args.out, "1-textbook.png"))
            shown("10", "300kbps")

            for name, value in (("N", "100"), ("peer-up", "700kbps")):
                field(name).clear()
                field(name).send_keys(value)
            wait.until(lambda b: b.find_element(By.ID, "plot").get_attribute("data-points") and
                       json.loads(b.find_element(By.ID, "plot").get_attribute("data-points"))["n"][-1] == 1000 and
                       b.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready" and
                       float(b.find_element(By.ID, "row-cs").get_attribute("data-seconds")) == 50000.0)
            browser.save_screenshot(os.path.join(args.out, "2-n100-u700k.png"))
            shown("100", "700kbps")

            field("peer-up").clear()
            field("peer-up").send_keys("abc")
            settled("error")
            message = browser.find_element(By.CSS_SELECTOR, '.error[data-for="peer-up"]').text
            check("'abc' does not start with a number" in message, f"a bad rate: the CLI's message beside it ({message})")
            check(field("peer-up").get_attribute("aria-invalid") == "true", "the bad field is marked")
            browser.save_screenshot(os.path.join(args.out, "3-bad-rate.png"))

            # Fig. 2.23: F/u = 1 hour, u_s = 10u; by hand at N = 35: D_cs = N·F/u_s = 3.5 h,
            # D_p2p = N·F/(u_s + N·u) = 35 h / 45 = 0.7778 h (F/u_s = 0.1 h; d unlimited)
            browser.find_element(By.ID, "fig223").click()
            wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready" and
                       b.find_element(By.ID, "row-cs").get_attribute("data-seconds") == "12600")
            plotted = json.loads(browser.find_element(By.ID, "plot").get_attribute("data-points"))
            check(plotted["n"][0] == 1 and plotted["n"][-1] == 35 and close(plotted["cs"][-1], 3.5 * 3600) and
                  close(plotted["p2p"][-1], 35 * 3600 / 45), "Fig. 2.23: N = 1 .. 35, 3.5 h and 0.778 h at N = 35")
            caption = browser.find_element(By.ID, "plot-caption").text
            check("Fig. 2.23" in caption, f"the caption says which figure ({caption})")
            browser.save_screenshot(os.path.join(args.out, "3b-fig223.png"))

            browser.find_element(By.ID, "p22").click()
            wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#p22-table tbody tr")) == 6)
            rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                    for tr in browser.find_elements(By.CSS_SELECTOR, "#p22-table tbody tr")]
            # by hand: client-server = max(N·F/u_s, F/d): N = 10: max(5000, 7500) s = 2.083 h;
            # N = 100: 50 000 s = 13.89 h; N = 1000: 500 000 s = 138.9 h (whatever u is)
            check(rows[0][2:] == ["2.083 h", "13.89 h", "138.9 h"], f"P22, client-server: {rows[0]}")
            # P2P, u = 300 kbps, N = 1000: N·F/(u_s + N·u) = 1000 x 15e9 / (30e6 + 300e6) = 45 454.5 s = 12.63 h
            check(rows[1][4] == "12.63 h", f"P22, P2P at u = 300 kbps, N = 1000: {rows[1][4]}")
            browser.save_screenshot(os.path.join(args.out, "4-p22.png"))

            # a live swarm: every leecher to 100 %, then the measured time beside the bound
            swarm_form = browser.find_element(By.ID, "swarm-inputs")
            for name, value in (("N", "4"), ("file-size", "2MiB")):
                box = swarm_form.find_element(By.NAME, name)
                box.clear()
                box.send_keys(value)
            browser.find_element(By.ID, "run-swarm").click()
            WebDriverWait(browser, 90).until(
                lambda b: b.find_element(By.ID, "swarm").get_attribute("data-state") in ("done", "failed"))
            state = browser.find_element(By.ID, "swarm").get_attribute("data-state")
            cells = [tr.find_elements(By.TAG_NAME, "td")
                     for tr in browser.find_elements(By.CSS_SELECTOR, "#swarm-peers tbody tr")]
            complete = [c[2].text.startswith("100 % at") for c in cells[1:]]
            check(state == "done" and len(complete) == 4 and all(complete),
                  f"the swarm ran: 4 leechers at 100 % ({[c[2].text for c in cells]})")
            ratio = browser.find_element(By.ID, "swarm-result").get_attribute("data-ratio")
            text = browser.find_element(By.ID, "swarm-result").text
            check(ratio is not None and 0.99 <= float(ratio) < 3 and "measured / bound" in text,
                  f"the measured time lands beside the bound: {text}")
            browser.save_screenshot(os.path.join(args.out, "5-swarm.png"))

            # the same through the simulator: 16 leechers of 8 MiB in simulated time
            for name, value in (("N", "16"), ("file-size", "8MiB")):
                box = swarm_form.find_element(By.NAME, name)
                box.clear()
                box.send_keys(value)
            swarm_form.find_element(By.CSS_SELECTOR, 'select[name="engine"] option[value="simulate"]').click()
            browser.find_element(By.ID, "run-swarm").click()
            WebDriverWait(browser, 90).until(
                lambda b: b.find_element(By.ID, "swarm").get_attribute("data-state") in ("done", "failed") and
                len(b.find_elements(By.CSS_SELECTOR, "#swarm-peers tbody tr")) == 17)
            cells = [tr.find_elements(By.TAG_NAME, "td")
                     for tr in browser.find_elements(By.CSS_SELECTOR, "#swarm-peers tbody tr")]
            text = browser.find_element(By.ID, "swarm-result").text
            check(all(c[2].text.startswith("100 % at") for c in cells[1:]) and "measured / bound" in text,
                  f"simulated: 16 leechers at 100 %, {text}")
            browser.save_screenshot(os.path.join(args.out, "6-simulated.png"))
        finally:
            browser.quit()
    print(f"screenshots in {args.out}")
    return serve_common.verdict()


if __name__ == "__main__":
    sys.exit(main())
