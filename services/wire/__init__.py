"""The wire format: topics, typed messages, one parser for both formats, own encoder."""

from services.wire.errors import ParseError, ParseErrorReason
from services.wire.model import Kind, Measurement, Message, Sample
from services.wire.parse import MAX_PAYLOAD_BYTES, parse_message

__all__ = ["MAX_PAYLOAD_BYTES", "Kind", "Measurement", "Message", "ParseError",
           "ParseErrorReason", "Sample", "parse_message"]
