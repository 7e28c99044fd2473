# Loaded by the benchmark (PYTHONPATH) before the seed's format.py runs, and only there.
# The benchmark must not touch the network, and nstats is measured with DNS off (names are the
# IPs). So the seed's reverse lookup fails at once, as it does for an address with no PTR record
# (socket.herror), and format.py keeps the IP: its own code and output are unchanged.
import socket


def _no_dns(address):
    raise socket.herror(1, 'Unknown host')


socket.gethostbyaddr = _no_dns
