"""dnslab: the lab shell — CLI, config, `up`, drills, simulation and reports."""
