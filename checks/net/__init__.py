"""Network clients: every packet mxbot sends leaves through here (DNS, HTTPS, mail-server probes), under the address policy. Nothing here imports a check or the engine."""
