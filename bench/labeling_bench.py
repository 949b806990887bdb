"""Browser labeling: time from submit to the next item being interactive, in real Chromium.

Run with `make bench-labeling` (embedded services) or
`python -m annotate.stack exec -- python bench/labeling_bench.py`.

An annotator logs in (session, as in the app), opens the labeling screen and labels N items by
keyboard: a number key, then Enter. For each Enter the page records, relative to the keydown:

* ready: the next item's controls are in the DOM and the first one has focus (the app's
  ``label:ready`` mark);
* painted: the first animation frame after that (the new item is on screen);

and whether the next item was already in hand (prefetched) when Enter was pressed. The submit
itself is sent in the background and does not delay the next item; it asks for the next lease
in the same request (``submit?next=1``), so one request per item keeps the queue full. For
reference it also reports how long those requests took (resource timing), which is what a
client without prefetch would wait for on each item, and how many separate ``next`` requests
were made (the two at the start, then only when a submit's answer brought no lease).

Two projects: one choice field (the common case), and every field type at once with an image.
The server is granian (2 workers) on this machine; Chromium runs headless beside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 40)
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from annotate.stack import free_port, web_command  # noqa: E402
from bench.machine import machine_description  # noqa: E402

PASSWORD = "bench-labeling-pw-1"  # noqa: S105 - a throwaway local account
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Installed before the app's own handler (capture phase): the time of the Enter keydown, and a
# watcher that notes when the next item is on screen.
PROBE = """
window.__bench = { t0: 0, prefetched: null, painted: 0 };
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter') return;
  window.__bench.t0 = performance.now();
  window.__bench.painted = 0;
  const item = document.querySelector('[data-testid=label-item]');
  window.__bench.prefetched = null;
  window.__bench.before = item ? item.dataset.leaseId : null;
}, true);
new MutationObserver(() => {
  const item = document.querySelector('[data-testid=label-item]');
  const b = window.__bench;
  if (!item || !b.t0 || b.painted || item.dataset.leaseId === b.before) return;
  requestAnimationFrame(() => { b.painted = performance.now(); });
}).observe(document, { subtree: true, childList: true });
"""


def setup(items: int) -> tuple[str, dict[str, str], str]:
    """A tenant, an annotator with a password, and two projects. Returns (slug, {kind:
    project id}, username)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", database="owner", verbosity=0)
    from tenants.models import Role
    from tenants.services.memberships import membership_add, tenant_create, user_get_or_create
    from tests.browser.labeling_seed import (
        ALL_TYPES_SCHEMA,
        CHOICE_SCHEMA,
        all_types_item,
        make_project,
    )

    slug = f"label-bench-{int(time.time())}"
    tenant = tenant_create(slug=slug, name="Labeling bench")
    user, _ = user_get_or_create(username=f"{slug}-ann")
    user.set_password(PASSWORD)
    user.save()
    manager_user, _ = user_get_or_create(username=f"{slug}-mgr")
    annotator = membership_add(tenant=tenant, user=user, role=Role.ANNOTATOR)
    manager = membership_add(tenant=tenant, user=manager_user, role=Role.MANAGER)
    choice = make_project(
        tenant,
        manager,
        [annotator],
        name="Bench: one choice field",
        schema=CHOICE_SCHEMA,
        items=[{"text": f"Sentence number {i}: the service was fine."} for i in range(items)],
    )
    everything = make_project(
        tenant,
        manager,
        [annotator],
        name="Bench: every field type, with an image",
        schema=ALL_TYPES_SCHEMA,
        items=[all_types_item(i) for i in range(items)],
        image_field="image",
    )
    return slug, {"choice": str(choice.id), "all types": str(everything.id)}, user.username


def fill_all_types(page) -> None:
    """Answer every field of the all-types schema by keyboard (as test_labeling does, shorter)."""
    for key in ("1", "Tab", "1", "Tab", "Shift+ArrowRight", "1", "Tab", "n", "Tab"):
        page.keyboard.press(key)
    for key in ("1", "Tab", "2", "Tab", "0", "Tab", "Tab", "4"):
        page.keyboard.press(key)


