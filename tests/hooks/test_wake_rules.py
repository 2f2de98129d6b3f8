"""When mail wakes an idle agent (agent/wake.py): every rule as a table over `judge`, then through real waiters:
what never wakes, bursts, budgets (two agents ping-ponging stop at the budget), closed threads, a person's mail."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmail import config
from agentmail.agent.compose import reply, send
from agentmail.agent.mailbox import find
from agentmail.agent.wake import judge, my_addresses
from agentmail.format.mdn import build_mdn
from agentmail.format.postcard import Draft, build
from agentmail.store import registry, wakestate
from agentmail.store.wakestate import WakeState
from tests.hooks.hookkit import Store
from tests.hooks.waitkit import Sessions, config_json
from tests.support.wait import until

D = "agents.localhost"


@pytest.fixture
def sessions(store: Store) -> Iterator[Sessions]:
    opened = Sessions(store)
    yield opened
    opened.close()


# --- the rules, as a table ---------------------------------------------------------------------------------------


def headers(**fields: str) -> dict[str, str]:
    base = {"from": f"backend@{D}", "to": f"frontend@{D}", "subject": "t", "message-id": "<m1@x>"}
    base.update({k.rstrip("_").replace("_", "-"): v for k, v in fields.items()})
    return {k: v for k, v in base.items() if v != ""}


THREAD = {"references": "<root@x> <mid@x>", "in-reply-to": "<mid@x>", "message_id": "<m9@x>"}
MDN_TYPE = 'multipart/report; report-type="disposition-notification"; boundary="b"'

CASES = [
    ("to me", {}, None),
    ("To among several", {"to": f"carol@{D}, Frontend <frontend@{D}>"}, None),
    ("my old name (renamed)", {"to": f"old-front@{D}"}, None),
    ("my own postcard", {"from": f"Me <frontend@{D}>"}, "own"),
    ("a receipt", {"content_type": MDN_TYPE}, "receipt"),
    ("Auto-Submitted: auto-replied", {"auto_submitted": "auto-replied"}, "auto"),
    ("Auto-Submitted: auto-generated", {"auto_submitted": "auto-generated; x=1"}, "auto"),
    ("Auto-Submitted: no", {"auto_submitted": "no"}, None),
    ("--no-wake", {"x_agentmail_wake": "no"}, "no-wake"),
    ("X-Agentmail-Wake: No (any case)", {"x_agentmail_wake": " No "}, "no-wake"),
    ("--no-wake even when urgent", {"x_agentmail_wake": "no", "importance": "high"}, "no-wake"),
    ("X-Agentmail-Wake: yes", {"x_agentmail_wake": "yes"}, None),
    ("Cc", {"to": f"carol@{D}", "cc": f"frontend@{D}"}, "cc"),
    ("Cc, urgent", {"to": f"carol@{D}", "cc": f"frontend@{D}", "importance": "high"}, None),
    ("Cc, X-Priority 1", {"to": f"carol@{D}", "cc": f"frontend@{D}", "x_priority": "1 (Highest)"}, None),
    ("broadcast", {"to": f"all@{D}"}, "broadcast"),
    ("broadcast, urgent", {"to": f"all@{D}", "importance": "high"}, None),
    ("Bcc (named nowhere)", {"to": f"carol@{D}"}, "not-to"),
    ("no To at all", {"to": ""}, "not-to"),
    ("a receipt from human", {"from": f"human@{D}", "content_type": MDN_TYPE}, "receipt"),
]


@pytest.mark.parametrize("what,fields,why", CASES, ids=[c[0] for c in CASES])
def test_rule(tmp_path: Path, what: str, fields: dict[str, str], why: str | None) -> None:
    cfg = config.load(str(tmp_path / "store"))
    registry.ensure_store(cfg)
    registry.create_account(cfg, "old-front")
    registry.rename_account(cfg, "old-front", "frontend")
    verdict = judge(cfg, my_addresses(cfg, "frontend"), headers(**fields), WakeState(), time.time())
    assert verdict.why == why, what


def cfg_at(tmp_path: Path, **settings: int) -> config.Config:
    cfg = config.load(str(tmp_path / "store"))
    for key, value in settings.items():
        setattr(cfg, key, value)
    return cfg


ME = {f"frontend@{D}"}


def test_thread_budget(tmp_path: Path) -> None:
    cfg = cfg_at(tmp_path, wake_budget_thread=2, wake_budget_pair=100)
    now = time.time()
    state = WakeState(wakes=[(now - 100, "<root@x>", f"backend@{D}"), (now - 50, "<root@x>", f"carol@{D}")])
    assert judge(cfg, ME, headers(**THREAD), state, now).why == "thread-budget"
    assert judge(cfg, ME, headers(**THREAD, from_=f"human@{D}"), state, now).why is None  # a person: never held
    assert judge(cfg, ME, headers(), state, now).why is None  # another thread
    state.wakes[0] = (now - 3601, "<root@x>", f"backend@{D}")  # an hour ago: no longer counted
    assert judge(cfg, ME, headers(**THREAD), state, now).why is None


def test_pair_budget(tmp_path: Path) -> None:
    cfg = cfg_at(tmp_path, wake_budget_thread=100, wake_budget_pair=2)
    now = time.time()
    state = WakeState(wakes=[(now - 9, "<a@x>", f"backend@{D}"), (now - 5, "<b@x>", f"backend@{D}")])
    assert judge(cfg, ME, headers(message_id="<c@x>"), state, now).why == "pair-budget"
    assert judge(cfg, ME, headers(message_id="<c@x>", from_=f"carol@{D}"), state, now).why is None
    # one wake that listed two threads of one sender counts once against the sender
    state = WakeState(wakes=[(now - 9, "<a@x>", f"backend@{D}"), (now - 9, "<b@x>", f"backend@{D}")])
    assert judge(cfg, ME, headers(message_id="<c@x>"), state, now).why is None


def test_closed_thread(tmp_path: Path) -> None:
    cfg = cfg_at(tmp_path)
    now = time.time()
    state = WakeState(closed={"<root@x>": (now, "<done@x>"), "<done@x>": (now, "<done@x>")})
    assert judge(cfg, ME, headers(**THREAD), state, now).why == "closed"  # a reply somewhere in the thread
    reply_to_done = {"references": "<root@x> <done@x>", "in_reply_to": "<done@x>", "message_id": "<r@x>"}
    assert judge(cfg, ME, headers(**reply_to_done), state, now).why == "closed"
    done = {"references": "<root@x>", "in_reply_to": "<root@x>", "message_id": "<done@x>",
            "x_agentmail_thread": "done"}
    assert judge(cfg, ME, headers(**done), state, now).why is None  # the closing postcard itself wakes
    assert judge(cfg, ME, headers(**THREAD, from_=f"human@{D}"), state, now).why is None
    assert judge(cfg, ME, headers(message_id="<other@x>"), state, now).why is None


def test_wake_record_survives_damage(tmp_path: Path) -> None:
    """A damaged record is an empty one (a budget count is all that is lost); the next change writes a good file."""
    cfg = cfg_at(tmp_path)
    registry.ensure_store(cfg)
    path = Path(wakestate.path(cfg, "frontend"))
    path.parent.mkdir(parents=True)
    for junk in (b"", b"{", b"[]", b'{"wakes": 3, "closed": [], "held": {"a": 1}}', b"\xff\xfe", b'{"wakes": [[1]]}'):
        path.write_bytes(junk)
        state = wakestate.read(cfg, "frontend")
        assert (state.wakes, state.closed, state.held) == ([], {}, {})
    now = time.time()
    wakestate.update(cfg, "frontend", lambda s: s.wakes.append((now, "<t@x>", "b@x")), now)
    assert wakestate.read(cfg, "frontend").count(now, thread="<t@x>") == 1
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# --- through real waiters ----------------------------------------------------------------------------------------


def drop(store: Store, name: str, data: bytes) -> str:
    """Deliver `data` into name's new/ the way Postfix or Dovecot's LDA does (tmp/, then a rename)."""
    box = store.home / "maildirs" / name
    base = f"{time.time():.0f}.M{time.time_ns() % 1_000_000}P{os.getpid()}Q{os.urandom(3).hex()}.test"
    (box / "tmp" / base).write_bytes(data)
    os.rename(box / "tmp" / base, box / "new" / base)
    return base


def postcard(sender: str, to: list[str], title: str, urgent: bool = False) -> bytes:
    return build(Draft(f"{sender}@{D}", [f"{t}@{D}" for t in to], title, "body", urgent=urgent), None, D).data


def test_what_never_wakes(store: Store, sessions: Sessions) -> None:
    """Receipt, Auto-Submitted, own mail, Cc, broadcast, --no-wake: none of them wakes. A postcard To the agent
    after them does, and the wake lists it alone (had any earlier one woken the waiter, the wake would list it)."""
    me = sessions.started("frontend")
    for name in ("backend", "carol"):
        store.register(name)
    waiter = me.stop()
    mdn = build_mdn(reader=f"backend@{D}", original_message_id="<x@agents.localhost>",
                    original_sender=f"frontend@{D}", original_title="t", disposition="displayed", domain=D)
    quiet = [
        drop(store, "frontend", mdn.data),
        drop(store, "frontend", postcard("backend", ["frontend"], "auto").replace(
            b"MIME-Version", b"Auto-Submitted: auto-replied\nMIME-Version")),
        drop(store, "frontend", postcard("frontend", ["frontend"], "note to self")),
    ]
    send(store.cfg, "backend", ["carol"], "fyi", "b", cc=["frontend"])
    send(store.cfg, "backend", ["all"], "to everyone", "b")
    send(store.cfg, "backend", ["frontend"], "no need to wake", "b", wake=False)
    assert len(store.maildir("frontend")) == 6
    key = store.send("carol", "frontend", "this one")
    text = waiter.woke()
    assert text.count("\n") == 2 and key[:8] in text
    left = store.maildir("frontend")
    assert len(left) == 6 and set(quiet) <= set(left)  # left for the next prompt


def test_urgent_cc_and_urgent_broadcast_wake(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    store.register("backend")
    waiter = me.stop()
    result = send(store.cfg, "backend", ["all"], "prod is down", "b", urgent=True)
    assert result.key[:8] in waiter.woke() and "[URGENT]" in waiter.stderr
    waiter = me.stop(active=True)
    result = send(store.cfg, "backend", ["human"], "cc'd", "b", cc=["frontend"], urgent=True)
    assert result.key[:8] in waiter.woke()


def test_a_burst_makes_one_wake(store: Store, sessions: Sessions) -> None:
    me = sessions.started("frontend")
    for name in ("backend", "carol"):
        store.register(name)
    waiter = me.stop()
    box = store.home / "maildirs" / "frontend"
    staged = []
    for i, sender in enumerate(["backend", "carol", "backend"]):
        data = postcard(sender, ["frontend"], f"part {i}", urgent=i == 2)
        name = f"{time.time():.0f}.M{i}P{os.getpid()}Q{i}.burst"
        (box / "tmp" / name).write_bytes(data)
        staged.append(name)
    for name in staged:  # all three land within microseconds: one wake lists them all
        os.rename(box / "tmp" / name, box / "new" / name)
    lines = waiter.woke().splitlines()
    assert len(lines) == 4
    assert lines[1].endswith('"part 2" [URGENT]')  # urgent first
    assert {line.split(": ", 1)[1] for line in lines[2:]} == {'"part 0"', '"part 1"'}
    assert store.maildir("frontend") == []


def held(store: Store, name: str) -> dict[str, str]:
    return wakestate.read(store.cfg, name).held


def test_two_agents_ping_ponging_stop_at_the_thread_budget(store: Store, sessions: Sessions) -> None:
    """Two agents that answer every postcard: each wakes the other at most wake_budget_thread times; the postcard
    past the budget waits, and the next prompt's announcement says why."""
    config_json(store, wake_budget_thread=3, wake_budget_pair=50)
    agents = {"alpha": sessions.started("alpha"), "beta": sessions.started("beta")}
    waiters = {name: s.stop() for name, s in agents.items()}
    wakes = {"alpha": 0, "beta": 0}
    last = send(store.cfg, "alpha", ["beta"], "ping", "start").key
    receiver, sender = "beta", "alpha"
    for _ in range(20):
        waiter = waiters[receiver]
        until(lambda w=waiter, r=receiver: not w.running() or held(store, r), f"{receiver} to wake or hold it")
        if waiter.running():
            break  # held: past the budget
        assert last[:8] in waiter.woke()
        wakes[receiver] += 1
        # the woken agent answers in the thread, and its session re-arms (Stop with stop_hook_active)
        last = reply(store.cfg, receiver, find(store.cfg, receiver, last[:8]), "and back to you").key
        waiters[receiver] = agents[receiver].stop(active=True)
        receiver, sender = sender, receiver
    assert wakes == {"alpha": 3, "beta": 3}
    assert list(held(store, receiver).values()) == ["thread budget reached"]
    context = agents[receiver].prompt().context("UserPromptSubmit")
    assert f"{last[:8]} {sender}: Re: ping (not woken: thread budget reached)" in context
    assert held(store, receiver) == {}  # announced: forgotten
    assert wakestate.read(store.cfg, receiver).count(time.time(), sender=f"{sender}@{D}") == 3


