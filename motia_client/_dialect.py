"""Server dialects: the rules that differ between Motia 0.x and the iii engine.

The decoder accepts both envelopes (``_protocol``); what differs beyond the
envelope is behaviour the session must allow for (PROTOCOL.md section 4):

================================  ===================  =====================
rule                              Motia 0.x            iii engine
================================  ===================  =====================
top-level ``"type": "stream"``    absent               present
item rooms keyed by               stream and id only   stream, group and id
a join to a missing item          no answer at all     a ``null`` sync
================================  ===================  =====================

A :class:`Dialect` is a small strategy the session holds; another backend plugs
in here without touching the session's routing or the client.
"""

from __future__ import annotations

from dataclasses import dataclass

from motia_client._protocol import is_iii

__all__ = ["III", "MOTIA", "Dialect", "detect"]


@dataclass(frozen=True)
class Dialect:
    """What a server dialect means for the session's rules."""

    name: str
    #: a frame for an item also reaches that item id's rooms in *other* groups
    item_rooms_span_groups: bool
    #: a join to a missing item gets an answer (else: silence, which proves nothing)
    answers_missing_items: bool


MOTIA = Dialect("motia", item_rooms_span_groups=True, answers_missing_items=False)
III = Dialect("iii", item_rooms_span_groups=False, answers_missing_items=True)


def detect(raw: str | bytes) -> Dialect:
    """The dialect a well-formed frame was sent in."""
    return III if is_iii(raw) else MOTIA
