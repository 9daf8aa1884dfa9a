"""Sans-I/O codecs for the devices Chairside reads: bytes in, measurements out, and back.

Modules: ``ieee11073`` (SFLOAT, FLOAT, Date Time), ``gatt`` (Bluetooth SIG blood pressure,
heart rate and pulse oximeter characteristics), ``nonin`` (formats #2, #7, #8, ASCII, format
selection), ``masimo`` (ASCII lines), ``hl7`` (ORU^R01 over MLLP, ACKs). ``registry.PROTOCOLS``
names them all; ``base`` holds ``FrameError``, ``Measurement`` and the ``Framer`` interface.
"""