def test_pair_budget_across_threads_and_a_person_is_never_held(store: Store, sessions: Sessions) -> None:
    config_json(store, wake_budget_thread=50, wake_budget_pair=2)
    me = sessions.started("frontend")
    store.register("backend")
    for i in range(2):
        waiter = me.stop(active=i > 0)
        key = store.send("backend", "frontend", f"new thread {i}")
        assert key[:8] in waiter.woke()
    waiter = me.stop(active=True)
    key = store.send("backend", "frontend", "one too many")
    until(lambda: held(store, "frontend"), "the third postcard to be held")
    assert list(held(store, "frontend").values()) == ["budget for this sender reached"]
    assert waiter.running()
    for i in range(3):  # mail from human: never held
        person = store.send("human", "frontend", f"from the person {i}")
        assert person[:8] in waiter.woke()
        waiter = me.stop(active=True)
    assert key[:8] not in waiter.stderr
    assert f"{key[:8]} backend: one too many (not woken: budget for this sender reached)" in \
        me.prompt().context("UserPromptSubmit")


def test_done_closes_the_thread(store: Store, sessions: Sessions, tmp_path: Path) -> None:
    """A asks, B answers with --done: the answer wakes A; A's reply in that thread then does not wake B."""
    a, b = sessions.started("asker"), sessions.started("answerer")
    wa = a.stop()
    question = send(store.cfg, "asker", ["answerer"], "which port?", "?").key
    wb = b.spawn_wait()  # the question is already waiting: this waiter may wake before it has even armed
    assert question[:8] in wb.woke()
    answer = reply(store.cfg, "answerer", find(store.cfg, "answerer", question[:8]), "8025", done=True).key
    assert b"X-Agentmail-Thread: done" in store_file(store, "asker", answer)
    assert answer[:8] in wa.woke()  # the closing postcard itself wakes: it is the answer
    wb = b.stop(active=True)
    thanks = reply(store.cfg, "asker", find(store.cfg, "asker", answer[:8]), "thanks!").key
    until(lambda: held(store, "answerer"), "the reply in the closed thread to be noted")
    assert wb.running()
    assert f"{thanks[:8]} asker: Re: which port? (not woken: its thread was closed with --done)" in \
        b.prompt().context("UserPromptSubmit")
    assert wb.result() == 0


def store_file(store: Store, name: str, key: str) -> bytes:
    for sub in ("new", "cur"):
        for f in (store.home / "maildirs" / name / sub).iterdir():
            data = f.read_bytes()
            if key.encode() in data:
                return data
    raise AssertionError(f"no {key} in {name}")
