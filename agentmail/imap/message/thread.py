"""THREAD (RFC 5256 4) over messages whose fields are known: pure, no IO, no recursion (a chain of 10,000
replies is as deep as it is long).

REFERENCES follows RFC 5256 4 the way Dovecot 2.3 does it (lib-storage/index/index-thread-*.c), so both
servers answer the same on the same tree:

1. Messages are linked in UID order: a message's References (or, without any valid one, its In-Reply-To)
   chain parent to child, never changing a link already made and never making a loop; then the last
   reference becomes the message's own parent, replacing a parent an earlier message's References gave it.
   A second message with a Message-ID already taken is a message of its own, without that ID.
2. Every message is put under its nearest ancestor that is a message in the result; dummy (missing)
   messages stay only at the top, above two or more messages (with one, that message is the top).
3. Threads and each message's replies are ordered by sent date (the Date header, else INTERNALDATE), then
   UID; a dummy by its first reply.
4. Threads whose tops share a base subject (RFC 5256 2.1) are merged, a "Re:" going under the original,
   two originals under a new dummy.

ORDEREDSUBJECT (RFC 5256 4): messages with the same base subject form a thread under the first by sent
date; threads ordered by that first message's date.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..protocol.response import ThreadNode
from .sortkeys import Fields, sent_or_arrival

NONE = -1
STEP = 2000  # nodes worked on between two yields (see ``references``)


@dataclass(frozen=True, slots=True)
class ThreadItem:
    number: int  # sequence number or UID: what the reply lists (both order like the UIDs)
    fields: Fields
    internal: int  # INTERNALDATE, whole seconds


class _Root:
    __slots__ = ("node", "dummy", "date", "number", "ignore", "merged_into", "reply")

    def __init__(self, node: int, dummy: bool) -> None:
        self.node = node
        self.dummy = dummy
        self.date = 0
        self.number = 0
        self.ignore = False
        self.merged_into: int | None = None  # index in the roots list (RFC 5256 4 step 5 B/C)
        self.reply = False


class _Forest:
    """The message-ID table and parent links of RFC 5256 4 step 1, in parallel lists indexed by node."""

    def __init__(self, items: Sequence[ThreadItem]) -> None:
        self.items = items
        self.message: list[int] = []  # the item a node is, NONE for a dummy (a message not in the result)
        self.parent: list[int] = []
        self.children: list[int] = []  # how many nodes have this one as parent
        self.ids: dict[str, int] = {}

    def new(self, message: int = NONE) -> int:
        self.message.append(message)
        self.parent.append(NONE)
        self.children.append(0)
        return len(self.message) - 1

    def node(self, msgid: str) -> int:
        found = self.ids.get(msgid)
        if found is None:
            found = self.ids[msgid] = self.new()
        return found

    def link(self, parent: int, child: int) -> None:
        """Make ``parent`` the parent of ``child`` unless the child has one (the first link stays) or that
        would make a loop."""
        if self.parent[child] != NONE or parent == child:
            return
        if self.children[child]:  # only a node with children can be an ancestor of another one
            up = parent
            while up != NONE:
                if up == child:
                    return
                up = self.parent[up]
        self.parent[child] = parent
        self.children[parent] += 1

    def add(self, index: int) -> None:
        fields = self.items[index].fields
        if fields.msgid is None:
            me = self.new(index)
        else:
            me = self.ids.get(fields.msgid, NONE)
            if me == NONE:
                me = self.ids[fields.msgid] = self.new(index)
            elif self.message[me] == NONE:
                self.message[me] = index
            else:  # a duplicate Message-ID: the first message keeps it
                me = self.new(index)
        last = NONE
        for ref in fields.refs:
            node = self.node(ref)
            if last != NONE:
                self.link(last, node)
            last = node
        old = self.parent[me]
        if old != NONE and old != last:  # RFC 5256 4 step 1 B: the message's own references win
            self.children[old] -= 1
            self.parent[me] = NONE
        if last != NONE:
            self.link(last, me)


class _Threads:
    def __init__(self, forest: _Forest) -> None:
        self.forest = forest
        self.kids: dict[int, list[int]] = {}  # replies of a node (most nodes have none)
        self.roots: list[_Root] = []
        self.fresh = NONE  # new dummies get -2, -3, ...

    def date(self, node: int) -> int:
        item = self.forest.items[self.forest.message[node]]
        return sent_or_arrival(item.fields, item.internal)

    def number(self, node: int) -> int:
        return self.forest.items[self.forest.message[node]].number

    def sorted_kids(self, node: int) -> list[int]:
        kids = self.kids.get(node, [])
        if len(kids) > 1:
            kids.sort(key=lambda k: (self.date(k), self.number(k)))
        return kids

    def shadows(self) -> None:
        """Step 2 and 3: the roots, and each message under its nearest ancestor that is a message (else the
        top dummy)."""
        message, parent = self.forest.message, self.forest.parent
        for node in range(len(message)):
            up = parent[node]
            if up == NONE:
                self.roots.append(_Root(node, message[node] == NONE))
                continue
            if message[node] == NONE:
                continue
            while message[up] == NONE and parent[up] != NONE:
                up = parent[up]
            self.kids.setdefault(up, []).append(node)

    def sort_roots(self) -> None:
        """Step 4: a dummy top with one reply gives way to it; threads by date, then UID."""
        for root in self.roots:
            if root.ignore:
                continue
            if root.dummy:
                kids = self.sorted_kids(root.node)
                if not kids:
                    root.ignore = True
                    continue
                if len(kids) == 1:
                    root.node, root.dummy = kids[0], False
                else:
                    root.date, root.number = self.date(kids[0]), self.number(kids[0])
                    continue
            root.date, root.number = self.date(root.node), self.number(root.node)
        self.roots.sort(key=lambda r: (r.date, r.number))

    def gather_subjects(self) -> None:
        """Step 5 B: the subject table; each top either holds its base subject or points at the one that does."""
        table: dict[str, int] = {}
        for pos, root in enumerate(self.roots):
            if root.ignore:
                continue
            node = root.node if not root.dummy else self.sorted_kids(root.node)[0]
            fields = self.forest.items[self.forest.message[node]].fields
            if fields.subject is None:
                continue
            subject, reply = fields.base_subject()
            if not subject:
                continue
            held = table.get(subject)
            if held is None:
                table[subject] = pos
            else:
                other = self.roots[held]
                if not other.dummy and (root.dummy or (other.reply and not reply)):
                    other.merged_into = pos
                    table[subject] = pos
                else:
                    root.merged_into = held
            root.reply = reply

    def merge_subjects(self) -> bool:
        """Step 5 C: threads with the same subject under one top; True when anything moved."""
        changed = False
        for cur in self.roots[: len(self.roots)]:
            if cur.merged_into is None or cur.ignore:
                continue
            top = self.roots[cur.merged_into]
            while top.merged_into is not None:
                top = self.roots[top.merged_into]
            if cur.dummy:  # both dummies: the replies of both become siblings
                self.kids.setdefault(top.node, []).extend(self.kids.pop(cur.node, []))
                cur.ignore = True
            elif top.dummy or (cur.reply and not top.reply):
                self.kids.setdefault(top.node, []).append(cur.node)
                cur.ignore = True
            else:  # two originals: under a new dummy, which takes the subject's place
                self.fresh -= 1  # a node number no message or ID has
                self.kids[self.fresh] = [top.node, cur.node]
                dummy = _Root(self.fresh, True)
                top.merged_into = len(self.roots)
                top.ignore = cur.ignore = True
                self.roots.append(dummy)
            changed = True
        return changed

    def tree(self) -> Iterator[list[ThreadNode] | None]:
        """The threads, built without recursion; None now and then on the way (see ``references``)."""
        out: list[ThreadNode] = []
        stack: list[tuple[ThreadNode, int]] = []
        for count, root in enumerate(self.roots):
            if count % STEP == STEP - 1:
                yield None
            if root.ignore:
                continue
            top = ThreadNode(0 if root.dummy else self.number(root.node))
            out.append(top)
            stack.append((top, root.node))
            while stack:
                node, index = stack.pop()
                for kid in self.sorted_kids(index):
                    child = ThreadNode(self.number(kid))
                    node.children.append(child)
                    stack.append((child, kid))
        yield out


def references(items: Sequence[ThreadItem]) -> Iterator[list[ThreadNode] | None]:
    """THREAD=REFERENCES over ``items`` (in UID order). A generator: it yields None now and then while it
    works (the caller may let others run), and the threads last."""
    forest = _Forest(items)
    for index in range(len(items)):
        forest.add(index)
        if index % STEP == STEP - 1:
            yield None
    threads = _Threads(forest)
    threads.shadows()
    threads.sort_roots()
    yield None
    threads.gather_subjects()
    if threads.merge_subjects():
        threads.sort_roots()
    yield None
    yield from threads.tree()


def ordered_subject(items: Sequence[ThreadItem]) -> list[ThreadNode]:
    """THREAD=ORDEREDSUBJECT over ``items``."""
    keyed = sorted((item.fields.base_subject()[0], sent_or_arrival(item.fields, item.internal), item.number)
                    for item in items)
    groups: list[tuple[int, int, ThreadNode]] = []  # (date of the first, its number, the thread)
    previous: str | None = None
    for subject, date, number in keyed:
        if groups and subject == previous:
            groups[-1][2].children.append(ThreadNode(number))
        else:
            groups.append((date, number, ThreadNode(number)))
        previous = subject
    groups.sort(key=lambda g: (g[0], g[1]))
    return [g[2] for g in groups]
