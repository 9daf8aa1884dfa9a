"""Nonin pulse oximeters on a serial line (9600 baud, 8N1): OEM III data formats #2, #7 and
#8, the ASCII real-time output of the handheld and tabletop models, and the command that
selects a data format. Source: Nonin OEM III module specifications; Nonin 2500/8500/9847 and
Avant 4000 operator's manuals ("Real-Time Patient Data Output").

Formats #2 and #7 stream 5-byte frames at 75 frames/s, 25 frames to a packet (one packet a
third of a second); the FLOAT byte of frame N carries a different number for each N (frame
1-2 heart rate, 3 SpO2, ...). The packet framer finds frame sync, checks every checksum,
starts a packet at the frame whose status has the sync bit, and turns each complete packet
into one ``spo2`` measurement. Format #8 is one self-contained 4-byte frame a second.

Missing data is HR 511 and SpO2 127: the field is left out, the measurement is ``invalid``
and carries ``pulse_rate_missing`` or ``spo2_missing``.

One module per format: ``packets`` (#2 and #7), ``format8``, ``ascii``,
``format_select``; ``values`` holds what they share.
"""

from __future__ import annotations

from drivers.protocols.nonin.ascii import (
    NoninAsciiLine,
    ascii_framer,
    decode_ascii,
    encode_ascii,
    is_ascii_data,
)
from drivers.protocols.nonin.format8 import (
    FORMAT8_SIZE,
    NoninFormat8,
    NoninFormat8Framer,
    decode_format8,
    encode_format8,
)
from drivers.protocols.nonin.format_select import (
    FORMAT_SELECT_SIZE,
    SELECTABLE_FORMATS,
    FormatReply,
    FormatSelect,
    FormatSelectFramer,
    decode_format_reply,
    decode_format_select,
    encode_format_reply,
    encode_format_select,
)
from drivers.protocols.nonin.packets import (
    FRAME_SIZE,
    FRAMES_PER_PACKET,
    PACKET_SIZE,
    STATUS_ALWAYS,
    STATUS_ARTIFACT,
    STATUS_BITS,
    STATUS_GREEN_PERFUSION,
    STATUS_OUT_OF_TRACK,
    STATUS_RED_PERFUSION,
    STATUS_SENSOR_ALARM,
    STATUS_SENSOR_DISCONNECTED,
    STATUS_SYNC,
    NoninFrame,
    NoninPacket,
    NoninPacketFramer,
    PacketFormat,
    build_packet,
    decode_frame,
    decode_frames,
    decode_packet,
    encode_frame,
    encode_packet,
)
from drivers.protocols.nonin.values import (
    HR_MISSING,
    SPO2_MISSING,
)

__all__ = [
    "FORMAT8_SIZE",
    "FORMAT_SELECT_SIZE",
    "FRAMES_PER_PACKET",
    "FRAME_SIZE",
    "HR_MISSING",
    "PACKET_SIZE",
    "SELECTABLE_FORMATS",
    "SPO2_MISSING",
    "STATUS_ALWAYS",
    "STATUS_ARTIFACT",
    "STATUS_BITS",
    "STATUS_GREEN_PERFUSION",
    "STATUS_OUT_OF_TRACK",
    "STATUS_RED_PERFUSION",
    "STATUS_SENSOR_ALARM",
    "STATUS_SENSOR_DISCONNECTED",
    "STATUS_SYNC",
    "FormatReply",
    "FormatSelect",
    "FormatSelectFramer",
    "NoninAsciiLine",
    "NoninFormat8",
    "NoninFormat8Framer",
    "NoninFrame",
    "NoninPacket",
    "NoninPacketFramer",
    "PacketFormat",
    "ascii_framer",
    "build_packet",
    "decode_ascii",
    "decode_format8",
    "decode_format_reply",
    "decode_format_select",
    "decode_frame",
    "decode_frames",
    "decode_packet",
    "encode_ascii",
    "encode_format8",
    "encode_format_reply",
    "encode_format_select",
    "encode_frame",
    "encode_packet",
    "is_ascii_data",
]
