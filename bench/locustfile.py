"""The load of `make bench`: signed-in users, each alternating the customer list and detail pages.

bench/run.py runs it as a process of its own, once per server, with the same settings:

    BENCH_USERNAME=... BENCH_PASSWORD=... BENCH_CUSTOMER_IDS=id1,id2,... BENCH_USERS=20 \\
    locust -f bench/locustfile.py --headless -u 20 -r 20 -t 30s --csv PREFIX --host URL

Never import it into a process that imports Django: gevent's monkey-patching breaks Django's lazy
settings. The dashboard and the reference have the same sign-in, list and detail URLs.

The statistics are reset when the last user has signed in, so that the figures count the pages only,
not the sign-ins (each one hashes a password, about as costly as dozens of pages).
"""

import itertools
import os
import re
from urllib.parse import quote

from locust import FastHttpUser, constant, task
from locust.exception import StopUser

USERNAME = os.environ["BENCH_USERNAME"]
PASSWORD = os.environ["BENCH_PASSWORD"]
DETAIL_PATHS = [f"/customers/{quote(cid, safe='')}/" for cid in os.environ["BENCH_CUSTOMER_IDS"].split(",")]
USERS = int(os.environ["BENCH_USERS"])
LIST_PATH = "/customers/live/?size=50&page=1"
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

# Half the users start on the list page and half on a detail page; each user then alternates.
first_turns = itertools.count()
signed_in = itertools.count(1)


class SignedInReader(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.turn = next(first_turns)
        login = self.client.get("/accounts/login/", name="sign in")
        token = TOKEN.search(login.text or "")
        form = {
            "username": USERNAME,
            "password": PASSWORD,
            "csrfmiddlewaretoken": token.group(1) if token else "",
        }
        with self.client.post("/accounts/login/", data=form, name="sign in", catch_response=True) as answer:
            if "Sign out" not in (answer.text or ""):
                answer.failure("could not sign in")
                raise StopUser()
        if next(signed_in) == USERS:
            self.environment.stats.reset_all()

    @task
    def next_page(self) -> None:
        self.turn += 1
        if self.turn % 2:
            self.client.get(LIST_PATH, name="list")
        else:
            self.client.get(DETAIL_PATHS[self.turn % len(DETAIL_PATHS)], name="detail")
