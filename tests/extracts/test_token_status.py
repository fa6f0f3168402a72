"""The Token Status List encoding against the specification's own example (§4.1)."""

from __future__ import annotations

import base64
import zlib

import pytest

from extracts import statuslist

# draft-ietf-oauth-status-list §4.1: 16 statuses with `bits: 1`.
STATUSES = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]


def test_bits_are_packed_least_significant_first_as_in_the_spec_example() -> None:
    revoked = [index for index, status in enumerate(STATUSES) if status]
    bits, lst = statuslist.encode_token_bits(revoked, size=16)
    assert bits == bytes([0xB9, 0xA3])
    assert statuslist.decode_token_bits(lst) == bits
    assert [statuslist.token_status(bits, i) for i in range(16)] == STATUSES


def test_the_spec_examples_compressed_list_decodes() -> None:
    lst = base64.urlsafe_b64encode(bytes.fromhex("78dadbb918000217015d")).rstrip(b"=").decode()
    assert statuslist.decode_token_bits(lst) == bytes([0xB9, 0xA3])


def test_a_decompression_bomb_is_refused() -> None:
    bomb = base64.urlsafe_b64encode(zlib.compress(bytes(statuslist.LIST_SIZE * 4))).decode()
    with pytest.raises(statuslist.StatusListError, match="implausibly large"):
        statuslist.decode_token_bits(bomb.rstrip("="))
