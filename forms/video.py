"""Is a recorded video what its first bytes claim? WebM (EBML/Matroska) and MP4 (ISO BMFF) framing.

A liveness video (access/) is recorded by the browser's MediaRecorder and uploaded in chunks.
Magic numbers alone would let any file that starts with four right bytes through, so at
completion the container's framing is walked: WebM's EBML header, DocType and the Segment's
first children up to a Cluster; MP4's top-level boxes, which must tile the file exactly.

Written by hand: the well-kept parsers (ffprobe, libmediainfo) are native programs this package
does not otherwise need, and only the framing is checked here, never the codec data, which is
a few dozen lines. Nothing here decodes or plays the video.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Reader = Callable[[int, int], Awaitable[bytes]]  # (offset, length) -> bytes (fewer at the end)

# RFC 8794 §11.2 (EBML header) and the Matroska/WebM element ids (RFC 9559 §5.1).
EBML = 0x1A45DFA3
DOC_TYPE = 0x4282
SEGMENT = 0x18538067
CLUSTER = 0x1F43B675
TRACKS = 0x1654AE6B
INFO = 0x1549A966
# Top-level children of a Segment that may come before the first Cluster (RFC 9559 §5.1).
SEGMENT_CHILDREN = frozenset(
    {
        0x114D9B74,  # SeekHead
        INFO,
        TRACKS,
        0x1C53BB6B,  # Cues
        0x1043A770,  # Chapters
        0x1254C367,  # Tags
        0x1941A469,  # Attachments
        0xEC,  # Void (RFC 8794 §11.3.2)
        0xBF,  # CRC-32 (RFC 8794 §11.3.1)
    }
)
MAX_HEADER_BYTES = 4096  # an EBML header is a few dozen bytes

# ISO/IEC 14496-12 §4.3 (FileTypeBox): brands of MP4 files, not QuickTime's "qt  ".
MP4_BRANDS = frozenset(
    {
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso8", b"iso9",
        b"mp41", b"mp42", b"mp71", b"avc1", b"M4V ", b"dash", b"cmfc", b"msdh", b"msix",
    }
)  # fmt: skip
# Boxes that may sit at the top level of a recorded MP4 (ISO/IEC 14496-12 §4.2, §8).
MP4_TOP_LEVEL = frozenset(
    {
        b"ftyp", b"styp", b"moov", b"mdat", b"moof", b"mfra", b"free", b"skip", b"wide",
        b"uuid", b"sidx", b"meta", b"pdin", b"emsg", b"prft", b"ssix",
    }
)  # fmt: skip
MAX_BOXES = 100_000  # a few seconds of fragmented video have dozens


def ebml_id(data: bytes, pos: int) -> tuple[int, int] | None:
    """An Element ID at `pos` (RFC 8794 §5: 1 to 4 octets, marker bits kept): (id, length)."""
    if pos >= len(data) or data[pos] == 0:
        return None
    length = 8 - data[pos].bit_length() + 1
    if length > 4 or pos + length > len(data):
        return None
    return int.from_bytes(data[pos : pos + length], "big"), length


def ebml_size(data: bytes, pos: int) -> tuple[int | None, int] | None:
    """An Element Data Size at `pos` (RFC 8794 §6): (size or None when unknown, length)."""
    if pos >= len(data) or data[pos] == 0:
        return None
    length = 8 - data[pos].bit_length() + 1
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos : pos + length], "big") & ((1 << (7 * length)) - 1)
    # §6.2: all VINT_DATA bits set means "unknown size" (live recordings write it).
    return (None if value == (1 << (7 * length)) - 1 else value), length


def _element(data: bytes, pos: int) -> tuple[int, int | None, int] | None:
    """(id, size, offset of the data) of the element at `pos`."""
    head = ebml_id(data, pos)
    if head is None:
        return None
    size = ebml_size(data, pos + head[1])
    if size is None:
        return None
    return head[0], size[0], pos + head[1] + size[1]


async def is_webm(read: Reader, size: int) -> bool:
    """EBML header with DocType "webm", then a Segment whose first children lead to a Cluster."""
    head = await read(0, min(size, 64 * 1024))
    element = _element(head, 0)
    if element is None or element[0] != EBML or element[1] is None:
        return False
    header_size, pos = element[1], element[2]
    if header_size > MAX_HEADER_BYTES or pos + header_size > len(head):
        return False
    doc_type = None
    end = pos + header_size
    while pos < end:
        child = _element(head, pos)
        if child is None or child[1] is None or child[2] + child[1] > end:
            return False
        if child[0] == DOC_TYPE:
            doc_type = head[child[2] : child[2] + child[1]].rstrip(b"\x00")
        pos = child[2] + child[1]
    if doc_type != b"webm":
        return False
    segment = _element(head, pos)
    if segment is None or segment[0] != SEGMENT:
        return False
    if segment[1] is not None and segment[2] + segment[1] > size:
        return False
    pos, seen = segment[2], set[int]()
    # Walk the Segment's children (each with a known size) until the first Cluster.
    while pos < size:
        header = head[pos : pos + 12] if pos + 12 <= len(head) else await read(pos, 12)
        child = _element(header, 0)
        if child is None:
            return False
        if child[0] == CLUSTER:
            return TRACKS in seen and INFO in seen
        if child[0] not in SEGMENT_CHILDREN or child[1] is None:
            return False
        seen.add(child[0])
        pos += child[2] + child[1]
    return False


async def is_mp4(read: Reader, size: int) -> bool:
    """Top-level boxes that tile the file: ftyp first (an MP4 brand), then moov and mdat."""
    pos, count, seen = 0, 0, set[bytes]()
    while pos < size:
        header = await read(pos, 16)
        if len(header) < 8:
            return False
        box_size, box_type, header_length = int.from_bytes(header[:4], "big"), header[4:8], 8
        if box_size == 1:  # §4.2: a 64-bit largesize follows the type
            if len(header) < 16:
                return False
            box_size, header_length = int.from_bytes(header[8:16], "big"), 16
        elif box_size == 0:  # §4.2: the box extends to the end of the file
            box_size = size - pos
        if box_size < header_length or pos + box_size > size or box_type not in MP4_TOP_LEVEL:
            return False
        if count == 0:
            if box_type != b"ftyp" or box_size < 16:
                return False
            brands = await read(pos + 8, min(box_size - 8, 256))
            # major_brand, minor_version, then compatible_brands (4 octets each).
            listed = {brands[i : i + 4] for i in range(0, len(brands) - 3, 4) if i != 4}
            if not listed & MP4_BRANDS:
                return False
        seen.add(box_type)
        pos += box_size
        count += 1
        if count > MAX_BOXES:
            return False
    return b"moov" in seen and b"mdat" in seen