def run(page, url: str, slug: str, project_id: str, kind: str, count: int, think_ms: int) -> dict:
    page.goto(f"{url}/t/{slug}/projects/{project_id}/label")
    page.get_by_test_id("label-item").wait_for()
    page.evaluate(PROBE)
    ready_ms, painted_ms, prefetched = [], [], 0
    for _ in range(count):
        page.wait_for_timeout(think_ms)  # an annotator reads; the refill completes meanwhile
        if kind == "choice":
            page.keyboard.press("1")
        else:
            fill_all_types(page)
        before = page.get_by_test_id("label-item").get_attribute("data-lease-id")
        had_next = page.evaluate(
            "() => document.querySelector('[data-testid=label-screen]').dataset.upcoming === '1'"
        )
        page.keyboard.press("Enter")
        page.wait_for_function(
            "id => { const i = document.querySelector('[data-testid=label-item]');"
            " return (i && i.dataset.leaseId !== id && window.__bench.painted)"
            " || document.querySelector('[data-testid=no-more-items]') }",
            arg=before,
        )
        if page.get_by_test_id("no-more-items").count():
            break
        t = page.evaluate(
            "() => { const m = performance.getEntriesByName('label:ready', 'mark').at(-1);"
            " const b = window.__bench; return [m.startTime - b.t0, b.painted - b.t0] }"
        )
        ready_ms.append(t[0])
        painted_ms.append(t[1])
        prefetched += 1 if had_next else 0
    page.wait_for_function(
        "() => document.querySelector('[data-testid=save-state]')?.dataset.pending === '0'"
    )
    timing = page.evaluate(
        "() => performance.getEntriesByType('resource').map(e => [e.name, e.duration])"
    )
    submit = [d for n, d in timing if "/submit" in n]
    nxt = [d for n, d in timing if n.endswith("/next")]
    return {
        "kind": kind,
        "n": len(ready_ms),
        "ready": ready_ms,
        "painted": painted_ms,
        "submit": submit,
        "next": nxt,
        "prefetched": prefetched,
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=45, help="items labelled per project")
    parser.add_argument("--think-ms", type=int, default=400, help="pause before each answer")
    args = parser.parse_args()
    slug, projects, username = setup(args.items + 5)

    port = free_port()
    env = dict(os.environ)
    web = subprocess.Popen(
        web_command(port=port, workers=2),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)  # noqa: S310 - ours
                break
            except OSError:
                time.sleep(0.2)
        from playwright.sync_api import sync_playwright

        executable = shutil.which("chromium") or "/usr/bin/chromium"
        results = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(url + "/")
            page.get_by_test_id("login-username").fill(username)
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.get_by_test_id("tenant-badge").wait_for()
            for kind, project_id in projects.items():
                results.append(run(page, url, slug, project_id, kind, args.items, args.think_ms))
            browser.close()
        print(f"machine: {machine_description()}")
        print(
            f"server: granian 2 workers on this machine; Chromium headless "
            f"({executable}); {args.items} items per project, {args.think_ms} ms think time"
        )
        print(
            f"{'project':<10} {'n':>3}  {'ready p50':>9} {'p90':>6} {'max':>6}  "
            f"{'painted p50':>11} {'p90':>6} {'max':>6}  {'submit+next p50':>15} {'next reqs':>9} "
            f"{'prefetched':>10}"
        )
        for r in results:
            print(
                f"{r['kind']:<10} {r['n']:>3}  {statistics.median(r['ready']):>9.1f} "
                f"{pct(r['ready'], 90):>6.1f} {max(r['ready']):>6.1f}  "
                f"{statistics.median(r['painted']):>11.1f} {pct(r['painted'], 90):>6.1f} "
                f"{max(r['painted']):>6.1f}  {statistics.median(r['submit']):>15.1f} "
                f"{len(r['next']):>9} {r['prefetched']:>6}/{r['n']}"
            )
        print("(milliseconds; ready and painted are from the Enter keydown)")
    finally:
        web.terminate()
        try:
            web.wait(20)
        except subprocess.TimeoutExpired:
            web.kill()


if __name__ == "__main__":
    main()
